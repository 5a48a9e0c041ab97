// The epilogue's vector activations, written once over a traits type T and included only by
// grouped_gemm_simd.h: in its anonymous namespace for the same reason (each ISA file compiles its own copy).
#pragma once

#include "cpu/grouped_gemm_kernels.h"

namespace moe::cpu::gg {
namespace {

// Vector activations in f32 (a few ulp; the contract is 1e-5 norm-wise). The limits at ±inf match the
// reference: silu, gelu, gelu_tanh(-inf) = -0; NaN in, NaN out.

// exp: Cephes expf (degree-6 polynomial on [-ln2/2, ln2/2]); 0 below -87.3, inf above 88.
template <class T>
typename T::V vexp(typename T::V x) {
  using V = typename T::V;
  const V xc = T::minNan(T::maxNan(x, T::set1(-87.3f)), T::set1(88.0f));
  const V n = T::round(T::mul(xc, T::set1(1.44269504088896341f)));
  V r = T::fnmadd(n, T::set1(0.693359375f), xc);
  r = T::fnmadd(n, T::set1(-2.12194440e-4f), r);
  V q = T::set1(1.9875691500e-4f);
  q = T::fmadd(q, r, T::set1(1.3981999507e-3f));
  q = T::fmadd(q, r, T::set1(8.3334519073e-3f));
  q = T::fmadd(q, r, T::set1(4.1665795894e-2f));
  q = T::fmadd(q, r, T::set1(1.6666665459e-1f));
  q = T::fmadd(q, r, T::set1(5.0000001201e-1f));
  q = T::fmadd(T::mul(q, r), r, T::add(r, T::set1(1.0f)));
  V y = T::mul(q, T::pow2i(n));
  y = T::select(T::gt(x, T::set1(88.0f)), T::set1(__builtin_inff()), y);
  return T::select(T::lt(x, T::set1(-87.3f)), T::zero(), y);
}

template <class T>
typename T::V vsigmoid(typename T::V x) {
  return T::div(T::set1(1.0f), T::add(T::set1(1.0f), vexp<T>(T::neg(x))));
}

// x · s where s underflowed to 0 only for x -> -inf territory: give -0 there instead of -inf · 0 = NaN.
template <class T>
typename T::V timesGate(typename T::V x, typename T::V s) {
  return T::select(T::eq(s, T::zero()), T::set1(-0.0f), T::mul(x, s));
}

// tanh: Cephes tanhf: odd polynomial below 0.625, 1 - 2 / (e^{2|x|} + 1) above.
template <class T>
typename T::V vtanh(typename T::V x) {
  using V = typename T::V;
  const V ax = T::abs(x);
  const V big = T::sub(T::set1(1.0f), T::div(T::set1(2.0f), T::add(vexp<T>(T::add(ax, ax)), T::set1(1.0f))));
  const V z = T::mul(x, x);
  V q = T::set1(-5.70498872745e-3f);
  q = T::fmadd(q, z, T::set1(2.06390887954e-2f));
  q = T::fmadd(q, z, T::set1(-5.37397155531e-2f));
  q = T::fmadd(q, z, T::set1(1.33314422036e-1f));
  q = T::fmadd(q, z, T::set1(-3.33332819422e-1f));
  const V small = T::fmadd(T::mul(q, z), x, x);
  return T::select(T::lt(ax, T::set1(0.625f)), small, T::copysign(big, x));
}

// gelu (erf form) = x/2 · erfc(-x/√2), erfc from Numerical Recipes' erfcc (relative error < 1.2e-7).
template <class T>
typename T::V vgelu(typename T::V x) {
  using V = typename T::V;
  const V z = T::mul(x, T::set1(-0.70710678118654752f));
  const V az = T::abs(z);
  const V t = T::div(T::set1(1.0f), T::fmadd(T::set1(0.5f), az, T::set1(1.0f)));
  V q = T::set1(0.17087277f);
  q = T::fmadd(q, t, T::set1(-0.82215223f));
  q = T::fmadd(q, t, T::set1(1.48851587f));
  q = T::fmadd(q, t, T::set1(-1.13520398f));
  q = T::fmadd(q, t, T::set1(0.27886807f));
  q = T::fmadd(q, t, T::set1(-0.18628806f));
  q = T::fmadd(q, t, T::set1(0.09678418f));
  q = T::fmadd(q, t, T::set1(0.37409196f));
  q = T::fmadd(q, t, T::set1(1.00002368f));
  q = T::fmadd(q, t, T::set1(-1.26551223f));
  const V ans = T::mul(t, vexp<T>(T::sub(q, T::mul(az, az))));
  const V erfc = T::select(T::lt(z, T::zero()), T::sub(T::set1(2.0f), ans), ans);
  return timesGate<T>(x, T::mul(T::set1(0.5f), erfc));
}

// gelu_tanh = x · sigmoid(2u), u = √(2/π)(x + 0.044715 x³): the identity (1 + tanh u)/2 = sigmoid(2u).
template <class T>
typename T::V vgeluTanh(typename T::V x) {
  using V = typename T::V;
  const V x3 = T::mul(T::mul(x, x), x);
  const V u2 = T::mul(T::set1(1.5957691216057308f), T::fmadd(T::set1(0.044715f), x3, x));
  return timesGate<T>(x, vsigmoid<T>(u2));
}

template <class T>
typename T::V activate(Activation a, typename T::V x) {
  switch (a) {
    case Activation::Relu: return T::maxNan(x, T::zero());
    case Activation::Gelu: case Activation::Geglu: return vgelu<T>(x);
    case Activation::GeluTanh: return vgeluTanh<T>(x);
    case Activation::Silu: case Activation::Swiglu: return timesGate<T>(x, vsigmoid<T>(x));
    case Activation::Tanh: return vtanh<T>(x);
    case Activation::Sigmoid: return vsigmoid<T>(x);
    default: return x;
  }
}

}  // namespace
}  // namespace moe::cpu::gg
