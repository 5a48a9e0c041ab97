// router_stats on CUDA (SPEC §6): per-expert counts and score sums, z-loss and entropy sums.
// Plain C++ for the bindings; every pointer is device memory, outputs preallocated.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace moe::cuda {

// The scalar results, written to one device struct. All float64, so the bindings can hand it to JS as a
// Float64Array(4); the two counts are exact (integers below 2^53, summed exactly in any order).
struct RouterStatsScalars {
  double tokens;       // unmasked tokens
  double selections;   // valid (token, slot) selections
  double z_square_sum; // Σ_t logsumexp(z_t)² (0 when no logits)
  double entropy_sum;  // Σ_t -Σ_e p log p
};

struct RouterStatsParams {
  int32_t tokens = 0, kmax = 0, experts = 0;
  const int32_t* ids = nullptr;     // [tokens, kmax], -1 = empty
  const float* scores = nullptr;    // [tokens, experts]
  const float* logits = nullptr;    // [tokens, experts] or null
  bool normalize_scores = false;
  const uint8_t* token_mask = nullptr;  // [tokens] 0 = padding, or null
  int32_t* counts = nullptr;        // [experts]
  int32_t* top1_counts = nullptr;   // [experts]
  float* prob_sum = nullptr;        // [experts]
  RouterStatsScalars* scalars = nullptr;
};

size_t router_stats_workspace_bytes(const RouterStatsParams& p);
cudaError_t router_stats_launch(const RouterStatsParams& p, void* workspace, size_t workspace_bytes, cudaStream_t stream);

}  // namespace moe::cuda
