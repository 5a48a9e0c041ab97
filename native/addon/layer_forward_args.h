// layer_forward's args object (layer_forward.cpp documents its fields), read and checked into a
// LayerForwardArgs: shared by the layerForward binding and layerPlan's (layer_plan.cpp), which reads the
// same object once and then takes only the per-call arrays.
#pragma once

#include <cstdint>

#include "../common/layer_forward.h"
#include "binding.h"

namespace moe::addon {

struct LayerForwardRead {
  LayerForwardArgs f;
  uint8_t* totals;  // statTotals: 4 f64 stored after the call (storeTotals)
};

// Every field checked, the outputs' disjointness too (checkLayerOutputs).
LayerForwardRead readLayerForward(Args& a);

// RangeError unless every array the call writes, among those recorded in `a`, overlaps no other recorded
// array, except that out may be exactly residual's memory.
void checkLayerOutputs(const Args& a);

// The kernel call on `f`, storing the totals into `totals` when it succeeds.
Work layerForwardWork(LayerForwardArgs f, uint8_t* totals);

}  // namespace moe::addon
