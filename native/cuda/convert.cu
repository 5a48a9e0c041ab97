// convert: y[i] = to(x[i]) for n elements, bit-exact with lib/dtype.ts (common.cuh's conversions).
// Same dtype is a byte copy (NaN payloads survive); otherwise x -> f32 (exact) -> `to` (one rounding).
// Grid-stride, a thread per element: memory-bound, and every element does a few integer ops.

#include "convert.cuh"

#include "common.cuh"

namespace moe::cuda {
namespace {

__global__ void convert_kernel(const void* x, DType from, void* out, DType to, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    store_f32(out, to, i, load_f32(x, from, i));
  }
}

}  // namespace

cudaError_t convert_launch(const void* x, DType from, void* out, DType to, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (from == to) {
    if (x == out) return cudaSuccess;
    return cudaMemcpyAsync(out, x, size_t(n) * dtypeSize(from), cudaMemcpyDeviceToDevice, stream);
  }
  // Enough blocks to fill any current GPU several times over; the loop covers the rest.
  const int64_t blocks = ceil_div64(n, 256) < 65536 ? ceil_div64(n, 256) : 65536;
  convert_kernel<<<unsigned(blocks), 256, 0, stream>>>(x, from, out, to, n);
  MOE_CUDA_LAUNCHED();
  return cudaSuccess;
}

}  // namespace moe::cuda
