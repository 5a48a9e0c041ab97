// unpermute (combine) on CUDA: out_t = Σ_j w[t,j] · expert_{ids[t,j]}(u_t) + shared_t + residual_t.
// Plain C++ for the bindings; every pointer is device memory, the output preallocated.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "../common/tensor_view.h"

namespace moe::cuda {

// Special (zero-computation) experts are passed as parallel lists: special_ids[i] has kind special_kind[i]
// = kUnpermuteZero, kUnpermuteCopy, or c >= 0 for constant expert c (row c of wc and v).
constexpr int32_t kUnpermuteZero = -1;
constexpr int32_t kUnpermuteCopy = -2;
constexpr int kUnpermuteMaxSpecial = 256;

struct UnpermuteParams {
  int32_t tokens = 0, hidden = 0, kmax = 0;
  int64_t rows = 0;
  const void* y = nullptr;  // [rows, hidden]
  DType y_dtype = DType::F32;
  const int32_t* ids = nullptr;          // [tokens, kmax]
  const float* weights = nullptr;        // [tokens, kmax]
  const int32_t* slot_to_row = nullptr;  // [tokens, kmax], -1 = no FFN row
  const int32_t* special_ids = nullptr;  // [n_special]
  const int32_t* special_kind = nullptr; // [n_special]
  int32_t n_special = 0;
  int32_t n_constant = 0;
  const float* wc = nullptr;  // [n_constant, 2, hidden]
  const float* v = nullptr;   // [n_constant, hidden]
  const void* x = nullptr;    // [tokens, hidden], required with copy / constant experts
  DType x_dtype = DType::F32;
  double input_scale = 1.0;
  const void* shared = nullptr;  // [tokens, hidden] or null
  DType shared_dtype = DType::F32;
  const void* residual = nullptr;  // [tokens, hidden] or null
  DType residual_dtype = DType::F32;
  void* out = nullptr;  // [tokens, hidden]
  DType out_dtype = DType::F32;
};

bool unpermute_supported(const UnpermuteParams& p);
cudaError_t unpermute_launch(const UnpermuteParams& p, cudaStream_t stream);

}  // namespace moe::cuda
