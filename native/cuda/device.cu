// Lazy CUDA discovery and a self-test. Static cudart lets the .node load on a machine without a driver;
// the first runtime call then fails with cudaErrorInsufficientDriver, which we turn into a plain message.
// With a GPU we also launch one fill kernel on device 0: a binary built for other architectures loads,
// counts the device, and fails only at the first launch (cudaErrorNoKernelImageForDevice), so the count
// alone would promise a GPU we cannot use.

#include "device.cuh"

#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>
#include <string>

#ifndef MOE_CUDA_ARCHS_STR
#define MOE_CUDA_ARCHS_STR "unknown"
#endif

namespace moe::cuda {
namespace {

// dst[i] = value for i < n. The smallest real kernel: proves device code was built and can run.
__global__ void fill_f32_kernel(float* dst, float value, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = value;
}

std::string errorText(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

std::string describe(cudaError_t e) {
  switch (e) {
    case cudaErrorInsufficientDriver:
      return "no usable GPU (driver missing or older than R580): " + errorText(e);
    case cudaErrorNoDevice:
      return "no usable GPU (no CUDA device found; check CUDA_VISIBLE_DEVICES): " + errorText(e);
    default:
      return "no usable GPU: " + errorText(e);
  }
}

// Fill 37 floats (odd, more than one warp) on device 0 and read them back.
std::string selfTest() {
  constexpr int64_t n = 37;
  constexpr float value = 1.5f;
  cudaError_t e = cudaSetDevice(0);
  if (e != cudaSuccess) return describe(e);
  float* d = nullptr;
  e = cudaMalloc(&d, n * sizeof(float));
  if (e != cudaSuccess) return describe(e);
  fill_f32_kernel<<<1, 64>>>(d, value, n);
  e = cudaGetLastError();
  float h[n] = {};
  if (e == cudaSuccess) e = cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost);
  cudaFree(d);
  if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorInvalidPtx || e == cudaErrorUnsupportedPtxVersion) {
    cudaDeviceProp p{};
    cudaGetDeviceProperties(&p, 0);
    return "no usable GPU: this binary has no code for " + std::string(p.name) + " (compute capability " +
           std::to_string(p.major) + "." + std::to_string(p.minor) + "); it was built for MOE_CUDA_ARCHS=" +
           MOE_CUDA_ARCHS_STR + ": " + errorText(e);
  }
  if (e != cudaSuccess) return describe(e);
  for (int64_t i = 0; i < n; ++i) {
    if (h[i] != value) return "no usable GPU: the self-test kernel wrote wrong values on device 0";
  }
  return "";
}

DeviceInfo query() {
  DeviceInfo info;
  cudaRuntimeGetVersion(&info.runtimeVersion);  // needs no driver
  cudaDriverGetVersion(&info.driverVersion);    // sets 0 when there is no driver
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    info.error = describe(e);
    cudaGetLastError();  // reset the per-thread last error so later calls do not report it
    return info;
  }
  if (count == 0) {
    info.error = describe(cudaErrorNoDevice);
    return info;
  }
  info.error = selfTest();
  info.devices = info.error.empty() ? count : 0;
  return info;
}

}  // namespace

const DeviceInfo& deviceInfo() {
  static std::once_flag once;
  static DeviceInfo info;  // plain data, no JS handles: one per process is right
  std::call_once(once, [] { info = query(); });
  return info;
}

}  // namespace moe::cuda
