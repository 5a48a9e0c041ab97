// Element types and the scalar conversions between them.
//
// bf16 and f16 values travel as their 16-bit patterns in a Uint16Array. Conversions from f32 round to
// nearest, ties to even (SPEC §12); NaN stays NaN (quiet, sign kept). These scalar functions are the
// reference of the `convert` op and the way the reference backend reads half-precision inputs.

export type FloatDType = 'f32' | 'bf16' | 'f16';
export type DType = FloatDType | 'i32';

export const FLOAT_DTYPES: readonly FloatDType[] = ['f32', 'bf16', 'f16'];
export const DTYPES: readonly DType[] = ['f32', 'bf16', 'f16', 'i32'];

/** The typed array that holds elements of dtype `D`. */
export type ArrayFor<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : Uint16Array;

export function isFloatDType(d: unknown): d is FloatDType {
  return d === 'f32' || d === 'bf16' || d === 'f16';
}

export function bytesPerElement(d: DType): number {
  return d === 'bf16' || d === 'f16' ? 2 : 4;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f32 -> bf16 bits, round to nearest even; NaN -> quiet NaN with the same sign. */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x0040) & 0xffff;
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff;
}

/** bf16 bits -> f32 value (exact). */
export function bf16ToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

/** f32 -> f16 bits, round to nearest even, with subnormals; overflow -> ±inf; NaN -> quiet NaN. */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | (mant ? 0x7e00 : 0x7c00);
  // Unbiased exponent; f16 normal range is [-14, 15].
  const e = exp - 127;
  if (e > 15) return sign | 0x7c00;
  if (e >= -14) {
    // Normal f16: keep 10 mantissa bits, round the 13 dropped ones to nearest even.
    let h = ((e + 15) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h += 1; // carry may roll into the exponent: correct
    return sign | h;
  }
  if (e < -25) return sign; // below half the smallest subnormal (2^-25): rounds to zero
  // Subnormal f16: value = mant24 * 2^(e-23), unit 2^-24, so shift = -1 - e (in [14, 24]).
  mant |= 0x800000;
  const shift = -1 - e;
  let h = mant >>> shift;
  const rest = mant & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (h & 1))) h += 1;
  return sign | h;
}

/** f16 bits -> f32 value (exact). NaN: quiet, sign and payload kept (as F16C's vcvtph2ps), so that
 *  f16 -> bf16 keeps them too. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f && mant) {
    u32[0] = (((h & 0x8000) << 16) | 0x7fc00000 | (mant << 13)) >>> 0;
    return f32[0]!;
  }
  if (exp === 0x1f) return sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Round a number to what dtype `d` can hold (as a JS number). */
export function roundTo(d: FloatDType, x: number): number {
  if (d === 'f32') return Math.fround(x);
  if (d === 'bf16') return bf16ToF32(f32ToBf16(x));
  return f16ToF32(f32ToF16(x));
}
