// convert, AVX-512 loops (compiled with -mavx512f/bw/vl/dq/bf16; runs only when simdPath() is avx512).
// 16 elements per step through f32 registers; the tail uses masked loads and stores, so no scalar loop.
//   f16:  vcvtps2ph (zmm) with an explicit RNE immediate, NaN lanes replaced first as in the AVX2 file.
//   bf16: vcvtneps2bf16 when the CPU has AVX512_BF16 (checked here: the avx512 path does not imply it).
//         It rounds to nearest even and makes NaNs quiet exactly as our rule ((bits >> 16) | 0x40), but it
//         flushes f32 subnormal inputs to ±0 (Intel SDM, convert_fp32_to_bfloat16), where RNE gives a bf16
//         subnormal (or the smallest normal): those lanes are redone with the integer rounding.
//         Without AVX512_BF16, integer rounding for all lanes.
// Everything but the entry point is in an anonymous namespace: see half.h on weak symbols.

#include <immintrin.h>

#include "../convert_kernels.h"
#include "../cpu_features.h"

namespace moe::cpu {

namespace {

__m512i bf16RoundInt(__m512 v) {  // 16 f32 -> bf16 bits in the low half of each 32-bit lane
  const __m512i b = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
  const __m512i rne = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), lsb), 16);
  const __m512i nan = _mm512_or_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40));
  return _mm512_mask_mov_epi32(rne, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), nan);
}

__m512 quietNaNs(__m512 v) {  // NaN lanes -> payload-free quiet NaN with the lane's sign
  const __m512i b = _mm512_castps_si512(v);
  const __m512i quiet = _mm512_or_si512(_mm512_and_si512(b, _mm512_set1_epi32(INT32_MIN)), _mm512_set1_epi32(0x7fc00000));
  return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_castsi512_ps(quiet));
}

struct F32 {
  using T = float;
  static __m512 load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, __m512 v, __mmask16 m) { _mm512_mask_storeu_ps(p, m, v); }
};
struct Bf16 {
  using T = uint16_t;
  static __m512 load(const uint16_t* p, __mmask16 m) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
  }
  static void store(uint16_t* p, __m512 v, __mmask16 m) { _mm512_mask_cvtepi32_storeu_epi16(p, m, bf16RoundInt(v)); }
};
struct Bf16Native {  // AVX512_BF16 stores; loads as Bf16
  using T = uint16_t;
  static __m512 load(const uint16_t* p, __mmask16 m) { return Bf16::load(p, m); }
  static void store(uint16_t* p, __m512 v, __mmask16 m) {
    __m256i r = reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v));
    const __m512i b = _mm512_castps_si512(v);
    const __mmask16 sub = _mm512_testn_epi32_mask(b, _mm512_set1_epi32(0x7f800000)) &
                          _mm512_test_epi32_mask(b, _mm512_set1_epi32(0x007fffff));
    if (sub) r = _mm256_mask_blend_epi16(sub, r, _mm512_cvtepi32_epi16(bf16RoundInt(v)));
    _mm256_mask_storeu_epi16(p, m, r);
  }
};
struct F16 {
  using T = uint16_t;
  static __m512 load(const uint16_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
  static void store(uint16_t* p, __m512 v, __mmask16 m) {
    _mm256_mask_storeu_epi16(p, m, _mm512_cvtps_ph(quietNaNs(v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
};

template <typename From, typename To>
void loop(const void* src, void* dst, int64_t n) {
  const auto* s = static_cast<const typename From::T*>(src);
  auto* d = static_cast<typename To::T*>(dst);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) To::store(d + i, From::load(s + i, 0xffff), 0xffff);
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    To::store(d + i, From::load(s + i, m), m);
  }
}

template <typename Bf>
ConvertLoop select(DType from, DType to) {
  switch (from) {
    case DType::F32: return to == DType::BF16 ? loop<F32, Bf> : to == DType::F16 ? loop<F32, F16> : nullptr;
    case DType::BF16: return to == DType::F32 ? loop<Bf16, F32> : to == DType::F16 ? loop<Bf16, F16> : nullptr;
    case DType::F16: return to == DType::F32 ? loop<F16, F32> : to == DType::BF16 ? loop<F16, Bf> : nullptr;
    default: return nullptr;
  }
}

}  // namespace

ConvertLoop convertLoopAvx512(DType from, DType to) {
  return cpuFeatures().avx512bf16 ? select<Bf16Native>(from, to) : select<Bf16>(from, to);
}

}  // namespace moe::cpu
