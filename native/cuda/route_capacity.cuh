// route's capacity step (SPEC §3) on CUDA: internal to route.cu, which runs it after the routing kernel.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "route.cuh"

namespace moe::cuda {

// Scratch for the float64 pre-scale gates [T, kmax] and the slot sort behind the drop policies.
size_t route_capacity_workspace_bytes(const RouteParams& p);
// Where the routing kernel leaves the pre-scale gates inside that workspace.
double* route_capacity_gates(const RouteParams& p, void* workspace);
// Drops assignments beyond p.cap per expert and writes ids, weights, counts, selected_ids, keep, load, demand.
cudaError_t route_capacity_launch(const RouteParams& p, void* workspace, cudaStream_t stream);

}  // namespace moe::cuda
