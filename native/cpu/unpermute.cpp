// unpermute on the CPU: checks, the per-token term list (FFN rows, copy / constant experts, shared,
// residual), and the split of (token, column range) units across the pool. See common/unpermute.h.
//
// Each output element is summed by exactly one task, in slot order, by the same instructions on every
// path (mul then add in f32, never fused), so the bits depend on neither the split nor the thread count
// nor the SIMD path. That lets the split follow the machine: with few tokens (decode) a token's columns
// are cut into ranges so every thread still gets work.
// Constant experts need a dot product over the whole row before any column of the token can be summed:
// a first pass computes their two softmax weights per slot (the logits in f64, as the reference) and folds
// them into the coefficients of two terms, w·a1·inputScale on x and w·a2 on v.

#include "../common/unpermute.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "cpu_features.h"
#include "half.h"
#include "thread_pool.h"
#include "unpermute_kernels.h"

namespace moe::cpu {

namespace unperm {
namespace {

float asFloat(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
uint32_t asBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

template <typename Tag>
void addTerm(float* acc, const void* row, float c, int64_t m) {
  const auto* p = static_cast<const typename Tag::T*>(row);
  for (int64_t i = 0; i < m; ++i) acc[i] = acc[i] + c * asFloat(Tag::widen(p[i]));
}

template <typename Tag>
void storeRow(void* out, const float* acc, int64_t m) {
  auto* o = static_cast<typename Tag::T*>(out);
  for (int64_t i = 0; i < m; ++i) o[i] = Tag::narrow(asBits(acc[i]));
}

// Blocks of 256 columns: the accumulators stay in L1 while every term streams its slice.
void sumScalar(const Term* terms, int64_t n, void* out, DType outType, int64_t h0, int64_t h1) {
  constexpr int64_t B = 256;
  float acc[B];
  for (int64_t hb = h0; hb < h1; hb += B) {
    const int64_t m = std::min(B, h1 - hb);
    std::fill(acc, acc + m, 0.0f);
    for (int64_t k = 0; k < n; ++k) {
      const Term& tm = terms[k];
      const size_t off = static_cast<size_t>(hb) * dtypeSize(tm.t);
      const void* p = static_cast<const uint8_t*>(tm.p) + off;
      switch (tm.t) {
        case DType::F32: addTerm<F32Bits>(acc, p, tm.c, m); break;
        case DType::BF16: addTerm<Bf16Bits>(acc, p, tm.c, m); break;
        case DType::F16: addTerm<F16Bits>(acc, p, tm.c, m); break;
        default: break;
      }
    }
    void* o = static_cast<uint8_t*>(out) + static_cast<size_t>(hb) * dtypeSize(outType);
    switch (outType) {
      case DType::F32: storeRow<F32Bits>(o, acc, m); break;
      case DType::BF16: storeRow<Bf16Bits>(o, acc, m); break;
      case DType::F16: storeRow<F16Bits>(o, acc, m); break;
      default: break;
    }
  }
}

}  // namespace

SumLoop sumLoopScalar() { return sumScalar; }

}  // namespace unperm

namespace {

using unperm::SumLoop;
using unperm::Term;

SumLoop pickSumLoop() {
#if defined(MOE_HAVE_X86)
  switch (simdPath()) {
    case SimdPath::Avx512: return unperm::sumLoopAvx512();
    case SimdPath::Avx2: return unperm::sumLoopAvx2();
    case SimdPath::Scalar: break;
  }
#endif
  return unperm::sumLoopScalar();
}

constexpr int32_t kZero = -1, kCopy = -2, kFfn = -3;  // kinds; a constant expert's kind is its index c >= 0

// Units (token, column range) per task move at least 64 KiB; column ranges are multiples of 64 elements
// (a whole number of AVX-512 blocks), and only cut when there are fewer than 4 units per thread.
constexpr int64_t kTaskBytes = 1 << 16;
constexpr int64_t kColQuantum = 64;

bool isFloat(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16; }

bool argsOk(const UnpermuteArgs& a) {
  if (!isFloat(a.yDtype) || !isFloat(a.outDtype) || a.rows < 0 || a.tokens < 0 || a.hidden < 0 || a.kmax < 0 ||
      a.nZero < 0 || a.nCopy < 0 || a.nConst < 0 || !std::isfinite(a.inputScale)) {
    return false;
  }
  if ((a.nZero > 0 && !a.zeroExperts) || (a.nCopy > 0 && !a.copyExperts) || (a.nConst > 0 && !a.constantIds)) return false;
  if (a.nConst > 0 && a.hidden > 0 && (!a.wc || !a.v)) return false;
  if (a.tokens > 0 && a.kmax > INT64_MAX / a.tokens) return false;
  const bool rowsOfTokens = a.tokens > 0 && a.hidden > 0;
  if (rowsOfTokens && !a.out) return false;
  if (a.tokens * a.kmax > 0 && (!a.ids || !a.weights || !a.slotToRow)) return false;
  if (rowsOfTokens && a.nCopy + a.nConst > 0 && (!a.x || !isFloat(a.xDtype))) return false;
  if (a.shared && !isFloat(a.sharedDtype)) return false;
  if (a.residual && !isFloat(a.residualDtype)) return false;
  if (a.rows > 0 && a.hidden > 0 && !a.y) return false;
  return true;
}

// Sorted (id, kind) pairs of the special experts; lookups are binary searches (the lists are a handful).
std::vector<std::pair<int32_t, int32_t>> kindTable(const UnpermuteArgs& a) {
  std::vector<std::pair<int32_t, int32_t>> k;
  k.reserve(static_cast<size_t>(a.nZero + a.nCopy + a.nConst));
  for (int64_t i = 0; i < a.nZero; ++i) k.emplace_back(a.zeroExperts[i], kZero);
  for (int64_t i = 0; i < a.nCopy; ++i) k.emplace_back(a.copyExperts[i], kCopy);
  for (int64_t i = 0; i < a.nConst; ++i) k.emplace_back(a.constantIds[i], static_cast<int32_t>(i));
  std::sort(k.begin(), k.end());
  return k;
}

int32_t kindOf(const std::vector<std::pair<int32_t, int32_t>>& table, int32_t id) {
  const auto it = std::lower_bound(table.begin(), table.end(), std::make_pair(id, INT32_MIN));
  return it != table.end() && it->first == id ? it->second : kFfn;
}

// The two coefficients of constant expert c for slot weight w: (a1, a2) = softmax(Wc_c u), u = scale · x,
// with the logits summed in f64 in column order, exactly as lib/reference/unpermute.ts.
template <typename Tag>
void constantCoefs(const UnpermuteArgs& a, const void* xRow, int32_t c, float w, float* coef) {
  const auto* x = static_cast<const typename Tag::T*>(xRow);
  const float* w0 = a.wc + static_cast<size_t>(c) * 2 * static_cast<size_t>(a.hidden);
  const float* w1 = w0 + a.hidden;
  double l0 = 0, l1 = 0;
  for (int64_t h = 0; h < a.hidden; ++h) {
    float xf;
    const uint32_t b = Tag::widen(x[h]);
    std::memcpy(&xf, &b, 4);
    const double u = a.inputScale * static_cast<double>(xf);
    l0 += static_cast<double>(w0[h]) * u;
    l1 += static_cast<double>(w1[h]) * u;
  }
  const double m = std::max(l0, l1);  // a NaN logit makes both weights NaN either way
  const double e0 = std::exp(l0 - m), e1 = std::exp(l1 - m);
  const double a1 = e0 / (e0 + e1), a2 = e1 / (e0 + e1);
  coef[0] = static_cast<float>(static_cast<double>(w) * a1 * a.inputScale);  // on x
  coef[1] = static_cast<float>(static_cast<double>(w) * a2);                  // on v_c
}

}  // namespace

Status unpermute(const UnpermuteArgs& a) {
  if (!argsOk(a)) return Status::InvalidArgument;
  const int64_t T = a.tokens, K = a.kmax, H = a.hidden;
  if (T == 0 || H == 0) return Status::Ok;

  // Rows must be in range before anything is read or written.
  std::atomic<bool> badRow{false};
  parallelRanges(T * K, 1 << 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      if (a.slotToRow[i] < -1 || a.slotToRow[i] >= a.rows) badRow.store(true, std::memory_order_relaxed);
    }
  });
  if (badRow.load()) return Status::InvalidArgument;

  std::vector<std::pair<int32_t, int32_t>> kinds;
  std::vector<float> coefs;  // [T, K, 2] for constant-expert slots
  try {
    kinds = kindTable(a);
    if (a.nConst > 0) coefs.resize(static_cast<size_t>(T * K * 2));
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory;
  }
  const size_t ys = dtypeSize(a.yDtype), xs = a.x ? dtypeSize(a.xDtype) : 0;
  const size_t outRow = static_cast<size_t>(H) * dtypeSize(a.outDtype);
  auto xRow = [&](int64_t t) { return static_cast<const uint8_t*>(a.x) + static_cast<size_t>(t * H) * xs; };

  if (a.nConst > 0) {
    parallelRanges(T, std::max<int64_t>(1, kTaskBytes / (H * 8 + 1)), [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        for (int64_t j = 0; j < K; ++j) {
          const int64_t s = t * K + j;
          const int32_t c = a.slotToRow[s] >= 0 ? kFfn : kindOf(kinds, a.ids[s]);
          if (c < 0) continue;
          float* coef = coefs.data() + s * 2;
          switch (a.xDtype) {
            case DType::F32: constantCoefs<F32Bits>(a, xRow(t), c, a.weights[s], coef); break;
            case DType::BF16: constantCoefs<Bf16Bits>(a, xRow(t), c, a.weights[s], coef); break;
            default: constantCoefs<F16Bits>(a, xRow(t), c, a.weights[s], coef); break;
          }
        }
      }
    });
  }

  // Units: (token, column range), token-major. Cut columns only when tokens alone cannot feed the pool.
  const int64_t quanta = (H + kColQuantum - 1) / kColQuantum;
  const int64_t wantUnits = 4 * static_cast<int64_t>(numThreads());
  const int64_t colChunks = std::min(quanta, std::max<int64_t>(1, (wantUnits + T - 1) / T));
  const int64_t chunkCols = (quanta + colChunks - 1) / colChunks * kColQuantum;
  const int64_t unitBytes = (K + 3) * std::min(chunkCols, H) * static_cast<int64_t>(std::max(ys, size_t{2}));
  const SumLoop sum = pickSumLoop();
  const size_t maxTerms = static_cast<size_t>(2 * K + 2);
  std::atomic<bool> oom{false};

  parallelRanges(T * colChunks, std::max<int64_t>(1, kTaskBytes / unitBytes), [&](int64_t u0, int64_t u1) {
    std::vector<Term> terms;
    try {
      terms.reserve(maxTerms);
    } catch (const std::bad_alloc&) {
      oom.store(true);
      return;
    }
    int64_t built = -1;  // the token whose terms are in `terms`
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t t = u / colChunks, h0 = (u % colChunks) * chunkCols, h1 = std::min(H, h0 + chunkCols);
      if (h0 >= h1) continue;
      if (t != built) {
        terms.clear();
        for (int64_t j = 0; j < K; ++j) {
          const int64_t s = t * K + j;
          const float w = a.weights[s];
          const int32_t r = a.slotToRow[s];
          if (r >= 0) {
            terms.push_back({static_cast<const uint8_t*>(a.y) + static_cast<size_t>(r) * H * ys, w, a.yDtype});
            continue;
          }
          const int32_t kind = kindOf(kinds, a.ids[s]);
          if (kind == kCopy) {
            terms.push_back({xRow(t), static_cast<float>(static_cast<double>(w) * a.inputScale), a.xDtype});
          } else if (kind >= 0) {
            terms.push_back({xRow(t), coefs[s * 2], a.xDtype});
            terms.push_back({a.v + static_cast<size_t>(kind) * H, coefs[s * 2 + 1], DType::F32});
          }  // zero expert, id -1, or an FFN expert without a row (another rank): nothing
        }
        if (a.shared) terms.push_back({static_cast<const uint8_t*>(a.shared) + static_cast<size_t>(t * H) * dtypeSize(a.sharedDtype), 1.0f, a.sharedDtype});
        if (a.residual) terms.push_back({static_cast<const uint8_t*>(a.residual) + static_cast<size_t>(t * H) * dtypeSize(a.residualDtype), 1.0f, a.residualDtype});
        built = t;
      }
      sum(terms.data(), static_cast<int64_t>(terms.size()), static_cast<uint8_t*>(a.out) + static_cast<size_t>(t) * outRow,
          a.outDtype, h0, h1);
    }
  });
  return oom.load() ? Status::OutOfMemory : Status::Ok;
}

}  // namespace moe::cpu
