// router_stats on the CPU. See common/router_stats.h for the contract.
//
// The sums run in f64 in token order, exactly as lib/reference/router_stats.ts: probSum[e] adds p[t, e] for
// t = 0, 1, ...; entropySum subtracts p log p for (t, e) in row-major order; zSquareSum adds each token's
// logsumexp². So the result is the reference's, bitwise (up to libm's log / exp against V8's), for every
// thread count, and masking a token equals removing it. The expensive part, a division, a log and an exp per
// element, runs in parallel over the tokens of a block and lands in a scratch of f64 terms; one thread then
// adds the terms in order. That serial pass is one dependent subtraction per element (~4 cycles): ~0.7 ms at
// T = 4096, E = 128, against ~5 ms of CPU for the logs, so it stays small next to the parallel part up to
// about 8 threads. Blocks of 64 Ki elements bound the scratch to 1 MiB.
// There is no SIMD path: the f64 log / exp the 1e-9 tolerance needs would be a libm of our own.

#include "../common/router_stats.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <new>
#include <vector>

#include "thread_pool.h"

namespace moe::cpu {

namespace {

constexpr int64_t kBlockElems = int64_t{1} << 16;
// Tokens per parallel task: at E = 128, 16 tokens are ~2 K log + exp, ~20 µs.
constexpr int64_t kTaskElems = 2048;

// log Σ_e exp(z_e), max-subtracted, as lib/reference/router_stats.ts: NaN anywhere -> NaN; a +inf entry
// -> +inf; all -inf (or no entries) -> -inf.
double logSumExp(const float* z, int64_t n) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t e = 0; e < n; ++e) {
    const double v = z[e];
    if (std::isnan(v)) return v;
    if (v > m) m = v;
  }
  if (std::isinf(m)) return m;
  double s = 0;
  for (int64_t e = 0; e < n; ++e) s += std::exp(static_cast<double>(z[e]) - m);
  return m + std::log(s);
}

}  // namespace

Status routerStats(const RouterStatsArgs& a, RouterStatsTotals* totals) {
  const int64_t T = a.tokens, K = a.kmax, E = a.experts;
  if (T < 0 || K < 0 || E < 0 || totals == nullptr) return Status::InvalidArgument;
  if (E > 0 && (!a.counts || !a.top1Counts || !a.probSum)) return Status::InvalidArgument;
  if (T > 0 && K > 0 && !a.ids) return Status::InvalidArgument;
  if (T > 0 && E > 0 && !a.scores) return Status::InvalidArgument;

  std::atomic<bool> badId{false};
  parallelRanges(T * K, 1 << 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      if (a.ids[i] < -1 || a.ids[i] >= E) badId.store(true, std::memory_order_relaxed);
    }
  });
  if (badId.load()) return Status::InvalidArgument;

  const int64_t blockTokens = std::max<int64_t>(1, kBlockElems / std::max<int64_t>(E, 1));
  std::vector<double> p, term, lse, prob;
  std::vector<int64_t> counts, top1;  // int64: the int32 outputs wrap as the reference's Int32Array does
  try {
    p.resize(static_cast<size_t>(std::min(T, blockTokens) * E));
    term.resize(p.size());
    lse.resize(static_cast<size_t>(std::min(T, blockTokens)));
    prob.assign(static_cast<size_t>(E), 0.0);
    counts.assign(static_cast<size_t>(E), 0);
    top1.assign(static_cast<size_t>(E), 0);
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory;
  }

  RouterStatsTotals r;
  for (int64_t b0 = 0; b0 < T; b0 += blockTokens) {
    const int64_t b1 = std::min(T, b0 + blockTokens);
    parallelRanges(b1 - b0, std::max<int64_t>(1, kTaskElems / std::max<int64_t>(E, 1)), [&](int64_t i0, int64_t i1) {
      for (int64_t t = b0 + i0; t < b0 + i1; ++t) {
        if (a.tokenMask && a.tokenMask[t] == 0) continue;
        const float* sc = a.scores + t * E;
        double denom = 1;
        if (a.normalizeScores) {
          double s = 0;
          for (int64_t e = 0; e < E; ++e) s += sc[e];
          denom = s + 1e-20;
        }
        double* pt = p.data() + (t - b0) * E;
        double* tt = term.data() + (t - b0) * E;
        for (int64_t e = 0; e < E; ++e) {
          const double q = static_cast<double>(sc[e]) / denom;
          pt[e] = q;
          tt[e] = q != 0 ? q * std::log(q) : 0.0;  // 0 · log 0 = 0; subtracting +0 leaves any sum unchanged
        }
        if (a.logits) lse[static_cast<size_t>(t - b0)] = logSumExp(a.logits + t * E, E);
      }
    });
    for (int64_t t = b0; t < b1; ++t) {
      if (a.tokenMask && a.tokenMask[t] == 0) continue;
      ++r.tokens;
      for (int64_t j = 0; j < K; ++j) {
        const int32_t id = a.ids[t * K + j];
        if (id < 0) continue;
        ++counts[id];
        ++r.selections;
        if (j == 0) ++top1[id];
      }
      const double* pt = p.data() + (t - b0) * E;
      const double* tt = term.data() + (t - b0) * E;
      for (int64_t e = 0; e < E; ++e) {
        prob[e] += pt[e];
        r.entropySum -= tt[e];
      }
      if (a.logits) {
        const double l = lse[static_cast<size_t>(t - b0)];
        r.zSquareSum += l * l;
      }
    }
  }
  for (int64_t e = 0; e < E; ++e) {
    a.probSum[e] = static_cast<float>(prob[e]);
    a.counts[e] = static_cast<int32_t>(static_cast<uint32_t>(counts[e]));
    a.top1Counts[e] = static_cast<int32_t>(static_cast<uint32_t>(top1[e]));
  }
  *totals = r;
  return Status::Ok;
}

}  // namespace moe::cpu
