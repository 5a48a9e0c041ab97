// route's scalar math: V8's Math.exp ported bit for bit, and the generic softmax / sigmoid rows.
//
// Why a port: the reference is JavaScript, and the scores it ranks are f32(exp(...) / sum) computed with
// V8's exp (fdlibm). glibc's exp disagrees with it in the last bit for ~7% of arguments (measured on 4M
// arguments); a last-bit difference can move an f32 score and so an id. This port matched node 20's
// Math.exp on all 4M arguments (ranges ±1.2, ±50, ±720, -800..0, tiny, and the special values).
// Contraction must stay off: a fused multiply-add rounds once where fdlibm rounds twice.

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <cmath>
#include <cstring>
#include <limits>

#include "route_kernels.h"

namespace moe::cpu::rt {

namespace {

uint32_t highWord(double x) {
  uint64_t u;
  std::memcpy(&u, &x, 8);
  return static_cast<uint32_t>(u >> 32);
}

uint32_t lowWord(double x) {
  uint64_t u;
  std::memcpy(&u, &x, 8);
  return static_cast<uint32_t>(u);
}

double fromHighWord(uint32_t hi) {
  const uint64_t u = static_cast<uint64_t>(hi) << 32;
  double d;
  std::memcpy(&d, &u, 8);
  return d;
}

void softmaxRowScalar(const float* z, int64_t n, double* e, float* p) {
  float m = -std::numeric_limits<float>::infinity();
  bool nan = false;
  for (int64_t i = 0; i < n; ++i) {
    nan |= z[i] != z[i];
    m = z[i] > m ? z[i] : m;
  }
  const double md = nan ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(m);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    e[i] = expV8(static_cast<double>(z[i]) - md);
    sum += e[i];
  }
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(e[i] / sum);
}

void sigmoidRowScalar(const float* z, int64_t n, float* s) {
  for (int64_t i = 0; i < n; ++i) s[i] = static_cast<float>(1.0 / (1.0 + expV8(-static_cast<double>(z[i]))));
}

}  // namespace

// V8 src/base/ieee754.cc exp(): the constants, branches and operation order are kept as they are there.
double expV8(double x) {
  static const double one = 1.0, halF[2] = {0.5, -0.5};
  static const double o_threshold = 7.09782712893383973096e+02, u_threshold = -7.45133219101941108420e+02;
  static const double ln2HI[2] = {6.93147180369123816490e-01, -6.93147180369123816490e-01};
  static const double ln2LO[2] = {1.90821492927058770002e-10, -1.90821492927058770002e-10};
  static const double invln2 = 1.44269504088896338700e+00;
  static const double P1 = 1.66666666666666019037e-01, P2 = -2.77777777770155933842e-03,
                      P3 = 6.61375632143793436117e-05, P4 = -1.65339022054652515390e-06,
                      P5 = 4.13813679705723846039e-08;
  static const double E = 2.718281828459045;
  static const double huge = 1.0e+300, twom1000 = 9.33263618503218878990e-302, two1023 = 8.988465674311579539e307;

  double y, hi = 0.0, lo = 0.0, c, t, twopk;
  int32_t k = 0;
  uint32_t hx = highWord(x);
  const int32_t xsb = static_cast<int32_t>((hx >> 31) & 1);
  hx &= 0x7fffffff;

  if (hx >= 0x40862E42) {  // |x| >= 709.78...
    if (hx >= 0x7ff00000) {
      if (((hx & 0xfffff) | lowWord(x)) != 0) return x + x;  // NaN
      return xsb == 0 ? x : 0.0;                              // exp(+-inf) = {inf, 0}
    }
    if (x > o_threshold) return huge * huge;
    if (x < u_threshold) return twom1000 * twom1000;
  }

  if (hx > 0x3FD62E42) {    // |x| > 0.5 ln2
    if (hx < 0x3FF0A2B2) {  // and |x| < 1.5 ln2
      if (x == 1.0) return E;
      hi = x - ln2HI[xsb];
      lo = ln2LO[xsb];
      k = 1 - xsb - xsb;
    } else {
      k = static_cast<int32_t>(invln2 * x + halF[xsb]);
      t = k;
      hi = x - t * ln2HI[0];  // t*ln2HI is exact here
      lo = t * ln2LO[0];
    }
    x = hi - lo;
  } else if (hx < 0x3E300000) {  // |x| < 2^-28
    if (huge + x > one) return one + x;
  } else {
    k = 0;
  }

  t = x * x;
  // Unsigned shifts: k < 0 wraps to the same bits as V8's signed arithmetic, without C++17's UB.
  twopk = k >= -1021 ? fromHighWord(0x3ff00000u + (static_cast<uint32_t>(k) << 20))
                     : fromHighWord(0x3ff00000u + (static_cast<uint32_t>(k + 1000) << 20));
  c = x - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  if (k == 0) return one - ((x * c) / (c - 2.0) - x);
  y = one - ((lo - (x * c) / (2.0 - c)) - hi);
  if (k >= -1021) {
    if (k == 1024) return y * 2.0 * two1023;
    return y * twopk;
  }
  return y * twopk * twom1000;
}

RowKernels rowKernelsScalar() {
  return {softmaxRowScalar, sigmoidRowScalar, orderKeysScalar, blockMaxScalar, takeNextScalar};
}

}  // namespace moe::cpu::rt
