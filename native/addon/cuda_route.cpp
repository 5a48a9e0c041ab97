// JS binding of route on CUDA: cudaRoute(args) / cudaRouteAsync(args) (lib/backends/cuda/route.ts).
// Fields: method, tokens, experts, k, kmax, renormalize, groups, topkGroups, groupTopN, scale, threshold;
// logits [T, E] (logitsDtype, default 'f32'), bias? [E] f32, zeroGate? Uint8Array [E], pruneBeta? with
// pruneProtect? / pruneDropAll? Uint8Array [T]; external: extIds [T, k] i32, extWeights? [T, k] f32;
// capacity: cap (present = on), policy, renormalizeSurvivors; outputs ids / weights [T, kmax], counts [T],
// scores [T, E] (scored methods), selectedIds / keep [T, kmax] and load / demand [E] (capacity).
// Tensors are DeviceTensors or typed arrays (see cuda_binding.h).

#if defined(MOE_WITH_CUDA)

#include "../cuda/route.cuh"

#include "cuda_binding.h"

namespace {

using moe::DType;
using moe::addon::Args;
using namespace moe::addon::cuda;
using moe::cuda::RouteMethod;
using moe::cuda::RouteParams;

constexpr int64_t kI32Max = 2147483647;

CudaWork prepareRoute(Args& a) {
  Staging st(a, 0);
  RouteParams p;
  p.method = RouteMethod(a.oneOf("method", {"softmax_topk", "topk_softmax", "sigmoid_topk", "xmoe_threshold", "top_p", "external"}));
  const bool external = p.method == RouteMethod::External;
  const bool threshold = p.method == RouteMethod::XmoeThreshold || p.method == RouteMethod::TopP;
  p.tokens = int32_t(a.integer("tokens", 0, kI32Max));
  p.experts = int32_t(a.integer("experts", 1, external ? kI32Max : moe::cuda::kRouteMaxExperts));
  p.k = int32_t(a.integer("k", threshold ? 0 : 1, threshold ? 0 : (external ? kI32Max : p.experts)));
  p.kmax = int32_t(a.integer("kmax", threshold ? 1 : p.k, external ? kI32Max : p.experts));
  if (p.kmax < p.k) a.rangeError("kmax", "must be at least k");
  p.renormalize = a.has("renormalize") && a.boolean("renormalize");
  p.scale = a.has("scale") ? a.number("scale", 0, 1e300) : 1.0;
  p.threshold = threshold ? a.number("threshold", 0, 1) : 0.0;
  if (a.has("groups")) {
    p.groups = int32_t(a.integer("groups", 1, p.experts));
    if (p.experts % p.groups) a.rangeError("groups", "must divide experts");
    p.topk_groups = int32_t(a.integer("topkGroups", 1, p.groups));
    p.group_top_n = int32_t(a.integer("groupTopN", 1, p.experts / p.groups));
    if (p.groups > 1 && p.k > int64_t(p.topk_groups) * (p.experts / p.groups)) a.rangeError("k", "exceeds the experts of the kept groups");
  }
  const int64_t T = p.tokens, E = p.experts, K = p.kmax, slots = T * K;
  if (external) {
    p.ext_ids = static_cast<const int32_t*>(st.in("extIds", DType::I32, T * p.k));
    p.ext_weights = static_cast<const float*>(st.optIn("extWeights", DType::F32, T * p.k));
    if (const auto* h = static_cast<const int32_t*>(st.hostData("extIds"))) {
      for (int64_t i = 0; i < T * p.k; ++i) {
        if (h[i] < -1 || h[i] >= E) a.rangeError("extIds", "must hold ids in [-1, experts)");
      }
    }
  } else {
    p.logits_dtype = a.has("logitsDtype") ? a.floatDtype("logitsDtype") : DType::F32;
    p.logits = st.in("logits", p.logits_dtype, T * E);
    p.scores = static_cast<float*>(st.out("scores", DType::F32, T * E));
    p.bias = static_cast<const float*>(st.optIn("bias", DType::F32, E));
    p.zero_gate = st.optMask("zeroGate", E);
    if (a.has("pruneBeta")) {
      p.prune = true;
      p.prune_beta = a.number("pruneBeta", 0, 1);
      p.prune_protect = st.optMask("pruneProtect", T);
      p.prune_drop_all = st.optMask("pruneDropAll", T);
    }
  }
  p.ids = static_cast<int32_t*>(st.out("ids", DType::I32, slots));
  p.weights = static_cast<float*>(st.out("weights", DType::F32, slots));
  p.counts = static_cast<int32_t*>(st.out("counts", DType::I32, T));
  if (a.has("cap")) {
    p.capacity = true;
    p.cap = int32_t(a.integer("cap", 0, kI32Max));
    p.policy = moe::cuda::DropPolicy(a.oneOf("policy", {"position", "probs", "rank_then_position"}));
    p.renormalize_survivors = a.has("renormalizeSurvivors") && a.boolean("renormalizeSurvivors");
    p.selected_ids = static_cast<int32_t*>(st.out("selectedIds", DType::I32, slots));
    p.keep = static_cast<int32_t*>(st.out("keep", DType::I32, slots));
    p.load = static_cast<int32_t*>(st.out("load", DType::I32, E));
    p.demand = static_cast<int32_t*>(st.out("demand", DType::I32, E));
  }
  if (!moe::cuda::route_supported(p)) a.rangeError("experts", "is above what the CUDA route kernel supports (1024)");
  const size_t ws_bytes = moe::cuda::route_workspace_bytes(p);
  void* ws = st.scratch(ws_bytes);
  return [st, p, ws, ws_bytes]() -> Result {
    return st.run([&](cudaStream_t s) { return moe::cuda::route_launch(p, ws, ws_bytes, s); });
  };
}

}  // namespace

MOE_CUDA_OP("cudaRoute", "route", prepareRoute);

#endif  // MOE_WITH_CUDA
