// grouped_gemm on CUDA: Y[r, :] = act(A[r, :] · W[e]ᵀ + bias[e, :] + addend[r, :]) for the rows r of expert e.
// Plain C++ for the bindings; every pointer is device memory, outputs preallocated.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "../common/tensor_view.h"

namespace moe::cuda {

// Same order as ACTIVATIONS in lib/ops/grouped_gemm.types.ts.
enum class Activation : int32_t { None = 0, Relu, Gelu, GeluTanh, Silu, Swiglu, Geglu, Tanh, Sigmoid };
enum class GluLayout : int32_t { Halves = 0, Interleaved = 1 };
// Auto picks by shape and device; the others force a kernel (harnesses and the GPU check compare them).
enum class GemmPath : int32_t { Auto = 0, Simt = 1, TensorCore = 2, Decode = 3 };

struct GroupedGemmParams {
  int64_t rows = 0, k = 0, n = 0, experts = 0;  // A [rows, k], W [experts, n, k]
  const void* a = nullptr;
  DType a_dtype = DType::F32;
  const void* w = nullptr;
  DType w_dtype = DType::F32;
  const int32_t* offsets = nullptr;  // [experts + 1], device; rows of e are offsets[e] .. offsets[e+1]-1
  const float* bias = nullptr;       // [experts, n] or null
  const float* addend = nullptr;     // [rows, n] or null
  Activation activation = Activation::None;
  GluLayout glu_layout = GluLayout::Halves;
  void* out = nullptr;  // [rows, n] or [rows, n / 2] for swiglu / geglu, of out_dtype
  DType out_dtype = DType::F32;
  GemmPath path = GemmPath::Auto;
};

// The kernel Auto would run (TensorCore only on compute capability >= 8.0 with bf16/f16 A and W of the same
// type, k % 8 == 0 and 16-byte aligned A and W; Decode for few rows per expert; else Simt).
GemmPath grouped_gemm_choose_path(const GroupedGemmParams& p);
const char* grouped_gemm_path_name(GemmPath path);
cudaError_t grouped_gemm_launch(const GroupedGemmParams& p, cudaStream_t stream);

}  // namespace moe::cuda
