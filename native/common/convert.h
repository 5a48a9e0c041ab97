// convert: out = x converted to out's dtype, element by element; shapes are irrelevant (numel must match).
//   f32 -> bf16 / f16: round to nearest, ties to even; f16 overflows to ±inf and keeps subnormals; NaN stays
//                      a quiet NaN with its sign (bf16 keeps the top payload bits, f16 becomes ±0x7e00).
//   bf16 / f16 -> f32: exact (an f16 NaN is quieted, sign and payload kept, as F16C does).
//   bf16 <-> f16:      widen to f32 exactly, then one rounding. Same dtype: a copy of the bits.
// This is lib/dtype.ts bit for bit; lib/reference/convert.ts is the oracle.
#pragma once

#include "status.h"
#include "tensor_view.h"

namespace moe {

struct ConvertArgs {
  TensorView x;    // f32 / bf16 / f16, any shape
  TensorView out;  // f32 / bf16 / f16, x.numel() elements; disjoint from x, or exactly x's memory when the
                   // element sizes match (each element is read before it is written)
};

namespace cpu {
Status convert(const ConvertArgs& a);
}  // namespace cpu

}  // namespace moe
