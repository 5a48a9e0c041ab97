// Reference `grouped_gemm`: Y[r, :] = act(A[r, :] · W[e]ᵀ + bias[e, :] + addend[r, :]) for the rows r of
// expert e. Plain loops, float64 accumulation, one rounding per output element.

import { f32ToBf16, f32ToF16, FloatDType } from '../dtype';
import { toF32 } from '../tensor';
import type { GroupedGemmResult, GroupedGemmValidated } from '../ops/grouped_gemm.types';
import { ACTIVATION_FNS, gelu, silu } from './activations';

/** Rounds a float64 result into `out[i]`. Half types go through f32 first: that is the path of native
 *  kernels, whose epilogue holds an f32 value, and it differs from a direct f64 -> half rounding only for
 *  values within 2^-24 relative of a half-precision tie. */
function storer(d: FloatDType, out: Float32Array | Uint16Array): (i: number, v: number) => void {
  if (d === 'f32') return (i, v) => { out[i] = v; }; // Float32Array stores round to nearest even
  const enc = d === 'bf16' ? f32ToBf16 : f32ToF16;
  return (i, v) => { out[i] = enc(v); };
}

/** Y into `v.out` ([rows, nOut] of v.outDtype); every element is written. */
export function groupedGemmReference(v: GroupedGemmValidated): GroupedGemmResult {
  const { rows, k, n, nOut, experts, offsets, bias, addend, activation, gluLayout, outDtype, out } = v;
  const y = { data: out, shape: [rows, nOut], dtype: outDtype } as GroupedGemmResult['y'];
  // Nothing to write (no rows, or n = 0): return before any per-row or per-expert loop, which for
  // [2^31 - 1, 0] inputs would take seconds to do nothing.
  if (rows === 0 || n === 0) return { y };
  // Half inputs are decoded exactly; their products are exact in float64 (24 + 24 bits < 53).
  const a = toF32(v.a);
  const w = toF32(v.w);
  const store = storer(outDtype, out);
  const acc = new Float64Array(n);
  const glu = activation === 'swiglu' || activation === 'geglu';
  const gateFn = activation === 'geglu' ? gelu : silu;
  const fn = glu ? undefined : ACTIVATION_FNS[activation as keyof typeof ACTIVATION_FNS];
  const half = n / 2;

  for (let e = 0; e < experts; e++) {
    for (let r = offsets[e]!; r < offsets[e + 1]!; r++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        const wRow = (e * n + j) * k;
        for (let kk = 0; kk < k; kk++) s += a[r * k + kk]! * w[wRow + kk]!;
        if (bias) s += bias[e * n + j]!;
        if (addend) s += addend[r * n + j]!;
        acc[j] = s;
      }
      if (fn) {
        for (let j = 0; j < n; j++) store(r * nOut + j, fn(acc[j]!));
      } else {
        for (let j = 0; j < nOut; j++) {
          const gate = gluLayout === 'halves' ? acc[j]! : acc[2 * j]!;
          const up = gluLayout === 'halves' ? acc[half + j]! : acc[2 * j + 1]!;
          store(r * nOut + j, gateFn(gate) * up);
        }
      }
    }
  }
  return { y };
}
