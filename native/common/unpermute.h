// unpermute (combine): out_t = Σ_j w[t,j] · E_{ids[t,j]}(u_t) + shared_t + residual_t, u = inputScale · x.
//   y [rows, hidden] FFN expert outputs in permute's row order; ids, weights, slotToRow [tokens, kmax];
//   x, shared, residual, out [tokens, hidden]; y, x, shared, residual, out each f32 / bf16 / f16.
// Slot (t, j) with slotToRow = r >= 0 adds w · y[r]. A slot without a row adds, by the kind of its id:
// copy expert w · u_t; constant expert c w · (a1 · u_t + a2 · v_c) with (a1, a2) = softmax(Wc_c u_t)
// (the two logits in f64); zero experts, id -1 and any other id nothing. Slots are summed in slot order
// in f32 (acc = acc + c · v, no FMA, so every SIMD path gives the same bits), then shared, then residual
// are added and the sum is rounded once to out's dtype (round to nearest even). lib/reference/unpermute.ts
// is the oracle (f64 accumulation: 1e-5 norm-wise for f32 out, 1e-2 for half).
#pragma once

#include <cstdint>

#include "status.h"
#include "tensor_view.h"

namespace moe {

struct UnpermuteArgs {
  const void* y;                  // [rows, hidden]
  DType yDtype;
  int64_t rows, tokens, hidden, kmax;
  const int32_t* ids;             // [tokens, kmax]
  const float* weights;           // [tokens, kmax]
  const int32_t* slotToRow;       // [tokens, kmax], each -1 or in [0, rows)
  const int32_t* zeroExperts;     // [nZero]  (expert ids; the three lists are disjoint)
  int64_t nZero;
  const int32_t* copyExperts;     // [nCopy]
  int64_t nCopy;
  const int32_t* constantIds;     // [nConst]
  int64_t nConst;
  const float* wc;                // [nConst, 2, hidden] f32, non-null when nConst > 0
  const float* v;                 // [nConst, hidden] f32, non-null when nConst > 0
  const void* x;                  // [tokens, hidden] or null; non-null when nCopy + nConst > 0
  DType xDtype;
  double inputScale;              // finite
  const void* shared;             // [tokens, hidden] or null
  DType sharedDtype;
  const void* residual;           // [tokens, hidden] or null
  DType residualDtype;
  void* out;                      // [tokens, hidden], every element written
  DType outDtype;
};

namespace cpu {

// Runs on the process's thread pool with the SIMD path in effect. Each output element is computed by one
// task in a fixed order: bitwise the same for every thread count and every SIMD path. Checks slotToRow and
// the pointers it needs before writing anything (InvalidArgument); OutOfMemory if scratch fails.
Status unpermute(const UnpermuteArgs& a);

}  // namespace cpu
}  // namespace moe
