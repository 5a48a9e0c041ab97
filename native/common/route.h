// route: router logits z [tokens, experts] -> padded per-token picks ids [tokens, kmax] (int32, -1 = empty),
// weights [tokens, kmax] (f32, 0 where empty), counts [tokens], scores [tokens, experts] (softmax p or
// sigmoid s), and with capacity the pre-drop ids, keep mask and per-expert load / demand (SPEC §0–§4, §5.3,
// §7, §8). lib/reference/route.ts is the oracle and this is the same arithmetic, so ids, counts and the
// capacity outputs are exact and scores / weights are bitwise equal:
//   - exp is V8's Math.exp (fdlibm) ported bit for bit, in float64; softmax is max-subtracted with the sum in
//     index order; sigmoid is 1 / (1 + exp(-z)); both rounded to f32 before any comparison;
//   - selection order: NaN above every number, then larger, then lower index (-0 == +0);
//   - prune, zero gates, renormalisation (w / (Σw + 1e-20)) and capacity run on float64 gates; scale last.
// Per token: scores -> selection (top-k, group limit, threshold prefix) -> raw weights -> prune -> zero
// gates -> renormalise. Then capacity over all tokens, sequentially. Then scale and the f32 store.
#pragma once

#include <cstdint>

#include "status.h"

namespace moe {

// The order is ROUTE_METHODS in lib/ops/route.ts: the binding passes the index.
enum class RouteMethod : int32_t { SoftmaxTopk = 0, TopkSoftmax, SigmoidTopk, XmoeThreshold, TopP, External };

// The order is DROP_POLICIES in lib/ops/route.ts.
enum class RouteDropPolicy : int32_t { Position = 0, Probs, RankThenPosition };

struct RouteArgs {
  RouteMethod method = RouteMethod::SoftmaxTopk;
  int64_t tokens = 0;               // T >= 0
  int64_t experts = 0;              // E >= 1
  int32_t k = 0;                    // top-k methods: 1..E; External: the ids width; threshold methods: 0
  int32_t kmax = 0;                 // K, the output width: >= max(k, 1); for the threshold methods the cap
  const float* logits = nullptr;    // [T, E]; null for External
  bool renormalize = false;         // must be true for TopkSoftmax
  const float* bias = nullptr;      // [E] finite selection-only bias, or null (top-k methods)
  int32_t groups = 1;               // group limit when > 1 (SoftmaxTopk, SigmoidTopk); divides E
  int32_t topkGroups = 1;           // 1..groups, and k <= topkGroups * E / groups
  int32_t groupTopN = 1;            // 1..E / groups: a group's score sums its top groupTopN scores
  double scale = 1.0;               // multiplies the final weights
  double threshold = 0.0;           // (0, 1] for XmoeThreshold / TopP
  const uint8_t* zeroGate = nullptr;  // [E] 0/1: gate set to 0 before renormalising (MoE++), or null

  bool prune = false;               // MC-MoE ODP: slot j >= 1 goes iff w_j < pruneBeta * w_0
  double pruneBeta = 0.0;
  const uint8_t* pruneProtect = nullptr;  // [T] 0/1 or null: exempt from pruning
  const uint8_t* pruneDropAll = nullptr;  // [T] 0/1 or null: loses every slot

  const int32_t* externalIds = nullptr;       // External: [T, k] in [-1, E)
  const float* externalWeights = nullptr;     // External: [T, k], or null = 1 for every valid slot

  bool capacity = false;            // drop assignments beyond `cap` per expert (SPEC §3)
  RouteDropPolicy dropPolicy = RouteDropPolicy::Position;
  int32_t cap = 0;                  // >= 0, already max(minCapacity, ceil(kCapacity * T * factor / E))
  bool renormalizeSurvivors = false;

  // Outputs, every element written. scores is required for the scored methods (it is part of the result).
  int32_t* ids = nullptr;           // [T, K]
  float* weights = nullptr;         // [T, K]
  int32_t* counts = nullptr;        // [T]
  float* scores = nullptr;          // [T, E]; unused for External
  int32_t* selectedIds = nullptr;   // capacity: [T, K] ids before dropping
  int32_t* keep = nullptr;          // capacity: [T, K] 1 where the slot survived
  int32_t* load = nullptr;          // capacity: [E] kept assignments per expert
  int32_t* demand = nullptr;        // capacity: [E] assignments per expert before dropping
};

}  // namespace moe

namespace moe::cpu {

// Runs on the process's thread pool with the SIMD path chosen at load; the result is bitwise the same for
// every thread count and path. InvalidArgument (nothing promised about the outputs) when the arguments do
// not fit together, OutOfMemory when scratch cannot be had. Never throws.
Status route(const RouteArgs& args);

}  // namespace moe::cpu
