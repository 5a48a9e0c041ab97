// router_stats (SPEC §6): per-expert selection counts and score sums, and the per-token sums behind the
// z-loss and the entropy loss, over the unmasked tokens.
//   ids [tokens, kmax] int32 (-1 = empty), scores and logits [tokens, experts] f32, tokenMask [tokens] u8.
//   counts[e] = #{(t, j) : ids[t, j] = e}, top1Counts[e] = #{t : ids[t, 0] = e},
//   probSum[e] = Σ_t p[t, e] (p = scores, or scores / (Σ_e scores + 1e-20) with normalizeScores),
//   zSquareSum = Σ_t logsumexp(z_t)², entropySum = Σ_t -Σ_e p log p (0 · log 0 = 0).
// Sums in f64 in token order, as lib/reference/router_stats.ts: bitwise its result (up to libm's log / exp
// against V8's) for every thread count, and masking a token equals removing it.
#pragma once

#include <cstdint>

#include "status.h"

namespace moe {

struct RouterStatsArgs {
  const int32_t* ids;        // [tokens, kmax], each -1 or in [0, experts)
  const float* scores;       // [tokens, experts]
  const float* logits;       // [tokens, experts] or null
  const uint8_t* tokenMask;  // [tokens] of 0 / 1, or null (all real)
  int64_t tokens, kmax, experts;
  bool normalizeScores;
  int32_t* counts;           // [experts] out
  int32_t* top1Counts;       // [experts] out
  float* probSum;            // [experts] out
};

struct RouterStatsTotals {
  int64_t tokens = 0;        // unmasked tokens
  int64_t selections = 0;    // valid (token, slot) selections
  double zSquareSum = 0;     // 0 when logits is null
  double entropySum = 0;
};

namespace cpu {

// Fills the [experts] outputs and `totals`. InvalidArgument (nothing written) when an id is out of range;
// OutOfMemory when the scratch (at most ~1 MiB) cannot be allocated.
Status routerStats(const RouterStatsArgs& a, RouterStatsTotals* totals);

}  // namespace cpu
}  // namespace moe
