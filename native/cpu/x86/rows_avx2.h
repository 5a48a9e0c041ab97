// Row traits for the AVX2 path of permute and unpermute (included only by files built with -mavx2 -mfma
// -mf16c): 8 f32 lanes, loads that widen bf16 / f16 to f32 and stores that round f32 to them, bit-exact to
// half.h (lib/dtype.ts): bf16 by integer RNE with NaN -> (bits >> 16) | 0x40, f16 by vcvtps2ph with an
// explicit RNE immediate after NaN lanes are made payload-free (vcvtps2ph would keep the payload).
// Partial vectors (the last < 8 elements of a row) go through a stack buffer: the same instructions on the
// same values, so a tail gives the bits a full vector would. Everything has internal linkage: see half.h.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "common/tensor_view.h"

namespace moe::cpu {
namespace {

struct Avx2Rows {
  static constexpr int L = 8;
  using V = __m256;

  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float c) { return _mm256_set1_ps(c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }

  // x · s in f64, rounded once to f32 (round to nearest even, as Math.fround).
  static V mulF64(V x, __m256d s) {
    const __m128 lo = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), s));
    const __m128 hi = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), s));
    return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
  }
  using D = __m256d;
  static D set1d(double s) { return _mm256_set1_pd(s); }

  template <DType T>
  static V load(const void* base, int64_t i) {
    if constexpr (T == DType::F32) {
      return _mm256_loadu_ps(static_cast<const float*>(base) + i);
    } else {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i));
      if constexpr (T == DType::BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
      else return _mm256_cvtph_ps(h);
    }
  }

  template <DType T>
  static void store(void* base, int64_t i, V v) {
    if constexpr (T == DType::F32) {
      _mm256_storeu_ps(static_cast<float*>(base) + i, v);
    } else {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint16_t*>(base) + i), narrow<T>(v));
    }
  }

  // n in [1, L): the first n elements.
  template <DType T>
  static V loadPart(const void* base, int64_t i, int n) {
    alignas(32) uint32_t buf[L] = {};
    const size_t es = T == DType::F32 ? 4 : 2;
    std::memcpy(buf, static_cast<const char*>(base) + i * es, n * es);
    return load<T>(buf, 0);
  }

  template <DType T>
  static void storePart(void* base, int64_t i, V v, int n) {
    alignas(32) uint32_t buf[L];
    const size_t es = T == DType::F32 ? 4 : 2;
    store<T>(buf, 0, v);
    std::memcpy(static_cast<char*>(base) + i * es, buf, n * es);
  }

 private:
  template <DType T>
  static __m128i narrow(V v) {
    const __m256 nanLanes = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    if constexpr (T == DType::BF16) {
      const __m256i b = _mm256_castps_si256(v);
      const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
      const __m256i rne = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7fff)), lsb), 16);
      const __m256i nan = _mm256_or_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x40));
      const __m256i r = _mm256_blendv_epi8(rne, nan, _mm256_castps_si256(nanLanes));
      const __m256i p = _mm256_packus_epi32(r, r);  // [r0..3 r0..3 | r4..7 r4..7], each <= 0xffff
      return _mm256_castsi256_si128(_mm256_permute4x64_epi64(p, 0x08));
    } else {
      const __m256 quiet = _mm256_or_ps(_mm256_and_ps(v, _mm256_set1_ps(-0.0f)),
                                        _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000)));
      return _mm256_cvtps_ph(_mm256_blendv_ps(v, quiet, nanLanes), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
  }
};

}  // namespace
}  // namespace moe::cpu
