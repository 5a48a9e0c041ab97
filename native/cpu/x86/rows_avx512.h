// Row traits for the AVX-512 path of permute and unpermute (included only by files built with
// -mavx512f/bw/vl/dq): 16 f32 lanes, loads that widen bf16 / f16 to f32 and stores that round f32 to
// them, bit-exact to half.h (lib/dtype.ts). bf16 rounds by integer RNE on every CPU: vcvtneps2bf16 flushes
// subnormal inputs, and the store is not where the time goes (the rows stream from memory). f16 uses
// vcvtps2ph with an explicit RNE immediate after NaN lanes are made payload-free. Partial vectors use
// masked loads and stores. Everything has internal linkage: see half.h.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "common/tensor_view.h"

namespace moe::cpu {
namespace {

struct Avx512Rows {
  static constexpr int L = 16;
  using V = __m512;

  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float c) { return _mm512_set1_ps(c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }

  using D = __m512d;
  static D set1d(double s) { return _mm512_set1_pd(s); }
  // x · s in f64, rounded once to f32 (round to nearest even, as Math.fround).
  static V mulF64(V x, D s) {
    const __m256 lo = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(x)), s));
    const __m256 hi = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1)), s));
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
  }

  template <DType T>
  static V load(const void* base, int64_t i) { return loadMask<T>(base, i, 0xffff); }
  template <DType T>
  static void store(void* base, int64_t i, V v) { storeMask<T>(base, i, v, 0xffff); }
  template <DType T>
  static V loadPart(const void* base, int64_t i, int n) { return loadMask<T>(base, i, mask(n)); }
  template <DType T>
  static void storePart(void* base, int64_t i, V v, int n) { storeMask<T>(base, i, v, mask(n)); }

 private:
  static __mmask16 mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }

  template <DType T>
  static V loadMask(const void* base, int64_t i, __mmask16 m) {
    if constexpr (T == DType::F32) {
      return _mm512_maskz_loadu_ps(m, static_cast<const float*>(base) + i);
    } else {
      const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(base) + i);
      if constexpr (T == DType::BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
      else return _mm512_cvtph_ps(h);
    }
  }

  template <DType T>
  static void storeMask(void* base, int64_t i, V v, __mmask16 m) {
    const __mmask16 nanLanes = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    if constexpr (T == DType::F32) {
      _mm512_mask_storeu_ps(static_cast<float*>(base) + i, m, v);
    } else if constexpr (T == DType::BF16) {
      const __m512i b = _mm512_castps_si512(v);
      const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
      const __m512i rne = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), lsb), 16);
      const __m512i nan = _mm512_or_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40));
      _mm512_mask_cvtepi32_storeu_epi16(static_cast<uint16_t*>(base) + i, m, _mm512_mask_mov_epi32(rne, nanLanes, nan));
    } else {
      const __m512i b = _mm512_castps_si512(v);
      const __m512i quiet = _mm512_or_si512(_mm512_and_si512(b, _mm512_set1_epi32(INT32_MIN)), _mm512_set1_epi32(0x7fc00000));
      const __m512 q = _mm512_mask_mov_ps(v, nanLanes, _mm512_castsi512_ps(quiet));
      _mm256_mask_storeu_epi16(static_cast<uint16_t*>(base) + i, m,
                               _mm512_cvtps_ph(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
  }
};

}  // namespace
}  // namespace moe::cpu
