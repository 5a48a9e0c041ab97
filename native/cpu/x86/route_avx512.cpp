// route, AVX-512 score rows (compiled with -mavx512f/bw/vl/dq; runs only when simdPath() is avx512).
// V8's exp (route_math.cpp) eight float64 lanes at a time, with the same operations in the same order, so
// every lane is bitwise the scalar result:
//   - the branches of fdlibm become lane masks: |x| <= 0.5 ln2 takes k = 0 (with hi = x, lo = 0 the k != 0
//     formula is the k = 0 one exactly: (x*c)/(c-2) = -((x*c)/(2-c)) in IEEE arithmetic); the
//     0.5 ln2 < |x| < 1.5 ln2 branch is the general one with k = ±1; |x| < 2^-28 gives 1 + x; NaN, ±inf,
//     overflow and underflow are blended in;
//   - lanes that need fdlibm's rare paths (704 <= |x| inside the thresholds, where 2^k may leave the normal
//     range, and x == 1, which V8 answers with the constant E) send the whole vector to the scalar exp.
// Contraction is off for this file: GCC would otherwise fuse the intrinsic mul + add pairs (-mfma is on).
// The softmax sum stays a scalar chain in index order (the reference's rounding); OoO overlaps it with the
// next vector of exps. The two float64 divisions per element (fdlibm's (x*c)/(2-c) and the normalisation,
// neither replaceable by a reciprocal without changing bits) bound the row: four rows at once, with four
// independent sum chains, measured only 5-10% faster (E = 256: 782-803 vs 829-878 ns per row), not worth a
// multi-row kernel. Selection: order keys 16 lanes at a time, takes by unsigned max + compare (see
// route_select.cpp for the measurements).
// Everything but the entry point is in an anonymous namespace: see half.h on weak symbols.

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <immintrin.h>

#include <cstdint>

#include "../route_kernels.h"

namespace moe::cpu::rt {

namespace {

__m512d set1(double v) { return _mm512_set1_pd(v); }

__m512d expScalarLanes(__m512d x) {
  alignas(64) double v[8];
  _mm512_store_pd(v, x);
  for (double& d : v) d = expV8(d);
  return _mm512_load_pd(v);
}

__attribute__((always_inline)) inline __m512d exp8(__m512d x) {
  const __m512i hx = _mm512_and_si512(_mm512_srli_epi64(_mm512_castpd_si512(x), 32), _mm512_set1_epi64(0x7fffffff));
  const __mmask8 big = _mm512_cmpge_epi64_mask(hx, _mm512_set1_epi64(0x40860000));  // |x| >= 704
  const __mmask8 tiny = _mm512_cmplt_epi64_mask(hx, _mm512_set1_epi64(0x3E300000));
  const __mmask8 small = _mm512_cmple_epi64_mask(hx, _mm512_set1_epi64(0x3FD62E42));
  const __mmask8 over = _mm512_cmp_pd_mask(x, set1(7.09782712893383973096e+02), _CMP_GT_OQ);
  const __mmask8 under = _mm512_cmp_pd_mask(x, set1(-7.45133219101941108420e+02), _CMP_LT_OQ);
  const __mmask8 nan = _mm512_cmp_pd_mask(x, x, _CMP_UNORD_Q);
  const __mmask8 one = _mm512_cmp_pd_mask(x, set1(1.0), _CMP_EQ_OQ);
  if ((big & ~(over | under | nan)) | one) return expScalarLanes(x);

  const __m512d zero = _mm512_setzero_pd();
  const __m512d xs = _mm512_mask_blend_pd(big | tiny, x, zero);
  const __m512d half = _mm512_or_pd(set1(0.5), _mm512_and_pd(xs, set1(-0.0)));  // halF[xsb]
  __m512d k = _mm512_roundscale_pd(_mm512_add_pd(_mm512_mul_pd(set1(1.44269504088896338700e+00), xs), half),
                                   _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  k = _mm512_mask_blend_pd(small, k, zero);
  const __m512d hi = _mm512_sub_pd(xs, _mm512_mul_pd(k, set1(6.93147180369123816490e-01)));
  const __m512d lo = _mm512_mul_pd(k, set1(1.90821492927058770002e-10));
  const __m512d r = _mm512_sub_pd(hi, lo);
  const __m512d t = _mm512_mul_pd(r, r);
  __m512d poly = _mm512_add_pd(set1(-1.65339022054652515390e-06), _mm512_mul_pd(t, set1(4.13813679705723846039e-08)));
  poly = _mm512_add_pd(set1(6.61375632143793436117e-05), _mm512_mul_pd(t, poly));
  poly = _mm512_add_pd(set1(-2.77777777770155933842e-03), _mm512_mul_pd(t, poly));
  poly = _mm512_add_pd(set1(1.66666666666666019037e-01), _mm512_mul_pd(t, poly));
  const __m512d c = _mm512_sub_pd(r, _mm512_mul_pd(t, poly));
  const __m512d q = _mm512_div_pd(_mm512_mul_pd(r, c), _mm512_sub_pd(set1(2.0), c));
  const __m512d y = _mm512_sub_pd(set1(1.0), _mm512_sub_pd(_mm512_sub_pd(lo, q), hi));
  const __m512i k64 = _mm512_cvttpd_epi64(k);  // |k| <= 1016 here
  const __m512d twopk = _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_add_epi64(k64, _mm512_set1_epi64(1023)), 52));
  __m512d res = _mm512_mul_pd(y, twopk);
  res = _mm512_mask_blend_pd(tiny, res, _mm512_add_pd(set1(1.0), x));
  res = _mm512_mask_blend_pd(over, res, set1(__builtin_inf()));
  res = _mm512_mask_blend_pd(under, res, zero);
  return _mm512_mask_blend_pd(nan, res, _mm512_add_pd(x, x));
}

void softmaxRow(const float* z, int64_t n, double* e, float* p) {
  __m512 vmax = _mm512_set1_ps(-__builtin_inff());
  __mmask16 nanSeen = 0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(z + i);
    nanSeen |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    vmax = _mm512_max_ps(vmax, v);
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-__builtin_inff()), m, z + i);
    nanSeen |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    vmax = _mm512_max_ps(vmax, v);
  }
  const __m512d md = set1(nanSeen ? __builtin_nan("") : static_cast<double>(_mm512_reduce_max_ps(vmax)));

  double sum = 0.0;
  for (i = 0; i < n; i += 8) {
    const int64_t left = n - i;
    const __mmask8 m = left >= 8 ? 0xff : static_cast<__mmask8>((1u << left) - 1);
    // Lanes past the row are 0 (exp takes its cheap path there, never the scalar fallback).
    const __m512d x = _mm512_maskz_mov_pd(m, _mm512_sub_pd(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, z + i)), md));
    const __m512d ex = exp8(x);
    // The sum reads an aligned copy: a masked store would not forward to the scalar loads (a stall each).
    alignas(64) double lanes[8];
    _mm512_store_pd(lanes, ex);
    if (left >= 8) {
      _mm512_storeu_pd(e + i, ex);
    } else {
      _mm512_mask_storeu_pd(e + i, m, ex);
    }
    const int64_t count = left >= 8 ? 8 : left;
    for (int64_t j = 0; j < count; ++j) sum += lanes[j];  // index order: the reference's rounding
  }
  const __m512d vs = set1(sum);
  for (i = 0; i < n; i += 8) {
    const int64_t left = n - i;
    const __mmask8 m = left >= 8 ? 0xff : static_cast<__mmask8>((1u << left) - 1);
    const __m512d q = _mm512_div_pd(_mm512_maskz_loadu_pd(m, e + i), vs);
    _mm256_mask_storeu_ps(p + i, m, _mm512_cvtpd_ps(q));
  }
}

void sigmoidRow(const float* z, int64_t n, float* s) {
  for (int64_t i = 0; i < n; i += 8) {
    const int64_t left = n - i;
    const __mmask8 m = left >= 8 ? 0xff : static_cast<__mmask8>((1u << left) - 1);
    const __m512d x = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, z + i));
    const __m512d ex = exp8(_mm512_xor_pd(x, set1(-0.0)));  // exp(-z): negation is a sign flip
    _mm256_mask_storeu_ps(s + i, m, _mm512_cvtpd_ps(_mm512_div_pd(set1(1.0), _mm512_add_pd(set1(1.0), ex))));
  }
}

// The order keys of route_select.cpp, 16 lanes: NaN on top, -0 == +0, negative numbers bit-inverted.
__m512i orderKeys16(__m512 v) {
  const __m512i u0 = _mm512_castps_si512(v);
  const __m512i sign = _mm512_set1_epi32(INT32_MIN);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_andnot_si512(sign, u0), _mm512_set1_epi32(0x7f800000));
  const __m512i u = _mm512_mask_mov_epi32(u0, _mm512_cmpeq_epi32_mask(u0, sign), _mm512_setzero_si512());
  const __m512i flip = _mm512_or_si512(_mm512_srai_epi32(u, 31), sign);  // negative: ~u, else u | sign
  return _mm512_mask_mov_epi32(_mm512_xor_si512(u, flip), nan, _mm512_set1_epi32(-1));
}

__mmask16 laneMask(int64_t left) { return left >= 16 ? 0xffff : static_cast<__mmask16>((1u << left) - 1); }

void orderKeys(const float* v, int64_t n, uint32_t* ord) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = laneMask(n - i);
    _mm512_mask_storeu_epi32(ord + i, m, orderKeys16(_mm512_maskz_loadu_ps(m, v + i)));
  }
}

uint32_t blockMax16(const uint32_t* p, int64_t left) {
  return _mm512_reduce_max_epu32(_mm512_maskz_loadu_epi32(laneMask(left), p));
}

void blockMax(const uint32_t* ord, int64_t begin, int64_t end, uint32_t* bm) {
  if (end - begin <= kFlatMax) return;
  for (int64_t b = 0, i = begin; i < end; ++b, i += 16) bm[b] = blockMax16(ord + i, end - i);
}

// Short ranges: one pass for the largest key (unsigned max), one for its first position.
int64_t takeFlat(uint32_t* ord, int64_t begin, int64_t end) {
  __m512i mx = _mm512_setzero_si512();
  for (int64_t i = begin; i < end; i += 16) {
    mx = _mm512_max_epu32(mx, _mm512_maskz_loadu_epi32(laneMask(end - i), ord + i));
  }
  const __m512i best = _mm512_set1_epi32(static_cast<int32_t>(_mm512_reduce_max_epu32(mx)));
  int64_t i = begin;
  for (;; i += 16) {
    const __mmask16 m = laneMask(end - i);  // masked loads: never past the end of the row
    const __mmask16 hit = _mm512_mask_cmpeq_epi32_mask(m, _mm512_maskz_loadu_epi32(m, ord + i), best);
    if (hit) {
      i += __builtin_ctz(hit);
      break;
    }
  }
  ord[i] = 0;
  return i;
}

// Long ranges: the largest block maximum and the first block holding it, then the first lane of that block
// holding it; the cost per take no longer grows with the range (2 compares up to 256 keys).
int64_t takeNext(uint32_t* ord, int64_t begin, int64_t end, uint32_t* bm) {
  if (end - begin <= kFlatMax) return takeFlat(ord, begin, end);
  const int64_t nb = (end - begin + 15) / 16;
  __m512i mx = _mm512_setzero_si512();
  for (int64_t b = 0; b < nb; b += 16) mx = _mm512_max_epu32(mx, _mm512_maskz_loadu_epi32(laneMask(nb - b), bm + b));
  const __m512i best = _mm512_set1_epi32(static_cast<int32_t>(_mm512_reduce_max_epu32(mx)));
  int64_t b = 0;
  for (;; b += 16) {
    const __mmask16 m = laneMask(nb - b);
    const __mmask16 hit = _mm512_mask_cmpeq_epi32_mask(m, _mm512_maskz_loadu_epi32(m, bm + b), best);
    if (hit) {
      b += __builtin_ctz(hit);
      break;
    }
  }
  const int64_t i0 = begin + b * 16;
  const __mmask16 lanes = laneMask(end - i0);
  const __m512i v = _mm512_maskz_loadu_epi32(lanes, ord + i0);
  const int lane = __builtin_ctz(_mm512_mask_cmpeq_epi32_mask(lanes, v, best));
  ord[i0 + lane] = 0;
  bm[b] = _mm512_reduce_max_epu32(_mm512_mask_mov_epi32(v, static_cast<__mmask16>(1u << lane), _mm512_setzero_si512()));
  return i0 + lane;
}

}  // namespace

RowKernels rowKernelsAvx512() { return {softmaxRow, sigmoidRow, orderKeys, blockMax, takeNext}; }

}  // namespace moe::cpu::rt
