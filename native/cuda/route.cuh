// route on CUDA: logits [T, E] -> ids / weights [T, kmax], counts [T], scores [T, E] (SPEC §1–§4, §7, §8).
// Plain C++: the bindings (g++) include it. Every pointer is device memory; outputs are preallocated.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "../common/tensor_view.h"

namespace moe::cuda {

enum class RouteMethod : int32_t { SoftmaxTopk = 0, TopkSoftmax = 1, SigmoidTopk = 2, XmoeThreshold = 3, TopP = 4, External = 5 };
enum class DropPolicy : int32_t { Position = 0, Probs = 1, RankThenPosition = 2 };

// The fused kernel keeps a row in one warp's registers: experts up to this many.
constexpr int kRouteMaxExperts = 1024;

struct RouteParams {
  RouteMethod method = RouteMethod::SoftmaxTopk;
  int32_t tokens = 0, experts = 0;
  int32_t k = 0;     // picks for the top-k methods; the ids width for External; 0 for the thresholds
  int32_t kmax = 0;  // width of ids / weights
  bool renormalize = false;
  int32_t groups = 1, topk_groups = 1, group_top_n = 1;
  double scale = 1.0;
  double threshold = 0.0;
  // Inputs (device). logits [T, E] of logits_dtype (F32, BF16 or F16); null for External.
  const void* logits = nullptr;
  DType logits_dtype = DType::F32;
  const float* bias = nullptr;         // [E] selection-only bias, or null
  const uint8_t* zero_gate = nullptr;  // [E] 1 = gate set to 0 before renormalisation, or null
  bool prune = false;
  double prune_beta = 0.0;
  const uint8_t* prune_protect = nullptr;   // [T] or null
  const uint8_t* prune_drop_all = nullptr;  // [T] or null
  const int32_t* ext_ids = nullptr;         // External: [T, k]
  const float* ext_weights = nullptr;       // External: [T, k] or null (= 1)
  // Capacity (SPEC §3); cap is resolved on the host by lib/ops/route.ts.
  bool capacity = false;
  DropPolicy policy = DropPolicy::Position;
  int32_t cap = 0;
  bool renormalize_survivors = false;
  // Outputs (device).
  int32_t* ids = nullptr;      // [T, kmax]
  float* weights = nullptr;    // [T, kmax]
  int32_t* counts = nullptr;   // [T]
  float* scores = nullptr;     // [T, E]; required for the scored methods
  int32_t* selected_ids = nullptr;  // capacity: [T, kmax] ids before dropping
  int32_t* keep = nullptr;          // capacity: [T, kmax] 1 = survived
  int32_t* load = nullptr;          // capacity: [E] kept per expert
  int32_t* demand = nullptr;        // capacity: [E] picks per expert before dropping
};

// True when the CUDA kernels implement this configuration (else the caller uses the CPU backend).
bool route_supported(const RouteParams& p);
// Device scratch the launch needs (0 without capacity); pass at least this many bytes.
size_t route_workspace_bytes(const RouteParams& p);
// Enqueue the whole op on `stream` (no host synchronisation; CUDA-graph safe).
cudaError_t route_launch(const RouteParams& p, void* workspace, size_t workspace_bytes, cudaStream_t stream);

}  // namespace moe::cuda
