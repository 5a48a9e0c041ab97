// route on the CPU: argument checks, the per-token pipeline (scalar generic code around the SIMD score rows),
// the split of tokens across the pool, and the sequential capacity pass. See common/route.h for the contract.
//
// Tokens are independent until capacity, so rows are split into contiguous ranges; a row's result depends
// only on its own inputs, never on the range it falls in, so every thread count gives the same bits.
// Gates stay float64 from the raw weights to the final store, as in the reference: with capacity they are
// kept for all tokens ([T, K] doubles) because 'probs' and renormalizeSurvivors read them after the pass.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <new>
#include <vector>

#include "route_kernels.h"
#include "thread_pool.h"

namespace moe::cpu {
namespace rt {

namespace {

// ~32 Ki score elements per task: at E = 256 that is 128 rows, ~150 µs on the AVX-512 path, far above the
// pool's hand-off cost (~1-2 µs); at E = 8 a task takes 4096 rows (~300 µs), so small calls stay on one
// thread.
constexpr int64_t kGrainElements = 1 << 15;

bool isScored(RouteMethod m) { return m != RouteMethod::External; }
bool isThreshold(RouteMethod m) { return m == RouteMethod::XmoeThreshold || m == RouteMethod::TopP; }

bool argsFit(const RouteArgs& a) {
  const int64_t T = a.tokens, E = a.experts, K = a.kmax;
  if (static_cast<uint32_t>(a.method) > static_cast<uint32_t>(RouteMethod::External)) return false;
  if (T < 0 || T > INT32_MAX || E < 1 || E > INT32_MAX || K < 1) return false;
  if (T > 0 && (!a.ids || !a.weights || !a.counts)) return false;
  if (a.method == RouteMethod::External) {
    if (a.k < 1 || K < a.k || (T > 0 && !a.externalIds)) return false;
  } else {
    if (T > 0 && (!a.logits || !a.scores)) return false;
    if (isThreshold(a.method)) {
      if (K > E || !(a.threshold > 0.0 && a.threshold <= 1.0)) return false;
    } else {
      if (a.k < 1 || a.k > E || K < a.k) return false;
      if (a.method == RouteMethod::TopkSoftmax && !a.renormalize) return false;
    }
  }
  if (a.groups != 1) {
    if (a.method != RouteMethod::SoftmaxTopk && a.method != RouteMethod::SigmoidTopk) return false;
    if (a.groups < 1 || a.groups > E || E % a.groups != 0) return false;
    const int64_t size = E / a.groups;
    if (a.topkGroups < 1 || a.topkGroups > a.groups || a.groupTopN < 1 || a.groupTopN > size) return false;
    if (a.k > a.topkGroups * size) return false;
  }
  if (a.capacity) {
    if (a.cap < 0 || static_cast<uint32_t>(a.dropPolicy) > static_cast<uint32_t>(RouteDropPolicy::RankThenPosition)) {
      return false;
    }
    if (!a.load || !a.demand || (T > 0 && (!a.selectedIds || !a.keep))) return false;
  }
  return true;
}

// Rows of at most 8 experts run the AVX2 kernels even on the AVX-512 path: one zmm of doubles is then
// mostly masked lanes, and the whole op measured slower (T = 4096, ns per token, AVX2 vs AVX-512 kernels):
// E = 8: k = 1 60 vs 70, k = 2 73 vs 83; E = 4, k = 4: 99 vs 136; from E = 16 AVX-512 wins (k = 2: 100 vs 132).
constexpr int64_t kAvx512MinExperts = 9;

RowKernels kernelsFor(SimdPath path, int64_t experts) {
#if defined(MOE_HAVE_X86)
  if (path == SimdPath::Avx512 && experts >= kAvx512MinExperts) return rowKernelsAvx512();
  if (path >= SimdPath::Avx2) return rowKernelsAvx2();
#else
  (void)path;
  (void)experts;
#endif
  return rowKernelsScalar();
}

// One task's scratch, sized for the problem once per task.
struct Scratch {
  std::vector<double> e, g;
  std::vector<float> cs, gscore;
  std::vector<int32_t> picks, gtop;
  std::vector<uint32_t> ord, bm, gord;
  std::vector<uint64_t> keys;
  SelectScratch sel{};

  explicit Scratch(const RouteArgs& a) {
    const int64_t E = a.experts, K = std::max<int64_t>(a.kmax, a.k);
    g.resize(K);
    picks.resize(K);
    if (!isScored(a.method)) return;
    e.resize(E);
    cs.resize(a.bias ? E : 0);
    ord.resize(E);
    keys.resize(E);
    bm.resize((E + kBlock - 1) / kBlock);
    gord.resize(a.groups);
    gscore.resize(a.groups);
    gtop.resize(std::max(a.groupTopN, a.topkGroups));
    sel = SelectScratch{ord.data(), keys.data(), bm.data(), gord.data(), gtop.data()};
  }
};

// Picks and float64 gates of token t (scored methods); returns the number of picks.
int64_t scoredRow(const RouteArgs& a, const RowKernels& kern, int64_t t, Scratch& s) {
  const int64_t E = a.experts;
  const float* z = a.logits + t * E;
  float* sc = a.scores + t * E;
  if (a.method == RouteMethod::SigmoidTopk) {
    kern.sigmoid(z, E, sc);
  } else {
    kern.softmax(z, E, s.e.data(), sc);
  }
  int32_t* picks = s.picks.data();
  double* g = s.g.data();
  int64_t n;
  if (isThreshold(a.method)) {
    n = thresholdPicks(kern, sc, E, a.threshold, a.method == RouteMethod::TopP, a.kmax, picks, s.sel);
  } else {
    // Selection scores: p, s or the logits, plus the bias. An f32 add equals the reference's float64 add
    // rounded to f32 (double has more than 2·24 + 2 bits, so the double rounding is innocuous).
    const float* cs = a.method == RouteMethod::TopkSoftmax ? z : sc;
    if (a.bias) {
      for (int64_t e = 0; e < E; ++e) s.cs[e] = cs[e] + a.bias[e];
      cs = s.cs.data();
    }
    n = a.k;
    selectTopk(kern, cs, E, n, a.groups, a.topkGroups, a.groupTopN, picks, s.gscore.data(), s.sel);
  }

  if (a.method == RouteMethod::TopkSoftmax) {
    // exp(z - max z) over the picks; renormalising below makes it the softmax over the picks.
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < n; ++j) {
      const double v = z[picks[j]];
      if (v != v) {
        m = v;  // Math.max: NaN wins
        break;
      }
      m = v > m ? v : m;
    }
    for (int64_t j = 0; j < n; ++j) g[j] = expV8(static_cast<double>(z[picks[j]]) - m);
  } else {
    for (int64_t j = 0; j < n; ++j) g[j] = sc[picks[j]];
  }

  if (a.prune) {
    if (a.pruneDropAll && a.pruneDropAll[t]) {
      n = 0;
    } else if (!(a.pruneProtect && a.pruneProtect[t]) && n > 0) {
      const double bound = a.pruneBeta * g[0];
      int64_t kept = 1;
      for (int64_t j = 1; j < n; ++j) {
        if (g[j] < bound) continue;
        picks[kept] = picks[j];
        g[kept++] = g[j];
      }
      n = kept;
    }
  }
  if (a.zeroGate) {
    for (int64_t j = 0; j < n; ++j) g[j] = a.zeroGate[picks[j]] ? 0.0 : g[j];
  }
  if (a.renormalize) {
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j) sum += g[j];
    for (int64_t j = 0; j < n; ++j) g[j] = g[j] / (sum + 1e-20);
  }
  return n;
}

// Ids and float64 gates of token t ('external'); false when an id is out of range.
bool externalRow(const RouteArgs& a, int64_t t, Scratch& s) {
  const int64_t k = a.k;
  const int32_t* src = a.externalIds + t * k;
  double* g = s.g.data();
  double sum = 0.0;
  for (int64_t j = 0; j < k; ++j) {
    const int32_t e = src[j];
    if (e < -1 || e >= a.experts) return false;
    s.picks[j] = e;
    // Empty slots carry weight 0 whatever the caller's weights say.
    g[j] = e < 0 ? 0.0 : a.externalWeights ? static_cast<double>(a.externalWeights[t * k + j]) : 1.0;
    sum += g[j];
  }
  if (a.renormalize) {
    for (int64_t j = 0; j < k; ++j) g[j] = g[j] / (sum + 1e-20);
  }
  return true;
}

// The final store of one row: weights = f32(gate * scale) where the id is valid, 0 elsewhere.
void storeRow(const int32_t* ids, const double* g, int64_t K, double scale, float* w, int32_t* count) {
  int32_t c = 0;
  for (int64_t j = 0; j < K; ++j) {
    if (ids[j] < 0) {
      w[j] = 0.0f;
      continue;
    }
    w[j] = static_cast<float>(g[j] * scale);
    ++c;
  }
  *count = c;
}

}  // namespace

Status routeOnPath(const RouteArgs& a, SimdPath path) {
  if (!argsFit(a)) return Status::InvalidArgument;
  const int64_t T = a.tokens, E = a.experts, K = a.kmax;
  const RowKernels kern = kernelsFor(std::min(path, bestSimdPath()), E);
  std::vector<double> gates;  // [T, K], only with capacity
  try {
    if (a.capacity) gates.resize(static_cast<size_t>(T * K));
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory;
  }
  std::atomic<bool> oom{false}, badId{false};
  const int64_t grain = std::max<int64_t>(1, kGrainElements / (isScored(a.method) ? E : a.k));
  parallelRanges(T, grain, [&](int64_t t0, int64_t t1) {
    try {
      Scratch s(a);
      for (int64_t t = t0; t < t1; ++t) {
        int64_t n = a.k;
        if (isScored(a.method)) {
          n = scoredRow(a, kern, t, s);
        } else if (!externalRow(a, t, s)) {
          badId = true;
          return;
        }
        int32_t* ids = a.ids + t * K;
        double* g = a.capacity ? gates.data() + t * K : s.g.data();
        for (int64_t j = 0; j < K; ++j) {
          ids[j] = j < n ? s.picks[j] : -1;
          g[j] = j < n ? s.g[j] : 0.0;
        }
        if (!a.capacity) storeRow(ids, g, K, a.scale, a.weights + t * K, a.counts + t);
      }
    } catch (const std::bad_alloc&) {
      oom = true;
    }
  });
  if (badId) return Status::InvalidArgument;
  if (oom) return Status::OutOfMemory;
  if (!a.capacity) return Status::Ok;

  if (!applyCapacity(a, gates.data())) return Status::OutOfMemory;
  parallelRanges(T, std::max<int64_t>(1, kGrainElements / K), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      storeRow(a.ids + t * K, gates.data() + t * K, K, a.scale, a.weights + t * K, a.counts + t);
    }
  });
  return Status::Ok;
}

}  // namespace rt

Status route(const RouteArgs& a) { return rt::routeOnPath(a, simdPath()); }

}  // namespace moe::cpu
