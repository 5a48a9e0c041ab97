// JS binding of route: route(args) -> undefined and routeAsync(args) -> Promise<undefined>
// (lib/backends/cpu/route.ts is the only caller). Fields, named as in the CUDA binding:
//   method, tokens, experts, k, kmax, renormalize?, scale?, threshold? (threshold methods), groups?,
//   topkGroups?, groupTopN?; logits Float32Array [T, E] (scored methods), bias? Float32Array [E],
//   zeroGate? Uint8Array [E], pruneBeta? (present = prune) with pruneProtect? / pruneDropAll? Uint8Array [T];
//   'external': extIds Int32Array [T, k] in [-1, E), extWeights? Float32Array [T, k];
//   cap? (present = capacity) with policy and renormalizeSurvivors?;
//   outputs ids Int32Array / weights Float32Array [T, kmax], counts Int32Array [T], scores Float32Array
//   [T, E] (scored methods), selectedIds / keep Int32Array [T, kmax] and load / demand Int32Array [E]
//   (capacity). Every output is disjoint from every other array.
// Every field is checked here again (lib/ops/route.ts checked them first, with the better messages): this is
// the last line of defence against out-of-bounds reads and writes. Distinct ids within an 'external' row are
// lib's contract, not a memory-safety matter, and are not re-checked (that would need E words of scratch).

#include <algorithm>
#include <string>

#include "route_args.h"

namespace {

using moe::addon::Args;

constexpr int64_t kI32Max = 2147483647;

void maskValues(Args& a, const char* field, const moe::addon::Span<uint8_t>& m) {
  for (int64_t i = 0; i < m.size; ++i) {
    if (m.data[i] > 1) {
      a.rangeError(field, "must hold only 0 and 1, got " + std::to_string(m.data[i]) + " at " + std::to_string(i));
    }
  }
}

const uint8_t* optionalMask(Args& a, const char* field, int64_t n) {
  if (!a.has(field)) return nullptr;
  const moe::addon::Span<uint8_t> m = a.u8(field, n);
  maskValues(a, field, m);
  return m.data;
}

}  // namespace

namespace moe::addon {

moe::RouteArgs readRouteArgs(Args& a) {
  moe::RouteArgs k;
  k.method = static_cast<moe::RouteMethod>(
      a.oneOf("method", {"softmax_topk", "topk_softmax", "sigmoid_topk", "xmoe_threshold", "top_p", "external"}));
  const bool external = k.method == moe::RouteMethod::External;
  const bool threshold = k.method == moe::RouteMethod::XmoeThreshold || k.method == moe::RouteMethod::TopP;
  const int64_t T = a.integer("tokens", 0, kI32Max);
  const int64_t E = a.integer("experts", 1, kI32Max);
  k.tokens = T;
  k.experts = E;
  k.k = static_cast<int32_t>(threshold ? a.integer("k", 0, 0) : a.integer("k", 1, external ? kI32Max : E));
  const int64_t kmaxLo = threshold ? 1 : k.k, kmaxHi = threshold ? E : std::max<int64_t>(k.k, E);
  k.kmax = static_cast<int32_t>(a.integer("kmax", kmaxLo, kmaxHi));
  k.renormalize = a.has("renormalize") && a.boolean("renormalize");
  if (k.method == moe::RouteMethod::TopkSoftmax && !k.renormalize) {
    a.rangeError("renormalize", "must be true for method 'topk_softmax'");
  }
  k.scale = a.has("scale") ? a.number("scale", 0, 1.7976931348623157e308) : 1.0;
  if (threshold) {
    k.threshold = a.number("threshold", 0, 1);
    if (k.threshold == 0) a.rangeError("threshold", "must be in (0, 1], got 0");
  }
  if (a.has("groups")) {
    k.groups = static_cast<int32_t>(a.integer("groups", 1, E));
    if (E % k.groups != 0) a.rangeError("groups", "must divide experts = " + std::to_string(E));
    if (k.groups > 1 && k.method != moe::RouteMethod::SoftmaxTopk && k.method != moe::RouteMethod::SigmoidTopk) {
      a.rangeError("groups", "applies to 'softmax_topk' and 'sigmoid_topk' only");
    }
    const int64_t size = E / k.groups;
    k.topkGroups = static_cast<int32_t>(a.integer("topkGroups", 1, k.groups));
    k.groupTopN = static_cast<int32_t>(a.integer("groupTopN", 1, size));
    if (k.k > k.topkGroups * size) a.rangeError("k", "exceeds the experts of the kept groups");
  }
  const int64_t K = k.kmax;
  if (external) {
    const moe::addon::Span<int32_t> ids = a.i32("extIds", T * k.k);
    for (int64_t i = 0; i < ids.size; ++i) {
      if (ids.data[i] < -1 || ids.data[i] >= E) {
        a.rangeError("extIds", "must hold expert ids in [-1, " + std::to_string(E) + "), got " +
                                   std::to_string(ids.data[i]) + " at " + std::to_string(i));
      }
    }
    k.externalIds = ids.data;
    k.externalWeights = a.has("extWeights") ? a.f32("extWeights", T * k.k).data : nullptr;
  } else {
    k.logits = a.f32("logits", T * E).data;
    k.scores = a.f32("scores", T * E).data;
    k.bias = a.has("bias") ? a.f32("bias", E).data : nullptr;
    k.zeroGate = optionalMask(a, "zeroGate", E);
    if (a.has("pruneBeta")) {
      k.prune = true;
      k.pruneBeta = a.number("pruneBeta", 0, 1);
      k.pruneProtect = optionalMask(a, "pruneProtect", T);
      k.pruneDropAll = optionalMask(a, "pruneDropAll", T);
    }
  }
  if (!external && a.has("extIds")) a.rangeError("extIds", "applies to method 'external' only");
  k.ids = a.i32("ids", T * K).data;
  k.weights = a.f32("weights", T * K).data;
  k.counts = a.i32("counts", T).data;
  if (a.has("cap")) {
    k.capacity = true;
    k.cap = static_cast<int32_t>(a.integer("cap", 0, kI32Max));
    k.dropPolicy = static_cast<moe::RouteDropPolicy>(a.oneOf("policy", {"position", "probs", "rank_then_position"}));
    k.renormalizeSurvivors = a.has("renormalizeSurvivors") && a.boolean("renormalizeSurvivors");
    k.selectedIds = a.i32("selectedIds", T * K).data;
    k.keep = a.i32("keep", T * K).data;
    k.load = a.i32("load", E).data;
    k.demand = a.i32("demand", E).data;
  }
  return k;
}

}  // namespace moe::addon

namespace {

moe::addon::Work prepareRoute(Args& a) {
  const moe::RouteArgs k = moe::addon::readRouteArgs(a);
  // Outputs may overlap nothing, not even exactly (the kernel reads logits after it writes scores).
  a.outputsDisjoint({"ids", "weights", "counts", "scores", "selectedIds", "keep", "load", "demand"});
  return [k] { return moe::cpu::route(k); };
}

}  // namespace

MOE_OP("route", "route", prepareRoute);
