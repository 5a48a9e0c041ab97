// permute (dispatch): a stable counting sort of the FFN-routed slots by expert, gathering each slot's
// token row into its expert's contiguous segment of `rows`.
//   x [tokens, hidden] (f32 / bf16 / f16), ids [tokens, kmax] int32 (-1 = empty slot)
//   -> rows [R, hidden] (x's dtype), slotToRow [tokens, kmax], rowToToken [R].
// Segment s holds rows offsets[s] .. offsets[s+1]-1 in the stable order (slot rank, token): all rank-0
// picks of s in token order, then rank-1 picks, ... (SPEC §3). Slot (t, j) goes to segment segmentOf[id]
// (-1: zero-computation expert or another rank's expert: not gathered, slotToRow = -1). The rows of a
// segment past its real count are padding: zero rows with rowToToken = -1. scale == 1: rows are bit copies
// of x; otherwise rows = round(f64(x) · scale) to x's dtype through f32, as lib/reference/permute.ts.
// The layout (offsets, R) comes from permuteLayout in lib/ops/permute.ts; lib/reference/permute.ts is the
// oracle.
#pragma once

#include <cstdint>

#include "status.h"
#include "tensor_view.h"

namespace moe {

struct PermuteArgs {
  const void* x;             // [tokens, hidden]
  DType dtype;               // of x and rows: F32, BF16 or F16
  int64_t tokens, hidden, kmax;
  const int32_t* ids;        // [tokens, kmax], each -1 or in [0, totalExperts)
  int64_t experts;           // segments, >= 1
  int64_t totalExperts;      // length of segmentOf
  const int32_t* segmentOf;  // [totalExperts], each -1 or in [0, experts)
  const int32_t* offsets;    // [experts + 1], 0 = offsets[0] <= ... <= offsets[experts] = rowCount
  int64_t rowCount;          // R
  double scale;              // finite
  void* rows;                // [R, hidden], every element written
  int32_t* slotToRow;        // [tokens, kmax], every element written
  int32_t* rowToToken;       // [R], every element written
};

namespace cpu {

// Runs on the process's thread pool with the SIMD path in effect (simdPath()). Checks everything that
// could make it write out of bounds (ids, segmentOf, offsets, segment sizes against the real counts)
// before writing anything and returns InvalidArgument then. Results are bitwise the same for every
// thread count and every SIMD path.
Status permute(const PermuteArgs& a);

}  // namespace cpu
}  // namespace moe
