// permute on CUDA: a stable counting sort of the routed slots by expert segment, then a gather of the
// token rows (ARCHITECTURE "permute"). Plain C++ for the bindings; every pointer is device memory.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "../common/tensor_view.h"

namespace moe::cuda {

// The counting sort alone: for slots (t, r) of ids [tokens, kmax] with segment s = segment_of[id] >= 0 (or
// s = id when segment_of is null), in the stable order (rank r, then token t): tokens_per_segment [S],
// offsets [S + 1] (segments padded to a multiple of `align`), slot_to_row [tokens, kmax] (-1 for slots
// without a segment, and for rows past rows_capacity), row_to_token [rows_capacity] (-1 for padding).
// Also used by route's capacity step.
struct SlotSortParams {
  int32_t tokens = 0, kmax = 0;
  const int32_t* ids = nullptr;         // [tokens, kmax], -1 = empty
  const int32_t* segment_of = nullptr;  // [total_experts] or null (identity; ids must then be < segments)
  int32_t segments = 0;
  int32_t total_experts = 0;  // length of segment_of; ids >= it (and segments >= `segments`) are skipped, so
                              // bad device-resident ids cannot make the kernels read or write out of bounds
  int32_t align = 1;
  int64_t rows_capacity = 0;  // rows the row buffers hold (exact R, or a bound: permute_rows_bound)
  int32_t* offsets = nullptr;             // [segments + 1]
  int32_t* tokens_per_segment = nullptr;  // [segments]
  int32_t* slot_to_row = nullptr;         // [tokens, kmax]
  int32_t* row_to_token = nullptr;        // [rows_capacity]
  int32_t* overflow = nullptr;            // optional [1]: set to 1 when offsets[segments] > rows_capacity
};
size_t slot_sort_workspace_bytes(int64_t tokens, int64_t kmax, int64_t segments);
cudaError_t slot_sort_launch(const SlotSortParams& p, void* workspace, size_t workspace_bytes, cudaStream_t stream);

struct PermuteParams {
  SlotSortParams sort;  // ids, segment_of (required), segments = experts, align, outputs
  int32_t hidden = 0;
  const void* x = nullptr;  // [tokens, hidden] of dtype
  DType dtype = DType::F32;
  double scale = 1.0;       // rows = scale * x (bit copies when 1)
  void* rows = nullptr;     // [rows_capacity, hidden] of dtype; rows >= offsets[experts] are not written
};

// Rows that any routing of this shape can need: T*kmax + min(S, T*kmax)*(align-1). Lets device callers
// size the row buffers without reading the ids back (no host sync).
int64_t permute_rows_bound(int64_t tokens, int64_t kmax, int64_t segments, int64_t align);
size_t permute_workspace_bytes(const PermuteParams& p);
cudaError_t permute_launch(const PermuteParams& p, void* workspace, size_t workspace_bytes, cudaStream_t stream);

}  // namespace moe::cuda
