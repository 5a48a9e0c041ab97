// Reference `convert`: one scalar conversion per element through lib/dtype.ts (the RNE definitions).

import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, FloatDType } from '../dtype';
import type { ConvertResult, ConvertValidated } from '../ops/convert.types';

/** Half bits -> f32 value (exact), or the f32 value itself. */
function decoder(d: FloatDType): (v: number) => number {
  return d === 'bf16' ? bf16ToF32 : d === 'f16' ? f16ToF32 : (v) => v;
}

/** f32 value -> element of `d` (RNE for the half types; f32 values pass through unchanged). */
function encoder(d: FloatDType): (v: number) => number {
  return d === 'bf16' ? f32ToBf16 : d === 'f16' ? f32ToF16 : (v) => v;
}

/** y = x converted to `to`, written into `a.out`. Same dtype copies the elements (bits for half types,
 *  so NaN payloads survive); otherwise every element goes x -> f32 (exact) -> `to` (one rounding). */
export function convertReference(a: ConvertValidated): ConvertResult {
  const { x, to, out } = a;
  const src = x.data;
  const n = src.length;
  if (x.dtype === to) {
    // A typed-array copy moves bits, so f32 NaN payloads survive too (a JS number round trip need not).
    (out as Uint16Array).set(src as Uint16Array);
  } else {
    const dec = decoder(x.dtype);
    const enc = encoder(to);
    for (let i = 0; i < n; i++) out[i] = enc(dec(src[i]!));
  }
  return { y: { data: out, shape: [...x.shape], dtype: to } as ConvertResult['y'] };
}
