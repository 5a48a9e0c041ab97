// grouped_gemm, AVX-512 path (F/BW/VL/DQ; 16 f32 lanes, 32 registers): the traits the shared kernels
// (grouped_gemm_simd.h, grouped_gemm_tasks.h) are instantiated with. Built with -mavx512f -mavx512bw
// -mavx512vl -mavx512dq (+ AVX2/FMA/F16C); reached only when cpu_features says the CPU and the OS allow it.
//
// Tiles: bcast 8 W rows x up to 3 vectors of 16 rows (24 accumulators, 11 loads per 24 FMAs); dot up to
// 3 rows x 8 W rows. The bare bcast kernel, cache-resident, 1 core (peak 214 GFLOP/s): 178 GFLOP/s with
// 3 vectors, 170 with 2, 131 with 1; 8 x 2 vs 12 x 2 or 10 x 2 tiles differ by under 4%.
//
// bf16 weights: f32 activations always widen bf16 W to f32 (exact, one shift) for FMA, so no activation is
// rounded. bf16 activations with bf16 W take the dp kernel (vdpbf16ps, two products per lane) for prefill
// where CpuFeatures::bf16DotFast says it pays: on Zen 4 (AMD EPYC, 2 cores) the Qwen3 T=512 expert GEMMs
// ran 1.92x faster than f32 with it, against 1.10x widened (same machine, grouped_gemm_bench.cpp). On a
// Sapphire Rapids class host vdpbf16ps measured once per two cycles (16 MACs/cycle against two FMAs' 32),
// so there widening stays. vdpbf16ps treats bf16 denormals as zero (|x| < 1.2e-38): on this path such
// inputs contribute nothing. Decode tasks are bound by streaming W and widen in registers on every CPU.

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's _mm512_undefined_*() initialise a variable from itself (GCC bug 105593): silence its false
// "uninitialized" warnings, which point into immintrin.h.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include "grouped_gemm_tasks.h"

namespace moe::cpu::gg {
namespace {

struct Avx512 {
  static constexpr int L = 16, NW = 8, TailDot = 8;
  static constexpr bool Dp = true;  // the dp kernel, taken when Problem::dpbf16
  using V = __m512;
  using VI = __m512i;
  using M = __mmask16;

  // The half vector (8 lanes, the low half of a register): a prefill tail of up to 8 rows rides in the
  // panel's last kernel at half a vector's FMA cost (Zen 4 issues a 512-bit FMA as two 256-bit halves).
  static constexpr bool HasHalf = true;
  using H = __m256;
  using HI = __m256i;
  static H zeroH() { return _mm256_setzero_ps(); }
  static H loadH(const float* p) { return _mm256_load_ps(p); }
  static HI loadiH(const float* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
  static void storeH(float* p, H v) { _mm256_store_ps(p, v); }
  static H lowH(V v) { return _mm512_castps512_ps256(v); }
  static HI lowHI(VI v) { return _mm512_castsi512_si256(v); }
  static H fmaddH(H a, H b, H c) { return _mm256_fmadd_ps(a, b, c); }
  static H dpH(H acc, HI a, HI b) { return _mm256_dpbf16_ps(acc, reinterpret_cast<__m256bh>(a), reinterpret_cast<__m256bh>(b)); }
  static V widenH(H h) { return _mm512_zextps256_ps512(h); }

  // Realigned f32 loads (the decode's kernelDotRealigned): lanes m.. of lo, then lanes ..m-1 of hi.
  static constexpr bool HasRealign = true;
  static VI realignIdx(int m) {
    return _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32(m));
  }
  static V realign(V lo, VI idx, V hi) { return _mm512_permutex2var_ps(lo, idx, hi); }
  static V loadMasked(M m, const float* p) { return _mm512_maskz_load_ps(m, p); }

  static VI loadi(const float* p) { return _mm512_load_si512(p); }
  static VI bcast32(uint32_t x) { return _mm512_set1_epi32(static_cast<int>(x)); }
  static V dp(V acc, VI a, VI b) { return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(a), reinterpret_cast<__m512bh>(b)); }

  static void prefetchL1(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0); }
  static void prefetchL2(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V load(const float* p) { return _mm512_load_ps(p); }
  static V loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_store_ps(p, v); }
  static void storeu(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  // max / min that return x when x is NaN (VMAXPS returns its second operand when either is NaN).
  static V maxNan(V x, V c) { return _mm512_max_ps(c, x); }
  static V minNan(V x, V c) { return _mm512_min_ps(c, x); }
  static V round(V x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V pow2i(V n) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23));
  }
  static V neg(V x) { return _mm512_xor_ps(x, _mm512_set1_ps(-0.0f)); }
  static V abs(V x) { return _mm512_andnot_ps(_mm512_set1_ps(-0.0f), x); }
  static V copysign(V mag, V sgn) {
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_set1_epi32(INT32_MAX), _mm512_castps_si512(mag),
                                                         _mm512_castps_si512(sgn), 0xca));  // a ? b : c, bitwise
  }
  static M gt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static M lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M eq(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static V select(M m, V a, V b) { return _mm512_mask_blend_ps(m, b, a); }
  static float reduce(V v) {  // fixed order: halves, then quarters, ...
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
  }
  static V loadBf16(const uint16_t* p) {
    const __m512i x = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(x, 16));
  }
  static V loadF16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  // Round to nearest even; bf16 by integer arithmetic (as lib/dtype.ts f32ToBf16: NaN -> quiet NaN).
  static void storeHalf(uint16_t* o, V v, bool bf16) {
    __m256i h;
    if (bf16) {
      const __m512i u = _mm512_castps_si512(v);
      const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
      __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb), 16);
      const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
      h = _mm512_cvtepi32_epi16(r);
    } else {
      h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(o), h);
  }
  // 16 x 16 transpose in registers: rows r[0..15] become columns.
  static void transpose(V* r) {
    V t[16], u[16];
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {
      const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
      const __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
      u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
      u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
      u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
      u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    for (int i = 0; i < 4; ++i) {
      const V a = _mm512_shuffle_f32x4(u[i], u[4 + i], 0x88), b = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0x88);
      const V c = _mm512_shuffle_f32x4(u[i], u[4 + i], 0xdd), d = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0xdd);
      r[i] = _mm512_shuffle_f32x4(a, b, 0x88);
      r[i + 8] = _mm512_shuffle_f32x4(a, b, 0xdd);
      r[i + 4] = _mm512_shuffle_f32x4(c, d, 0x88);
      r[i + 12] = _mm512_shuffle_f32x4(c, d, 0xdd);
    }
  }
};

}  // namespace

void runTaskAvx512(const Problem& p, const Task& t, ScratchFn scratch) { runTask<Avx512>(p, t, scratch); }

}  // namespace moe::cpu::gg

