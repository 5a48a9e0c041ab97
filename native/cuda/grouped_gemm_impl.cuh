// Internals shared by the grouped_gemm kernels (grouped_gemm.cu, grouped_gemm_tc.cu): the fused epilogue
// and the "virtual column" mapping that makes the GLU layouts one code path.
//
// Every kernel computes a virtual product P[r, v] = A[r] · W[e][wrow(v)] for v in [0, n). Without a GLU,
// wrow(v) = v and output column v = act(P + bias + addend). With swiglu / geglu the virtual columns are
// interleaved (gate, up) pairs: v = 2q is the gate and v = 2q + 1 the up row of output column q, so
// wrow(v) = v for 'interleaved' and (v odd ? n/2 : 0) + v/2 for 'halves'. Kernels hand the epilogue
// adjacent (even, odd) virtual columns of a row, which is how their register tiles already lie.
#pragma once

#include "common.cuh"
#include "grouped_gemm.cuh"

namespace moe::cuda {

struct GemmArgs {
  int64_t rows, k, n, n_out;
  int experts;
  const void* a;
  const void* w;
  const int32_t* offsets;
  const float* bias;
  const float* addend;
  Activation act;
  bool glu, halves;
  void* out;
  DType out_dtype;
};

__device__ __forceinline__ int64_t wrow_of(const GemmArgs& g, int64_t v) {
  if (!g.glu || !g.halves) return v;
  return (v & 1) ? g.n_out + (v >> 1) : (v >> 1);
}

// ---- activations in f32, with the reference's limits (silu/gelu(-inf) = -0) and stable forms ----
__device__ __forceinline__ float act_sigmoid(float x) {
  if (x >= 0.f) return 1.f / (1.f + expf(-x));
  const float e = expf(x);
  return e / (1.f + e);
}
__device__ __forceinline__ float act_silu(float x) { return x == -INFINITY ? -0.f : x * act_sigmoid(x); }
__device__ __forceinline__ float act_gelu(float x) {
  return x == -INFINITY ? -0.f : 0.5f * x * erfcf(-x * 0.70710678118654752f);
}
__device__ __forceinline__ float act_gelu_tanh(float x) {
  if (x == -INFINITY) return -0.f;
  const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return x * act_sigmoid(2.f * u);  // (1 + tanh u) / 2 = sigmoid(2u): no cancellation for x < 0
}
__device__ __forceinline__ float activate(Activation a, float x) {
  switch (a) {
    case Activation::Relu: return (x > 0.f || x != x) ? x : 0.f;
    case Activation::Gelu: return act_gelu(x);
    case Activation::GeluTanh: return act_gelu_tanh(x);
    case Activation::Silu: return act_silu(x);
    case Activation::Tanh: return tanhf(x);
    case Activation::Sigmoid: return act_sigmoid(x);
    default: return x;
  }
}

__device__ __forceinline__ float add_bias(const GemmArgs& g, int e, int64_t r, int64_t col, float acc) {
  if (g.bias) acc += g.bias[int64_t(e) * g.n + col];
  if (g.addend) acc += g.addend[r * g.n + col];
  return acc;
}

// Virtual columns v (even) and v + 1 of row r: p0, p1 are the raw products.
__device__ __forceinline__ void epilogue_pair(const GemmArgs& g, int e, int64_t r, int64_t v, float p0, float p1) {
  if (g.glu) {
    const int64_t q = v >> 1;
    if (q >= g.n_out) return;
    const float gate = add_bias(g, e, r, wrow_of(g, v), p0);
    const float up = add_bias(g, e, r, wrow_of(g, v + 1), p1);
    const float a = g.act == Activation::Geglu ? act_gelu(gate) : act_silu(gate);
    store_f32(g.out, g.out_dtype, r * g.n_out + q, a * up);
    return;
  }
  if (v < g.n) store_f32(g.out, g.out_dtype, r * g.n_out + v, activate(g.act, add_bias(g, e, r, v, p0)));
  if (v + 1 < g.n) store_f32(g.out, g.out_dtype, r * g.n_out + v + 1, activate(g.act, add_bias(g, e, r, v + 1, p1)));
}

// Upper bound on the tiles of tile_rows rows over all experts (the grid's x size): see find_tile.
inline int64_t gemm_tile_bound(int64_t rows, int64_t experts, int64_t tile_rows) {
  return ceil_div64(rows, tile_rows) + (experts < rows ? experts : rows);
}

cudaError_t grouped_gemm_tc_launch(const GemmArgs& g, DType ab, cudaStream_t stream);

}  // namespace moe::cuda
