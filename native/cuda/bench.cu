// bench_spin_kernel: one thread reads %globaltimer (ns) until `ns` have passed. Used by the GPU check's
// timer (native/addon/cuda_timer.cpp) to hold the stream while the host enqueues the launches it times.

#include "bench.cuh"

#include <cstdint>

#include "common.cuh"

namespace moe::cuda {
namespace {

__device__ __forceinline__ uint64_t global_timer_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void bench_spin_kernel(uint64_t ns) {
  const uint64_t start = global_timer_ns();
  while (global_timer_ns() - start < ns) {
  }
}

}  // namespace

cudaError_t bench_spin_launch(double microseconds, cudaStream_t stream) {
  if (!(microseconds >= 0) || microseconds > 10e6) return cudaErrorInvalidValue;  // at most 10 s
  bench_spin_kernel<<<1, 1, 0, stream>>>(uint64_t(microseconds * 1000.0));
  MOE_CUDA_LAUNCHED();
  return cudaSuccess;
}

}  // namespace moe::cuda
