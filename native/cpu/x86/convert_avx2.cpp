// convert, AVX2 + F16C loops (this file is compiled with -mavx2 -mfma -mf16c; it runs only when simdPath()
// is avx2 or higher). 8 elements per step through f32 registers, the scalar helpers for the tail.
//   f16:  vcvtps2ph with an explicit RNE immediate (MXCSR is not consulted); NaN lanes are first replaced
//         by a payload-free quiet NaN of the same sign, because vcvtps2ph keeps the payload and our rule
//         (lib/dtype.ts) gives ±0x7e00. vcvtph2ps already quiets NaNs keeping sign and payload, as f16ToF32.
//   bf16: integer RNE (bits + 0x7fff + lsb) >> 16, NaN lanes (bits >> 16) | 0x40: AVX2 has no bf16 convert.
// Everything but the entry point is in an anonymous namespace: see half.h on weak symbols.

#include <immintrin.h>

#include "../convert_kernels.h"
#include "../half.h"

namespace moe::cpu {

namespace {

__m256i bf16Round(__m256 v) {  // 8 f32 -> bf16 bits in the low half of each 32-bit lane
  const __m256i b = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
  const __m256i rne = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7fff)), lsb), 16);
  const __m256i nan = _mm256_or_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x40));
  return _mm256_blendv_epi8(rne, nan, _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
}

__m128i pack16(__m256i x) {  // 8 x u32 (each <= 0xffff) -> 8 x u16
  const __m256i p = _mm256_packus_epi32(x, x);                      // [x0..3 x0..3 | x4..7 x4..7]
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(p, 0x08));  // qwords 0 and 2
}

__m128i f16Round(__m256 v) {
  const __m256 quiet = _mm256_or_ps(_mm256_and_ps(v, _mm256_set1_ps(-0.0f)),
                                    _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000)));
  v = _mm256_blendv_ps(v, quiet, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  return _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

struct F32 {
  using Tag = F32Bits;
  static __m256 load(const uint32_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
  static void store(uint32_t* p, __m256 v) { _mm256_storeu_ps(reinterpret_cast<float*>(p), v); }
};
struct Bf16 {
  using Tag = Bf16Bits;
  static __m256 load(const uint16_t* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
  static void store(uint16_t* p, __m256 v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), pack16(bf16Round(v))); }
};
struct F16 {
  using Tag = F16Bits;
  static __m256 load(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static void store(uint16_t* p, __m256 v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), f16Round(v)); }
};

template <typename From, typename To>
void loop(const void* src, void* dst, int64_t n) {
  const auto* s = static_cast<const typename From::Tag::T*>(src);
  auto* d = static_cast<typename To::Tag::T*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) To::store(d + i, From::load(s + i));
  convertScalar<typename From::Tag, typename To::Tag>(s + i, d + i, n - i);
}

}  // namespace

ConvertLoop convertLoopAvx2(DType from, DType to) {
  switch (from) {
    case DType::F32: return to == DType::BF16 ? loop<F32, Bf16> : to == DType::F16 ? loop<F32, F16> : nullptr;
    case DType::BF16: return to == DType::F32 ? loop<Bf16, F32> : to == DType::F16 ? loop<Bf16, F16> : nullptr;
    case DType::F16: return to == DType::F32 ? loop<F16, F32> : to == DType::BF16 ? loop<F16, Bf16> : nullptr;
    default: return nullptr;
  }
}

}  // namespace moe::cpu
