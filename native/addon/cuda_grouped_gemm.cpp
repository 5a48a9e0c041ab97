// JS binding of grouped_gemm on CUDA: cudaGroupedGemm(args) / cudaGroupedGemmAsync(args)
// (lib/backends/cuda/grouped_gemm.ts). Fields: rows, k, n, experts; a [rows, k] (aDtype), w [experts, n, k]
// (wDtype), offsets [experts + 1] i32, bias? [experts, n] f32, addend? [rows, n] f32, activation,
// gluLayout, path? ('auto' | 'simt' | 'tensor_core' | 'decode'); output out [rows, nOut] (outDtype).

#if defined(MOE_WITH_CUDA)

#include "../cuda/grouped_gemm.cuh"

#include "cuda_binding.h"

namespace {

using moe::DType;
using moe::addon::Args;
using namespace moe::addon::cuda;
using moe::cuda::Activation;

constexpr int64_t kI32Max = 2147483647;

CudaWork prepareGroupedGemm(Args& a) {
  Staging st(a, 0);
  moe::cuda::GroupedGemmParams p;
  p.rows = a.integer("rows", 0, kI32Max);
  p.k = a.integer("k", 0, kI32Max);
  p.n = a.integer("n", 0, kI32Max);
  p.experts = a.integer("experts", 1, kI32Max);
  p.activation = Activation(a.oneOf("activation", {"none", "relu", "gelu", "gelu_tanh", "silu", "swiglu", "geglu", "tanh", "sigmoid"}));
  p.glu_layout = moe::cuda::GluLayout(a.has("gluLayout") ? a.oneOf("gluLayout", {"halves", "interleaved"}) : 0);
  const bool glu = p.activation == Activation::Swiglu || p.activation == Activation::Geglu;
  if (glu && p.n % 2) a.rangeError("n", "must be even for swiglu / geglu");
  const int64_t n_out = glu ? p.n / 2 : p.n;
  p.path = moe::cuda::GemmPath(a.has("path") ? a.oneOf("path", {"auto", "simt", "tensor_core", "decode"}) : 0);
  p.a_dtype = a.floatDtype("aDtype");
  p.w_dtype = a.floatDtype("wDtype");
  p.out_dtype = a.floatDtype("outDtype");
  p.a = st.in("a", p.a_dtype, p.rows * p.k);
  // Three int32 sizes: their int64 product can wrap, so it is checked (the other products here are of two).
  p.w = st.in("w", p.w_dtype, moe::addon::elementCount(a, "w", p.experts * p.n, p.k));
  p.offsets = static_cast<const int32_t*>(st.in("offsets", DType::I32, p.experts + 1));
  if (const auto* h = static_cast<const int32_t*>(st.hostData("offsets"))) {
    bool ok = h[0] == 0 && h[p.experts] == p.rows;
    for (int64_t e = 0; e < p.experts && ok; ++e) ok = h[e] <= h[e + 1];
    if (!ok) a.rangeError("offsets", "must start at 0, not decrease and end at rows");
  }
  p.bias = static_cast<const float*>(st.optIn("bias", DType::F32, p.experts * p.n));
  p.addend = static_cast<const float*>(st.optIn("addend", DType::F32, p.rows * p.n));
  p.out = st.out("out", p.out_dtype, p.rows * n_out);
  return [st, p]() -> Result {
    return st.run([&](cudaStream_t s) { return moe::cuda::grouped_gemm_launch(p, s); });
  };
}

}  // namespace

MOE_CUDA_OP("cudaGroupedGemm", "grouped_gemm", prepareGroupedGemm);

#endif  // MOE_WITH_CUDA
