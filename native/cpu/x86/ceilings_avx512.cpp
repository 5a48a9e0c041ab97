// Ceilings, AVX-512 loops (compiled with the avx512 flags; used only when simdPath() is avx512).
// FMA: 24 independent zmm chains. With 4-cycle FMA latency and two FMA ports, 8 chains in flight keep both
// ports busy; 24 leave room for a slower port or a longer latency and still fit in the 32 registers with the
// two constants. 24 chains x 16 lanes x 2 FLOP = 768 FLOP per step.
// Sum: four streams, aligned loads (one cache line per load).

#include <immintrin.h>

#include "../ceilings_kernels.h"

namespace moe::cpu {

namespace {

constexpr int kChains = 24;

float fmaLoop(int64_t iters) {
  __m512 a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = _mm512_set1_ps(float(i) * 1e-3f);
  const __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-4f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) a[i] = _mm512_fmadd_ps(a[i], b, c);
  }
  __m512 s = a[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, a[i]);
  return _mm512_reduce_add_ps(s);
}

// Four streams a quarter of the range apart, two lines of each per step: a GEMM reads several weight rows
// at once, and one stream alone leaves the hardware prefetchers (and so the bandwidth) partly idle.
float sumLoop(const float* p, int64_t n) {
  const int64_t q = n / 4;
  const float *p0 = p, *p1 = p + q, *p2 = p + 2 * q, *p3 = p + 3 * q;
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (int64_t i = 0; i < q; i += 32) {
    s0 = _mm512_add_ps(s0, _mm512_add_ps(_mm512_load_ps(p0 + i), _mm512_load_ps(p0 + i + 16)));
    s1 = _mm512_add_ps(s1, _mm512_add_ps(_mm512_load_ps(p1 + i), _mm512_load_ps(p1 + i + 16)));
    s2 = _mm512_add_ps(s2, _mm512_add_ps(_mm512_load_ps(p2 + i), _mm512_load_ps(p2 + i + 16)));
    s3 = _mm512_add_ps(s3, _mm512_add_ps(_mm512_load_ps(p3 + i), _mm512_load_ps(p3 + i + 16)));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

}  // namespace

CeilingLoops ceilingLoopsAvx512() { return {fmaLoop, double(kChains) * 16 * 2, sumLoop}; }

}  // namespace moe::cpu
