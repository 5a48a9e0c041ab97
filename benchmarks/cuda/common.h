// Shared helpers of the standalone CUDA harnesses (llm.c dev/cuda style): checks, a seeded RNG, host-side
// bf16 / f16 rounding identical to lib/dtype.ts, norm-wise relative error, CUDA-event timing (median of
// many runs) and the measured device-to-device copy bandwidth every GB/s figure is compared with.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#define cudaCheck(expr)                                                                          \
  do {                                                                                           \
    const cudaError_t e_ = (expr);                                                               \
    if (e_ != cudaSuccess) {                                                                     \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(e_)); \
      std::exit(1);                                                                              \
    }                                                                                            \
  } while (0)

// After a launcher and a sync: a fault inside the kernel surfaces here, not three calls later.
#define cudaCheckLaunch(expr)                  \
  do {                                         \
    cudaCheck(expr);                           \
    cudaCheck(cudaDeviceSynchronize());        \
  } while (0)

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9e3779b97f4a7c15ull + 1) {}
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  double normal() {
    const double u1 = uniform() + 1e-300, u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  int below(int n) { return int(next() % uint64_t(n)); }
};

// ---- host rounding, bit-identical to lib/dtype.ts ----
inline uint32_t f32_bits(float x) { uint32_t b; std::memcpy(&b, &x, 4); return b; }
inline float bits_f32(uint32_t b) { float x; std::memcpy(&x, &b, 4); return x; }
inline uint16_t host_f32_to_bf16(float x) {
  const uint32_t b = f32_bits(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) return uint16_t(((b >> 16) | 0x40u) & 0xffffu);
  return uint16_t((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}
inline float host_bf16_to_f32(uint16_t h) { return bits_f32(uint32_t(h) << 16); }
inline uint16_t host_f32_to_f16(float x) {
  const uint32_t b = f32_bits(x);
  const uint32_t sign = (b >> 16) & 0x8000u;
  const int exp = int((b >> 23) & 0xff);
  uint32_t mant = b & 0x7fffffu;
  if (exp == 0xff) return uint16_t(sign | (mant ? 0x7e00u : 0x7c00u));
  const int e = exp - 127;
  if (e > 15) return uint16_t(sign | 0x7c00u);
  if (e >= -14) {
    uint32_t h = (uint32_t(e + 15) << 10) | (mant >> 13);
    const uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h += 1;
    return uint16_t(sign | h);
  }
  if (e < -25) return uint16_t(sign);
  mant |= 0x800000u;
  const int shift = -1 - e;
  uint32_t h = mant >> shift;
  const uint32_t rest = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
  if (rest > half || (rest == half && (h & 1u))) h += 1;
  return uint16_t(sign | h);
}
inline float host_f16_to_f32(uint16_t h) {
  const double sign = (h & 0x8000u) ? -1.0 : 1.0;
  const int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0) return float(sign * mant * std::ldexp(1.0, -24));
  if (exp == 0x1f) return mant ? NAN : float(sign * INFINITY);
  return float(sign * (1.0 + mant / 1024.0) * std::ldexp(1.0, exp - 15));
}

// ‖out − ref‖ / ‖ref‖ (SPEC §12); NaN in either where the other is not NaN counts as a mismatch (inf).
inline double rel_err(const std::vector<float>& out, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const bool no = std::isnan(out[i]), nr = std::isnan(ref[i]);
    if (no || nr) {
      if (no != nr) return INFINITY;
      continue;
    }
    if (std::isinf(ref[i]) || std::isinf(out[i])) {
      if (double(out[i]) != ref[i]) return INFINITY;
      continue;
    }
    num += (double(out[i]) - ref[i]) * (double(out[i]) - ref[i]);
    den += ref[i] * ref[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

template <typename T>
T* to_device(const std::vector<T>& h) {
  T* d = nullptr;
  cudaCheck(cudaMalloc(&d, std::max<size_t>(1, h.size()) * sizeof(T)));
  if (!h.empty()) cudaCheck(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}
template <typename T>
std::vector<T> to_host(const T* d, size_t n) {
  std::vector<T> h(n);
  if (n) cudaCheck(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}
// Poison an output so elements the kernel forgets to write are caught (0xff bytes: NaN / -1).
inline void poison(void* d, size_t bytes) { cudaCheck(cudaMemset(d, 0xff, bytes)); }

// Median over `iters` timed runs (after `warmup`), each timed with its own pair of events. `run(i)` gets
// the iteration index so callers can rotate through buffers that together exceed L2.
inline float median_ms(const std::function<void(int)>& run, int warmup = 5, int iters = 50) {
  for (int i = 0; i < warmup; ++i) run(i);
  cudaCheck(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  cudaCheck(cudaEventCreate(&a));
  cudaCheck(cudaEventCreate(&b));
  std::vector<float> ms(iters);
  for (int i = 0; i < iters; ++i) {
    cudaCheck(cudaEventRecord(a));
    run(i);
    cudaCheck(cudaEventRecord(b));
    cudaCheck(cudaEventSynchronize(b));
    cudaCheck(cudaEventElapsedTime(&ms[i], a, b));
  }
  cudaCheck(cudaGetLastError());
  cudaCheck(cudaEventDestroy(a));
  cudaCheck(cudaEventDestroy(b));
  std::sort(ms.begin(), ms.end());
  return ms[iters / 2];
}

// Achieved device-to-device copy bandwidth (bytes read + written per second) on a 1 GiB copy: the
// ceiling the memory-bound ops are quoted against.
inline double measure_d2d_gbps() {
  const size_t bytes = size_t(1) << 30;
  void *x = nullptr, *y = nullptr;
  cudaCheck(cudaMalloc(&x, bytes));
  cudaCheck(cudaMalloc(&y, bytes));
  cudaCheck(cudaMemset(x, 1, bytes));
  const float ms = median_ms([&](int) { cudaCheck(cudaMemcpyAsync(y, x, bytes, cudaMemcpyDeviceToDevice)); }, 3, 20);
  cudaCheck(cudaFree(x));
  cudaCheck(cudaFree(y));
  return 2.0 * double(bytes) / (ms * 1e-3) / 1e9;
}

// How many copies of a `bytes` working set it takes to exceed L2 twice over (rotated between runs).
inline int rotations_for(size_t bytes) {
  int dev = 0, l2 = 0;
  cudaCheck(cudaGetDevice(&dev));
  cudaCheck(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
  const size_t want = 2 * size_t(l2);
  return int(std::min<size_t>(64, std::max<size_t>(1, (want + bytes - 1) / std::max<size_t>(bytes, 1))));
}

inline void print_device() {
  int dev = 0;
  cudaCheck(cudaGetDevice(&dev));
  cudaDeviceProp p{};
  cudaCheck(cudaGetDeviceProperties(&p, dev));
  int drv = 0, rt = 0;
  cudaDriverGetVersion(&drv);
  cudaRuntimeGetVersion(&rt);
  std::printf("device %s (cc %d.%d, %d SMs, L2 %d MB), driver %d, runtime %d\n", p.name, p.major, p.minor,
              p.multiProcessorCount, p.l2CacheSize >> 20, drv, rt);
}
