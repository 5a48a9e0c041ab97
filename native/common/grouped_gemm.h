// grouped_gemm: per-expert Y[r, :] = act(A[r, :] · W[e]ᵀ + bias[e, :] + addend[r, :]) for the rows r in
// [offsets[e], offsets[e+1]). A is [rows, K], W is [E, N, K] ([out, in], the checkpoint layout), bias [E, N]
// and addend [rows, N] are f32, out is [rows, N] or [rows, N/2] for the GLU activations. A, W and out are
// f32, bf16 or f16 (half types as raw bits); accumulation is f32; stores round to nearest even.
// A dense GEMM (the router projection) is one expert with offsets {0, rows}.
#pragma once

#include <cstdint>

#include "status.h"
#include "tensor_view.h"

namespace moe {

// The order is the TS ACTIVATIONS list (lib/ops/grouped_gemm.types.ts): the binding passes the index.
enum class Activation : int32_t { None = 0, Relu, Gelu, GeluTanh, Silu, Swiglu, Geglu, Tanh, Sigmoid };

// Where the gate and up columns of a GLU product live: Halves = gate 0..N/2-1, up N/2..N-1;
// Interleaved = gate at even columns, up at odd. The output column j is act(gate_j) * up_j.
enum class GluLayout : int32_t { Halves = 0, Interleaved = 1 };

struct GroupedGemmArgs {
  TensorView a;             // [rows, K]
  TensorView w;             // [experts, N, K]
  const int32_t* offsets;   // [experts + 1], 0 = offsets[0] <= ... <= offsets[experts] = rows
  int64_t experts;
  const float* bias;        // [experts, N] or null
  const float* addend;      // [rows, N] or null, added before the activation
  Activation act;
  GluLayout glu;
  TensorView out;           // [rows, N] or [rows, N/2] for Swiglu / Geglu; every element is written
};

}  // namespace moe

namespace moe::cpu {

// Runs on the process's thread pool with the SIMD path in effect (cpu::simdPath(), read once per call).
// Returns InvalidArgument for shapes that do not fit together (the binding checked them already; this is
// defence, nothing is written then). Never throws, never allocates outputs. The result is bitwise the
// same for every thread count on one path; paths differ in summation order (within the tolerances).
Status groupedGemm(const GroupedGemmArgs& args);

}  // namespace moe::cpu
