// A tiny test runner for the native CPU kernels (built under AddressSanitizer and UndefinedBehaviorSanitizer
// by test/native/CMakeLists.txt): CHECK macros that count and report failures, the loop over every SIMD
// path the machine has and 1 and 2 threads, and helpers every kernel test needs (seeded random data, exact
// size heap buffers so ASan sees one element past the end, bit views of floats).
// Each test executable returns non-zero when a CHECK failed; a sanitizer report aborts it (the build uses
// -fno-sanitize-recover=all).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "common/tensor_view.h"
#include "cpu/cpu_features.h"
#include "cpu/half.h"
#include "cpu/thread_pool.h"

namespace moe::test {

inline int& failures() {
  static int n = 0;
  return n;
}
inline int& checks() {
  static int n = 0;
  return n;
}
// What the current loop iteration runs with, printed with every failure.
inline std::string& context() {
  static std::string c;
  return c;
}

inline bool report(bool ok, const char* file, int line, const std::string& what) {
  ++checks();
  if (!ok) {
    if (++failures() <= 30) std::fprintf(stderr, "%s:%d: FAILED [%s] %s\n", file, line, context().c_str(), what.c_str());
  }
  return ok;
}

#define CHECK(cond) ::moe::test::report(static_cast<bool>(cond), __FILE__, __LINE__, #cond)
#define CHECK_MSG(cond, msg) ::moe::test::report(static_cast<bool>(cond), __FILE__, __LINE__, std::string(#cond) + ": " + (msg))
#define CHECK_EQ(a, b) \
  ::moe::test::report((a) == (b), __FILE__, __LINE__, std::string(#a " == " #b ": ") + std::to_string(a) + " vs " + std::to_string(b))

// Runs fn() once per (SIMD path the CPU supports) x (1, 2 threads), with context() naming the pair.
// Paths the machine lacks are reported once and skipped.
template <typename F>
void forEachConfig(const char* what, F fn) {
  using cpu::SimdPath;
  for (SimdPath p : {SimdPath::Scalar, SimdPath::Avx2, SimdPath::Avx512}) {
    if (cpu::setSimdPath(p) != p) {
      std::printf("  %s: %s path skipped (not supported here)\n", what, cpu::simdPathName(p));
      continue;
    }
    for (int threads : {1, 2}) {
      cpu::setNumThreads(threads);
      context() = std::string(what) + ", " + cpu::simdPathName(p) + ", " + std::to_string(threads) + " thread(s)";
      fn(p, threads);
    }
  }
  cpu::setSimdPath(cpu::bestSimdPath());
  cpu::setNumThreads(0);
  context() = what;
}

inline int finish(const char* name) {
  std::printf("%s: %d checks, %d failed\n", name, checks(), failures());
  return failures() == 0 ? 0 : 1;
}

// A seeded generator (splitmix64), the same numbers on every machine.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint32_t u32() { return static_cast<uint32_t>(next() >> 32); }
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
  float uniform(float lo = -1.f, float hi = 1.f) { return lo + (hi - lo) * static_cast<float>(next() >> 40) / 16777216.f; }
};

// A heap array of exactly n elements (new[] of n: ASan flags an access one past the end, which a vector
// with spare capacity might not). Zero-size arrays still get a distinct allocation.
template <typename T>
struct Buf {
  std::unique_ptr<T[]> p;
  int64_t n = 0;
  Buf() = default;
  explicit Buf(int64_t count, T fill = T()) : p(new T[count > 0 ? count : 1]), n(count) {
    for (int64_t i = 0; i < n; ++i) p[i] = fill;
  }
  T* data() const { return p.get(); }
  T& operator[](int64_t i) const { return p[i]; }
  std::vector<T> vec() const { return std::vector<T>(p.get(), p.get() + n); }
};

inline uint32_t bitsOf(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
inline float floatOf(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// Element i of a float tensor of `dtype` (f32 values, or bf16 / f16 bits) as a double.
inline double valueAt(const void* p, DType dtype, int64_t i) {
  if (dtype == DType::F32) return static_cast<const float*>(p)[i];
  const uint16_t h = static_cast<const uint16_t*>(p)[i];
  return floatOf(dtype == DType::BF16 ? cpu::bf16ToF32(h) : cpu::f16ToF32(h));
}

// Random float elements of `dtype` in [-2, 2] (bits for half types), as raw bytes of the right size.
inline Buf<uint8_t> randomFloats(Rng& r, DType dtype, int64_t n) {
  Buf<uint8_t> b(n * static_cast<int64_t>(dtypeSize(dtype)));
  for (int64_t i = 0; i < n; ++i) {
    const float v = r.uniform(-2.f, 2.f);
    if (dtype == DType::F32) std::memcpy(b.data() + 4 * i, &v, 4);
    else {
      const uint16_t h = dtype == DType::BF16 ? cpu::f32ToBf16(bitsOf(v)) : cpu::f32ToF16(bitsOf(v));
      std::memcpy(b.data() + 2 * i, &h, 2);
    }
  }
  return b;
}

// ‖a − b‖ / ‖b‖ over the finite elements of b (0 when both are zero); NaN positions must agree.
inline double relNorm(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(b[i]) || std::isnan(a[i])) {
      if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
      continue;
    }
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

inline bool sameBytes(const void* a, const void* b, size_t n) { return n == 0 || std::memcmp(a, b, n) == 0; }

// A tensor view of `p` with `shape`.
inline TensorView view(const void* p, DType dtype, std::initializer_list<int64_t> shape) {
  TensorView v;
  v.data = const_cast<void*>(p);
  v.dtype = dtype;
  for (int64_t s : shape) v.shape[v.ndim++] = s;
  return v;
}

}  // namespace moe::test
