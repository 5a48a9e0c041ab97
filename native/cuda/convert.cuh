// convert on CUDA: f32 <-> bf16 / f16 (round to nearest even, NaN stays a quiet NaN with its sign).
// Plain C++ for the bindings; both pointers are device memory (exactly in place is allowed for equal sizes).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "../common/tensor_view.h"

namespace moe::cuda {

cudaError_t convert_launch(const void* x, DType from, void* out, DType to, int64_t n, cudaStream_t stream);

}  // namespace moe::cuda
