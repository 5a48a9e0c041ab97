// route, AVX2 score rows (compiled with -mavx2 -mfma -mf16c; runs only when simdPath() is avx2 or higher
// and the avx512 file is not chosen). V8's exp four float64 lanes at a time, lane for lane the scalar
// result: the scheme of x86/route_avx512.cpp (read its header) with blends instead of mask registers and
// 2^k built by the 2^52 + 1023 magic-number trick (AVX2 has no double -> int64 conversion).
// Contraction is off for this file: GCC would otherwise fuse the intrinsic mul + add pairs (-mfma is on).
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

__m256d set1(double v) { return _mm256_set1_pd(v); }

__m256d expScalarLanes(__m256d x) {
  alignas(32) double v[4];
  _mm256_store_pd(v, x);
  for (double& d : v) d = expV8(d);
  return _mm256_load_pd(v);
}

__attribute__((always_inline)) inline __m256d exp4(__m256d x) {
  const __m256i hx = _mm256_and_si256(_mm256_srli_epi64(_mm256_castpd_si256(x), 32), _mm256_set1_epi64x(0x7fffffff));
  const __m256d big = _mm256_castsi256_pd(_mm256_cmpgt_epi64(hx, _mm256_set1_epi64x(0x4085ffff)));  // |x| >= 704
  const __m256d tiny = _mm256_castsi256_pd(_mm256_cmpgt_epi64(_mm256_set1_epi64x(0x3E300000), hx));
  const __m256d notSmall = _mm256_castsi256_pd(_mm256_cmpgt_epi64(hx, _mm256_set1_epi64x(0x3FD62E42)));
  const __m256d over = _mm256_cmp_pd(x, set1(7.09782712893383973096e+02), _CMP_GT_OQ);
  const __m256d under = _mm256_cmp_pd(x, set1(-7.45133219101941108420e+02), _CMP_LT_OQ);
  const __m256d nan = _mm256_cmp_pd(x, x, _CMP_UNORD_Q);
  const __m256d one = _mm256_cmp_pd(x, set1(1.0), _CMP_EQ_OQ);
  const __m256d rare = _mm256_or_pd(_mm256_andnot_pd(_mm256_or_pd(_mm256_or_pd(over, under), nan), big), one);
  if (_mm256_movemask_pd(rare)) return expScalarLanes(x);

  const __m256d zero = _mm256_setzero_pd();
  const __m256d xs = _mm256_andnot_pd(_mm256_or_pd(big, tiny), x);  // 0 in those lanes
  const __m256d half = _mm256_or_pd(set1(0.5), _mm256_and_pd(xs, set1(-0.0)));  // halF[xsb]
  __m256d k = _mm256_round_pd(_mm256_add_pd(_mm256_mul_pd(set1(1.44269504088896338700e+00), xs), half),
                              _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  k = _mm256_and_pd(notSmall, k);  // |x| <= 0.5 ln2: k = 0
  const __m256d hi = _mm256_sub_pd(xs, _mm256_mul_pd(k, set1(6.93147180369123816490e-01)));
  const __m256d lo = _mm256_mul_pd(k, set1(1.90821492927058770002e-10));
  const __m256d r = _mm256_sub_pd(hi, lo);
  const __m256d t = _mm256_mul_pd(r, r);
  __m256d poly = _mm256_add_pd(set1(-1.65339022054652515390e-06), _mm256_mul_pd(t, set1(4.13813679705723846039e-08)));
  poly = _mm256_add_pd(set1(6.61375632143793436117e-05), _mm256_mul_pd(t, poly));
  poly = _mm256_add_pd(set1(-2.77777777770155933842e-03), _mm256_mul_pd(t, poly));
  poly = _mm256_add_pd(set1(1.66666666666666019037e-01), _mm256_mul_pd(t, poly));
  const __m256d c = _mm256_sub_pd(r, _mm256_mul_pd(t, poly));
  const __m256d q = _mm256_div_pd(_mm256_mul_pd(r, c), _mm256_sub_pd(set1(2.0), c));
  const __m256d y = _mm256_sub_pd(set1(1.0), _mm256_sub_pd(_mm256_sub_pd(lo, q), hi));
  // k + 2^52 + 1023 is an exact integer below 2^53: its low mantissa bits are 1023 + k (in [7, 2039]).
  const __m256i biased = _mm256_castpd_si256(_mm256_add_pd(k, set1(4503599627370496.0 + 1023.0)));
  const __m256d twopk = _mm256_castsi256_pd(_mm256_slli_epi64(biased, 52));
  __m256d res = _mm256_mul_pd(y, twopk);
  res = _mm256_blendv_pd(res, _mm256_add_pd(set1(1.0), x), tiny);
  res = _mm256_blendv_pd(res, set1(__builtin_inf()), over);
  res = _mm256_blendv_pd(res, zero, under);
  return _mm256_blendv_pd(res, _mm256_add_pd(x, x), nan);
}

void softmaxRow(const float* z, int64_t n, double* e, float* p) {
  __m256 vmax = _mm256_set1_ps(-__builtin_inff());
  __m256 nanSeen = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(z + i);
    nanSeen = _mm256_or_ps(nanSeen, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    vmax = _mm256_max_ps(vmax, v);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, vmax);
  bool nan = _mm256_movemask_ps(nanSeen) != 0;
  float m = lanes[0];
  for (int j = 1; j < 8; ++j) m = lanes[j] > m ? lanes[j] : m;
  for (; i < n; ++i) {
    nan |= z[i] != z[i];
    m = z[i] > m ? z[i] : m;
  }
  const double mdScalar = nan ? __builtin_nan("") : static_cast<double>(m);
  const __m256d md = set1(mdScalar);

  double sum = 0.0;
  for (i = 0; i + 4 <= n; i += 4) {
    const __m256d x = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(z + i)), md);
    const __m256d ex = exp4(x);
    alignas(32) double ev[4];  // an aligned copy for the sum: stores split across lines do not forward
    _mm256_store_pd(ev, ex);
    _mm256_storeu_pd(e + i, ex);
    sum += ev[0];  // index order: the reference's rounding
    sum += ev[1];
    sum += ev[2];
    sum += ev[3];
  }
  for (; i < n; ++i) {
    e[i] = expV8(static_cast<double>(z[i]) - mdScalar);
    sum += e[i];
  }
  const __m256d vs = set1(sum);
  for (i = 0; i + 4 <= n; i += 4) _mm_storeu_ps(p + i, _mm256_cvtpd_ps(_mm256_div_pd(_mm256_loadu_pd(e + i), vs)));
  for (; i < n; ++i) p[i] = static_cast<float>(e[i] / sum);
}

void sigmoidRow(const float* z, int64_t n, float* s) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d x = _mm256_cvtps_pd(_mm_loadu_ps(z + i));
    const __m256d ex = exp4(_mm256_xor_pd(x, set1(-0.0)));  // exp(-z): negation is a sign flip
    _mm_storeu_ps(s + i, _mm256_cvtpd_ps(_mm256_div_pd(set1(1.0), _mm256_add_pd(set1(1.0), ex))));
  }
  for (; i < n; ++i) s[i] = static_cast<float>(1.0 / (1.0 + expV8(-static_cast<double>(z[i]))));
}

uint32_t orderKey1(float v) {  // route_select.cpp's order key of one value
  uint32_t u;
  __builtin_memcpy(&u, &v, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0xffffffffu;
  if (u == 0x80000000u) u = 0;
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// The order keys of route_select.cpp, 8 lanes: NaN on top, -0 == +0, negative numbers bit-inverted.
__m256i orderKeys8(__m256 v) {
  const __m256i u0 = _mm256_castps_si256(v);
  const __m256i sign = _mm256_set1_epi32(INT32_MIN);
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_andnot_si256(sign, u0), _mm256_set1_epi32(0x7f800000));
  const __m256i u = _mm256_andnot_si256(_mm256_cmpeq_epi32(u0, sign), u0);
  return _mm256_or_si256(_mm256_xor_si256(u, _mm256_or_si256(_mm256_srai_epi32(u, 31), sign)), nan);
}

void orderKeys(const float* v, int64_t n, uint32_t* ord) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(ord + i), orderKeys8(_mm256_loadu_ps(v + i)));
  }
  for (; i < n; ++i) ord[i] = orderKey1(v[i]);
}

// Lanes [0, left) of 8 (all when left >= 8) as an AVX2 load mask; the others load as 0.
__m256i lanes8(int64_t left) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(left < 8 ? left : 8)), idx);
}

__m256i load8(const uint32_t* p, int64_t left) {
  return _mm256_maskload_epi32(reinterpret_cast<const int*>(p), lanes8(left));
}

uint32_t reduceMax8(__m256i v) {
  __m128i m4 = _mm_max_epu32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  m4 = _mm_max_epu32(m4, _mm_shuffle_epi32(m4, 0x4e));
  m4 = _mm_max_epu32(m4, _mm_shuffle_epi32(m4, 0xb1));
  return static_cast<uint32_t>(_mm_cvtsi128_si32(m4));
}

// Up to 16 keys (one block) as two 8-lane halves.
uint32_t blockMax16(const uint32_t* p, int64_t left) {
  const __m256i lo = load8(p, left);
  return reduceMax8(left > 8 ? _mm256_max_epu32(lo, load8(p + 8, left - 8)) : lo);
}

void blockMax(const uint32_t* ord, int64_t begin, int64_t end, uint32_t* bm) {
  if (end - begin <= kFlatMax) return;
  for (int64_t b = 0, i = begin; i < end; ++b, i += 16) bm[b] = blockMax16(ord + i, end - i);
}

// Short ranges: one pass for the largest key (unsigned max), one for its first position.
int64_t takeFlat(uint32_t* ord, int64_t begin, int64_t end) {
  __m256i mx = _mm256_setzero_si256();
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) mx = _mm256_max_epu32(mx, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ord + i)));
  uint32_t best = reduceMax8(mx);
  for (; i < end; ++i) best = ord[i] > best ? ord[i] : best;
  const __m256i b = _mm256_set1_epi32(static_cast<int32_t>(best));
  for (i = begin; i + 8 <= end; i += 8) {
    const __m256i eq = _mm256_cmpeq_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(ord + i)), b);
    const int hit = _mm256_movemask_ps(_mm256_castsi256_ps(eq));
    if (hit) {
      i += __builtin_ctz(static_cast<uint32_t>(hit));
      ord[i] = 0;
      return i;
    }
  }
  while (ord[i] != best) ++i;
  ord[i] = 0;
  return i;
}

// Bit j set where lane j < left of p equals v.
uint32_t equalMask8(const uint32_t* p, int64_t left, __m256i v) {
  const __m256i eq = _mm256_and_si256(_mm256_cmpeq_epi32(load8(p, left), v), lanes8(left));
  return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(eq)));
}

// First lane of p[0, left) (left <= 16) equal to v; one exists.
int firstEqual16(const uint32_t* p, int64_t left, __m256i v) {
  const uint32_t lo = equalMask8(p, left, v);
  if (lo) return __builtin_ctz(lo);
  return 8 + __builtin_ctz(equalMask8(p + 8, left - 8, v));
}

// Long ranges: the largest block maximum and the first block holding it, then the first lane of that block
// holding it.
int64_t takeNext(uint32_t* ord, int64_t begin, int64_t end, uint32_t* bm) {
  if (end - begin <= kFlatMax) return takeFlat(ord, begin, end);
  const int64_t nb = (end - begin + 15) / 16;
  __m256i mx = _mm256_setzero_si256();
  for (int64_t b = 0; b < nb; b += 8) mx = _mm256_max_epu32(mx, load8(bm + b, nb - b));
  const uint32_t bestKey = reduceMax8(mx);
  const __m256i best = _mm256_set1_epi32(static_cast<int32_t>(bestKey));
  int64_t b = 0;
  for (;; b += 8) {
    const uint32_t hit = equalMask8(bm + b, nb - b, best);
    if (hit) {
      b += __builtin_ctz(hit);
      break;
    }
  }
  const int64_t i0 = begin + b * 16;
  const int64_t i = i0 + firstEqual16(ord + i0, end - i0, best);
  ord[i] = 0;
  bm[b] = blockMax16(ord + i0, end - i0);
  return i;
}

}  // namespace

RowKernels rowKernelsAvx2() { return {softmaxRow, sigmoidRow, orderKeys, blockMax, takeNext}; }

}  // namespace moe::cpu::rt
