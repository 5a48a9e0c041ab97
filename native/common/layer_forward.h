// layer_forward: one MoELayer.forward in one call, the same op calls lib/layer.ts makes, in its order, with
// no math of its own: router grouped_gemm -> route -> the permute layout (rows per FFN expert, no padding)
// -> permute -> grouped_gemm W1 (fused activation) -> grouped_gemm W2 -> the shared expert's two
// grouped_gemms -> unpermute -> router_stats. Each step is the op's own kernel on arguments equal to the
// ones lib/ops would have built, so every output is bitwise the op-by-op forward's on the same backend.
//
// Why one call: at decode the op-by-op forward spends ~0.65 ms outside the expert GEMMs (Qwen3-30B-A3B
// T = 1, 2 threads, caches flushed before each forward as the other layers of a model flush them): each
// of its 7 op calls runs JS validation and an N-API call from cold caches (route alone: 15 us warm, 60-90
// us cold). That is 11% of the f32 layer and 18% of the bf16 one.
//
// The caller (native/addon/layer_forward.cpp, from lib/layer_native.ts) fills every op's arguments except
// what the routing decides: the rows R, the offsets and the tensors of R rows are set here. Capacity,
// external routing, the two-layer router and the gating residual are not covered: lib/layer.ts runs
// those op by op.
#pragma once

#include <cstdint>

#include "grouped_gemm.h"
#include "route.h"
#include "router_stats.h"
#include "status.h"
#include "tensor_view.h"
#include "unpermute.h"

namespace moe {

struct LayerForwardArgs {
  GroupedGemmArgs router;   // x [T, H] -> logits [T, N] f32 = route.logits; offsets ({0, T}) are set here
  RouteArgs route;          // scored method, no capacity: ids, weights, counts, scores
  // permute: the FFN-routed slots (ids in [0, experts)) of route.ids gathered, scaled by inputScale.
  const void* x;            // [T, H], dtype xDtype: also the dtype of rows, act and y
  DType xDtype;
  int64_t hidden, experts;  // H, E (FFN experts; route.experts is N, every expert)
  double inputScale;
  int64_t rowCapacity;      // rows the scratch below holds: T · kmax covers every routing
  void* rows;               // [rowCapacity, H]
  int32_t* slotToRow;       // [T, kmax]
  int32_t* rowToToken;      // [rowCapacity]
  int32_t* offsets;         // [E + 1]
  // The expert FFN: W1 [E, n1, H] (activation, gluLayout, bias b1 [E, n1]) and W2 [E, H, I] (bias b2).
  GroupedGemmArgs w1;       // a, out and offsets are set here; out holds rowCapacity x I
  GroupedGemmArgs w2;       // a, out and offsets are set here; out (y) holds rowCapacity x H
  bool sharedExpert;        // the two GEMMs below run on x (one group: offsets {0, T} are set here) when true
  GroupedGemmArgs sharedUp, sharedDown;
  UnpermuteArgs combine;    // y, rows, ids, weights, slotToRow are set here
  RouterStatsArgs stats;    // on route's ids, scores and the logits
  RouterStatsTotals* totals;
};

namespace cpu {
// InvalidArgument when a step refuses its arguments (the binding checked them), OutOfMemory when scratch
// cannot be had; the first failing step stops the call. Never throws.
Status layerForward(LayerForwardArgs a);
}  // namespace cpu

}  // namespace moe
