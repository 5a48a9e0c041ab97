// Ceilings, AVX2 loops (compiled with -mavx2 -mfma; used only when simdPath() is avx2 or higher).
// FMA: 12 independent ymm chains (8 keep two 4-cycle FMA ports busy; 12 + 2 constants fit in 16 registers).
// 12 chains x 8 lanes x 2 FLOP = 192 FLOP per step. Sum: four streams, aligned loads.

#include <immintrin.h>

#include "../ceilings_kernels.h"

namespace moe::cpu {

namespace {

constexpr int kChains = 12;

float fmaLoop(int64_t iters) {
  __m256 a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = _mm256_set1_ps(float(i) * 1e-3f);
  const __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-4f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) a[i] = _mm256_fmadd_ps(a[i], b, c);
  }
  __m256 s = a[0];
  for (int i = 1; i < kChains; ++i) s = _mm256_add_ps(s, a[i]);
  float o[8];
  _mm256_storeu_ps(o, s);
  return o[0] + o[1] + o[2] + o[3] + o[4] + o[5] + o[6] + o[7];
}

// Four streams a quarter of the range apart, one line of each per step (see ceilings_avx512.cpp).
float sumLoop(const float* p, int64_t n) {
  const int64_t q = n / 4;
  const float *p0 = p, *p1 = p + q, *p2 = p + 2 * q, *p3 = p + 3 * q;
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (int64_t i = 0; i < q; i += 16) {
    s0 = _mm256_add_ps(s0, _mm256_add_ps(_mm256_load_ps(p0 + i), _mm256_load_ps(p0 + i + 8)));
    s1 = _mm256_add_ps(s1, _mm256_add_ps(_mm256_load_ps(p1 + i), _mm256_load_ps(p1 + i + 8)));
    s2 = _mm256_add_ps(s2, _mm256_add_ps(_mm256_load_ps(p2 + i), _mm256_load_ps(p2 + i + 8)));
    s3 = _mm256_add_ps(s3, _mm256_add_ps(_mm256_load_ps(p3 + i), _mm256_load_ps(p3 + i + 8)));
  }
  float o[8];
  _mm256_storeu_ps(o, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  return o[0] + o[1] + o[2] + o[3] + o[4] + o[5] + o[6] + o[7];
}

}  // namespace

CeilingLoops ceilingLoopsAvx2() { return {fmaLoop, double(kChains) * 8 * 2, sumLoop}; }

}  // namespace moe::cpu
