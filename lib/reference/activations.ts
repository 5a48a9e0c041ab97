// Scalar activations of the grouped_gemm epilogue, in float64: the oracle that native kernels match.
//
// JavaScript has no Math.erf, so erf / erfc are a port of fdlibm's s_erf.c (rational approximations on
// four intervals, error below 1 ulp in float64). The port keeps fdlibm's notice, as its licence asks:
//
//   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
//   Developed at SunPro, a Sun Microsystems, Inc. business.
//   Permission to use, copy, modify, and distribute this software is freely granted, provided that this
//   notice is preserved.
//
// Each function is written so it stays accurate where the textbook formula cancels (gelu and gelu_tanh of
// large negative x, sigmoid of negative x) and returns the mathematical limit at ±inf where the textbook
// formula would give inf·0 = NaN (silu(-inf) = gelu(-inf) = gelu_tanh(-inf) = -0). NaN in, NaN out.

// The high and low 32-bit words of a double, as fdlibm reads them (endianness-independent via DataView).
const view = new DataView(new ArrayBuffer(8));
function highWord(x: number): number {
  view.setFloat64(0, x);
  return view.getInt32(0);
}
function clearLowWord(x: number): number {
  view.setFloat64(0, x);
  view.setUint32(4, 0);
  return view.getFloat64(0);
}

const ERX = 8.45062911510467529297e-1;
const EFX = 1.28379167095512586316e-1;
const EFX8 = 1.02703333676410069053; // 8·EFX: keeps subnormal x exact-ish
// erf on [0, 0.84375]: erf(x) = x + x·P(x²)/Q(x²).
const PP = [1.28379167095512558561e-1, -3.25042107247001499370e-1, -2.84817495755985104766e-2, -5.77027029648944159157e-3, -2.37630166566501626084e-5];
const QQ = [1, 3.97917223959155352819e-1, 6.50222499887672944485e-2, 5.08130628187576562776e-3, 1.32494738004321644526e-4, -3.96022827877536812320e-6];
// erf on [0.84375, 1.25]: erf(1 + s) = erx + P1(s)/Q1(s).
const PA = [-2.36211856075265944077e-3, 4.14856118683748331666e-1, -3.72207876035701323847e-1, 3.18346619901161753674e-1, -1.10894694282396677476e-1, 3.54783043256182359371e-2, -2.16637559486879084300e-3];
const QA = [1, 1.06420880400844228286e-1, 5.40397917702171048937e-1, 7.18286544141962662868e-2, 1.26171219808761642112e-1, 1.36370839120290507362e-2, 1.19844998467991074170e-2];
// erfc on [1.25, 1/0.35]: erfc(x) = exp(-x² - 0.5625 + R1(1/x²)/S1(1/x²)) / x.
const RA = [-9.86494403484714822705e-3, -6.93858572707181764372e-1, -1.05586262253232909814e1, -6.23753324503260060396e1, -1.62396669462573470355e2, -1.84605092906711035994e2, -8.12874355063065934246e1, -9.81432934416914548592];
const SA = [1, 1.96512716674392571292e1, 1.37657754143519042600e2, 4.34565877475229228821e2, 6.45387271733267880336e2, 4.29008140027567833386e2, 1.08635005541779435134e2, 6.57024977031928170135, -6.04244152148580987438e-2];
// erfc on [1/0.35, 28]: same form with R2/S2.
const RB = [-9.86494292470009928597e-3, -7.99283237680523006574e-1, -1.77579549177547519889e1, -1.60636384855821916062e2, -6.37566443368389627722e2, -1.02509513161107724954e3, -4.83519191608651397019e2];
const SB = [1, 3.03380607434824582924e1, 3.25792512996573918826e2, 1.53672958608443695994e3, 3.19985821950859553908e3, 2.55305040643316442583e3, 4.74528541206955367215e2, -2.24409524465858183362e1];

/** Horner evaluation of c[0] + c[1]·z + c[2]·z² + ... (the same nesting as fdlibm). */
function poly(c: readonly number[], z: number): number {
  let r = c[c.length - 1]!;
  for (let i = c.length - 2; i >= 0; i--) r = c[i]! + z * r;
  return r;
}

/** exp(-x² - 0.5625 + R/S) / x for x >= 1.25, with -x² split exactly (fdlibm's Note1). */
function erfcTail(x: number, ix: number): number {
  const s = 1 / (x * x);
  const rs = ix < 0x4006db6e ? poly(RA, s) / poly(SA, s) : poly(RB, s) / poly(SB, s);
  const z = clearLowWord(x);
  return (Math.exp(-z * z - 0.5625) * Math.exp((z - x) * (z + x) + rs)) / x;
}

/** erf(x) = 2/√π ∫₀ˣ e^{-t²} dt, float64-accurate (fdlibm). erf(±inf) = ±1, erf(NaN) = NaN. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const hx = highWord(x);
  const ix = hx & 0x7fffffff;
  if (ix >= 0x7ff00000) return x > 0 ? 1 : -1;
  if (ix < 0x3feb0000) {
    // |x| < 0.84375; below 2^-28 the series' first term is exact to 2^-84.
    if (ix < 0x3e300000) return ix < 0x00800000 ? (8 * x + EFX8 * x) / 8 : x + EFX * x;
    const z = x * x;
    return x + x * (poly(PP, z) / poly(QQ, z));
  }
  if (ix < 0x3ff40000) {
    const s = Math.abs(x) - 1;
    const pq = poly(PA, s) / poly(QA, s);
    return hx >= 0 ? ERX + pq : -ERX - pq;
  }
  if (ix >= 0x40180000) return hx >= 0 ? 1 : -1; // |x| >= 6: 1 - erfc rounds to 1
  const r = erfcTail(Math.abs(x), ix);
  return hx >= 0 ? 1 - r : r - 1;
}

/** erfc(x) = 1 - erf(x), without the cancellation (relative accuracy kept for large x). */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const hx = highWord(x);
  const ix = hx & 0x7fffffff;
  if (ix >= 0x7ff00000) return x > 0 ? 0 : 2;
  if (ix < 0x3feb0000) {
    if (ix < 0x3c700000) return 1 - x;
    const z = x * x;
    const y = poly(PP, z) / poly(QQ, z);
    if (hx < 0x3fd00000) return 1 - (x + x * y); // x < 1/4
    return 0.5 - (x * y + (x - 0.5));
  }
  if (ix < 0x3ff40000) {
    const s = Math.abs(x) - 1;
    const pq = poly(PA, s) / poly(QA, s);
    return hx >= 0 ? 1 - ERX - pq : 1 + (ERX + pq);
  }
  if (ix < 0x403c0000) {
    // |x| < 28
    if (hx < 0 && ix >= 0x40180000) return 2; // x <= -6
    const r = erfcTail(Math.abs(x), ix);
    return hx > 0 ? r : 2 - r;
  }
  return hx > 0 ? 0 : 2;
}

/** relu(x) = max(x, 0); NaN stays NaN. */
export function relu(x: number): number {
  return x > 0 || Number.isNaN(x) ? x : 0;
}

/** Logistic sigmoid 1 / (1 + e^{-x}); for x < 0 written as e^x / (1 + e^x) to keep relative accuracy. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** tanh (V8's Math.tanh is fdlibm's, correctly handled at ±inf). */
export function tanh(x: number): number {
  return Math.tanh(x);
}

/** silu(x) = x · sigmoid(x) (a.k.a. swish); silu(-inf) = -0. */
export function silu(x: number): number {
  if (x === -Infinity) return -0;
  return x * sigmoid(x);
}

/** gelu(x) = x/2 · (1 + erf(x/√2)) (the exact form), computed as x/2 · erfc(-x/√2) so negative x keeps
 *  its relative accuracy; gelu(-inf) = -0. */
export function gelu(x: number): number {
  if (x === -Infinity) return -0;
  return 0.5 * x * erfc(-x * Math.SQRT1_2);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** gelu_tanh(x) = x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³))), computed through the identity
 *  (1 + tanh u) / 2 = sigmoid(2u) so negative x keeps its relative accuracy; gelu_tanh(-inf) = -0. */
export function geluTanh(x: number): number {
  if (x === -Infinity) return -0;
  const u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
  return x * sigmoid(2 * u);
}

/** The scalar epilogue functions by name (the non-GLU activations of grouped_gemm; 'none' is identity). */
export const ACTIVATION_FNS: Readonly<Record<'none' | 'relu' | 'gelu' | 'gelu_tanh' | 'silu' | 'tanh' | 'sigmoid', (x: number) => number>> = {
  none: (x) => x,
  relu,
  gelu,
  gelu_tanh: geluTanh,
  silu,
  tanh,
  sigmoid,
};
