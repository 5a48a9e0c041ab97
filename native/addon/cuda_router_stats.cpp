// JS binding of router_stats on CUDA: cudaRouterStats(args) / cudaRouterStatsAsync(args)
// (lib/backends/cuda/router_stats.ts). Fields: tokens, kmax, experts, normalizeScores; ids [T, kmax] i32,
// scores [T, E] f32, logits? [T, E] f32, tokenMask? Uint8Array [T]; outputs counts / top1Counts [E] i32,
// probSum [E] f32, scalars: a Float32Array(8) viewing a Float64Array(4) = [tokens, selections,
// zSquareSum, entropySum] (the binding layer has no float64 reader; the TS side views the same bytes).

#if defined(MOE_WITH_CUDA)

#include "../cuda/router_stats.cuh"

#include "cuda_binding.h"

namespace {

using moe::DType;
using moe::addon::Args;
using namespace moe::addon::cuda;

constexpr int64_t kI32Max = 2147483647;

CudaWork prepareRouterStats(Args& a) {
  Staging st(a, 0);
  moe::cuda::RouterStatsParams p;
  const int64_t T = a.integer("tokens", 0, kI32Max), K = a.integer("kmax", 0, kI32Max);
  const int64_t E = a.integer("experts", 0, kI32Max);
  p.tokens = int32_t(T);
  p.kmax = int32_t(K);
  p.experts = int32_t(E);
  p.normalize_scores = a.has("normalizeScores") && a.boolean("normalizeScores");
  p.ids = static_cast<const int32_t*>(st.in("ids", DType::I32, T * K));
  p.scores = static_cast<const float*>(st.in("scores", DType::F32, T * E));
  p.logits = static_cast<const float*>(st.optIn("logits", DType::F32, T * E));
  p.token_mask = st.optMask("tokenMask", T);
  p.counts = static_cast<int32_t*>(st.out("counts", DType::I32, E));
  p.top1_counts = static_cast<int32_t*>(st.out("top1Counts", DType::I32, E));
  p.prob_sum = static_cast<float*>(st.out("probSum", DType::F32, E));
  static_assert(sizeof(moe::cuda::RouterStatsScalars) == 8 * sizeof(float), "scalars travel as 8 floats");
  p.scalars = static_cast<moe::cuda::RouterStatsScalars*>(st.out("scalars", DType::F32, 8));
  const size_t ws_bytes = moe::cuda::router_stats_workspace_bytes(p);
  void* ws = st.scratch(ws_bytes);
  return [st, p, ws, ws_bytes]() -> Result {
    return st.run([&](cudaStream_t s) { return moe::cuda::router_stats_launch(p, ws, ws_bytes, s); });
  };
}

}  // namespace

MOE_CUDA_OP("cudaRouterStats", "router_stats", prepareRouterStats);

#endif  // MOE_WITH_CUDA
