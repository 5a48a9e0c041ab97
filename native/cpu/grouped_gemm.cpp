// grouped_gemm on the CPU: argument checks, the split into tasks, per-thread scratch, the scalar generic
// path and the dispatch to the SIMD paths (x86/grouped_gemm_avx2.cpp, x86/grouped_gemm_avx512.cpp).
//
// Tasks are (expert, row chunk, column chunk). The split depends only on the problem (offsets, sizes),
// and no task splits the K reduction, so every output element is summed in the same order whatever the
// thread count: results are bitwise identical for 1..n threads on one SIMD path.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "grouped_gemm_kernels.h"
#include "half.h"
#include "thread_pool.h"

namespace moe::cpu {
namespace gg {
namespace {

// ---------------------------------------------------------------------------------------------------------
// Scratch: one growing 64-byte-aligned buffer per thread. A failed allocation is remembered per thread and
// turned into Status::OutOfMemory by the caller; the task that asked gets null and writes nothing.

struct ThreadScratch {
  float* data = nullptr;
  size_t floats = 0;
  bool failed = false;
  ~ThreadScratch() { std::free(data); }
};
thread_local ThreadScratch t_scratch;

float* acquireScratch(size_t floats) {
  ThreadScratch& s = t_scratch;
  if (floats <= s.floats) return s.data;
  std::free(s.data);
  const size_t bytes = ((floats * sizeof(float) + 63) / 64) * 64;
  s.data = static_cast<float*>(std::aligned_alloc(64, bytes));
  s.floats = s.data ? floats : 0;
  if (!s.data) s.failed = true;
  return s.data;
}

// ---------------------------------------------------------------------------------------------------------
// Scalar element access (half.h: bit-exact RNE conversions) and the activations in double.

float fromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

float loadScalar(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::BF16: return fromBits(bf16ToF32(static_cast<const uint16_t*>(p)[i]));
    case DType::F16: return fromBits(f16ToF32(static_cast<const uint16_t*>(p)[i]));
    default: return static_cast<const float*>(p)[i];
  }
}

void storeScalar(void* p, DType t, int64_t i, float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  switch (t) {
    case DType::BF16: static_cast<uint16_t*>(p)[i] = f32ToBf16(u); break;
    case DType::F16: static_cast<uint16_t*>(p)[i] = f32ToF16(u); break;
    default: static_cast<float*>(p)[i] = v; break;
  }
}

double sigmoidD(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }

// The limits at -inf are -0 (the product forms would give -inf · 0 = NaN), as in lib/reference/activations.ts.
double actD(Activation a, double x) {
  switch (a) {
    case Activation::Relu: return x > 0 || std::isnan(x) ? x : 0;
    case Activation::Gelu: case Activation::Geglu:
      return x == -INFINITY ? -0.0 : 0.5 * x * std::erfc(-x * 0.70710678118654752440);
    case Activation::GeluTanh:
      return x == -INFINITY ? -0.0 : x * sigmoidD(2 * 0.79788456080286535588 * (x + 0.044715 * x * x * x));
    case Activation::Silu: case Activation::Swiglu: return x == -INFINITY ? -0.0 : x * sigmoidD(x);
    case Activation::Tanh: return std::tanh(x);
    case Activation::Sigmoid: return sigmoidD(x);
    default: return x;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// The scalar generic path: one W row at a time, converted to f32 once and dotted with every row of the task.
// Eight partial sums per dot product (summed pairwise at the end) keep it vectorisable and accurate.

void runTaskScalar(const Problem& p, const Task& t, ScratchFn scratch) {
  const int64_t k = p.k, rows = t.r1 - t.r0, cols = t.c1 - t.c0;
  float* buf = scratch(static_cast<size_t>((rows + 2) * k + 2 * rows));
  if (!buf) return;
  float* aRows = buf;                     // [rows, k] f32
  float* wRow = aRows + rows * k;         // [k]
  float* pre = wRow + k;                  // [2][rows]: the gate (or only) and up pre-activations
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < k; ++i) aRows[r * k + i] = loadScalar(p.a, p.aType, (t.r0 + r) * k + i);

  for (int64_t c = t.c0; c < t.c0 + cols; ++c) {
    int64_t wr[2] = {c, c};
    if (p.gluAct) {
      wr[0] = p.glu == GluLayout::Halves ? c : 2 * c;
      wr[1] = p.glu == GluLayout::Halves ? p.n / 2 + c : 2 * c + 1;
    }
    for (int part = 0; part < (p.gluAct ? 2 : 1); ++part) {
      const int64_t wBase = (t.e * p.n + wr[part]) * k;
      for (int64_t i = 0; i < k; ++i) wRow[i] = loadScalar(p.w, p.wType, wBase + i);
      for (int64_t r = 0; r < rows; ++r) {
        const float* ar = aRows + r * k;
        float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t i = 0;
        for (; i + 8 <= k; i += 8)
          for (int l = 0; l < 8; ++l) s[l] += ar[i + l] * wRow[i + l];
        for (int l = 0; i < k; ++i, ++l) s[l] += ar[i] * wRow[i];
        float v = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
        if (p.bias) v += p.bias[t.e * p.n + wr[part]];
        if (p.addend) v += p.addend[(t.r0 + r) * p.n + wr[part]];
        pre[part * rows + r] = v;
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      const double x = pre[r];
      const double y = p.gluAct ? actD(p.act, x) * static_cast<double>(pre[rows + r]) : actD(p.act, x);
      storeScalar(p.out, p.outType, (t.r0 + r) * p.nOut + c, static_cast<float>(y));
    }
  }
}

namespace {

// ---------------------------------------------------------------------------------------------------------
// The split into tasks. Segments of fewer than 16 rows (decode) are one row chunk; longer ones are cut
// into chunks of at most 256 rows, multiples of 16, so each task's packed A stays in L2. Columns are split
// until there are about 48 tasks (enough to balance 16 threads), but never below 64 columns, which keeps
// the per-task cost of packing A under a few percent of its FMAs.

std::vector<Task> splitTasks(const Problem& p) {
  std::vector<Task> items;
  for (int64_t e = 0; e < p.experts; ++e) {
    const int64_t b = p.offsets[e], len = p.offsets[e + 1] - b;
    if (len <= 0) continue;
    const int64_t chunks = len < 16 ? 1 : (len + 255) / 256;
    const int64_t step = len < 16 ? len : (((len + chunks - 1) / chunks + 15) / 16) * 16;
    for (int64_t r = b; r < b + len; r += step) items.push_back({e, r, std::min(r + step, b + len), 0, 0});
  }
  const int64_t nItems = static_cast<int64_t>(items.size());
  const int64_t maxSplit = std::max<int64_t>(1, (p.nOut + 63) / 64);
  const int64_t split = std::min(maxSplit, std::max<int64_t>(1, (48 + nItems - 1) / std::max<int64_t>(nItems, 1)));
  const int64_t step = ((p.nOut + split - 1) / split + kColQuantum - 1) / kColQuantum * kColQuantum;
  std::vector<Task> tasks;
  tasks.reserve(static_cast<size_t>(nItems * split));
  for (const Task& it : items)
    for (int64_t c = 0; c < p.nOut; c += step) tasks.push_back({it.e, it.r0, it.r1, c, std::min(c + step, p.nOut)});
  return tasks;
}

bool isFloat(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16; }

Status check(const GroupedGemmArgs& g, Problem& p) {
  if (g.a.ndim != 2 || g.w.ndim != 3 || g.out.ndim != 2) return Status::InvalidArgument;
  if (!isFloat(g.a.dtype) || !isFloat(g.w.dtype) || !isFloat(g.out.dtype)) return Status::InvalidArgument;
  const int64_t rows = g.a.shape[0], k = g.a.shape[1], n = g.w.shape[1];
  if (rows < 0 || k < 0 || n < 0 || g.experts < 1 || g.w.shape[0] != g.experts || g.w.shape[2] != k)
    return Status::InvalidArgument;
  if (static_cast<int32_t>(g.act) < 0 || static_cast<int32_t>(g.act) > static_cast<int32_t>(Activation::Sigmoid))
    return Status::InvalidArgument;
  if (g.glu != GluLayout::Halves && g.glu != GluLayout::Interleaved) return Status::InvalidArgument;
  const bool glu = g.act == Activation::Swiglu || g.act == Activation::Geglu;
  if (glu && n % 2 != 0) return Status::InvalidArgument;
  const int64_t nOut = glu ? n / 2 : n;
  if (g.out.shape[0] != rows || g.out.shape[1] != nOut) return Status::InvalidArgument;
  if (!g.offsets || g.offsets[0] != 0 || g.offsets[g.experts] != rows) return Status::InvalidArgument;
  for (int64_t e = 0; e < g.experts; ++e)
    if (g.offsets[e + 1] < g.offsets[e]) return Status::InvalidArgument;
  if ((rows * k > 0 && !g.a.data) || (g.experts * n * k > 0 && !g.w.data) || (rows * nOut > 0 && !g.out.data))
    return Status::InvalidArgument;
  p = Problem{g.a.data, g.a.dtype, g.w.data, g.w.dtype, g.out.data, g.out.dtype, g.offsets, g.bias, g.addend,
              g.act, g.glu, glu, g.experts, rows, n, k, nOut, false, false, false, true};
  return Status::Ok;
}

}  // namespace

Status groupedGemmOnPath(const GroupedGemmArgs& args, SimdPath path) {
  Problem p{};
  const Status st = check(args, p);
  if (st != Status::Ok) return st;
  if (p.rows == 0 || p.nOut == 0) return Status::Ok;
  if (static_cast<int>(path) > static_cast<int>(bestSimdPath())) path = bestSimdPath();

  void (*run)(const Problem&, const Task&, ScratchFn) = runTaskScalar;
#if defined(MOE_HAVE_X86)
  if (path == SimdPath::Avx512) run = runTaskAvx512;
  p.dpbf16 = path == SimdPath::Avx512 && cpuFeatures().bf16DotFast && p.aType == DType::BF16 && p.wType == DType::BF16;
  p.directW = (path == SimdPath::Avx512 || path == SimdPath::Avx2) && cpuFeatures().amd;
  p.stageAhead = path == SimdPath::Avx2 && cpuFeatures().amd;
  p.decodePrefetch = !(cpuFeatures().amd && cpuFeatures().family < 0x1a);  // not before Zen 5
  if (path == SimdPath::Avx2) run = runTaskAvx2;
#endif
  try {
    const std::vector<Task> tasks = splitTasks(p);
    std::atomic<bool> failed{false};
    parallelFor(static_cast<int64_t>(tasks.size()), [&](int64_t i) {
      t_scratch.failed = false;
      run(p, tasks[static_cast<size_t>(i)], acquireScratch);
      if (t_scratch.failed) failed.store(true, std::memory_order_relaxed);
    });
    return failed.load() ? Status::OutOfMemory : Status::Ok;
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory;
  } catch (...) {
    return Status::Internal;
  }
}

}  // namespace gg

Status groupedGemm(const GroupedGemmArgs& args) { return gg::groupedGemmOnPath(args, simdPath()); }

}  // namespace moe::cpu
