// Output comparisons for the benchmarks (SPEC §12): norm-wise relative error for floats (1e-5 for f32,
// 1e-2 when half types are involved), exact equality for ids, offsets and maps, bitwise equality between
// thread counts.

import type { FloatDType, Tensor } from '../lib';
import { bf16ToF32, f16ToF32 } from '../lib';
import type { Validation } from './results';

export const TOL = { f32: 1e-5, half: 1e-2 } as const;

export function tolFor(...dtypes: string[]): number {
  return dtypes.some((d) => d === 'bf16' || d === 'f16') ? TOL.half : TOL.f32;
}

/** Element i of a float tensor's data as a number (bf16 / f16 bits decoded). */
export function reader(t: { data: ArrayLike<number>; dtype: string }): (i: number) => number {
  const d = t.data;
  if (t.dtype === 'bf16') return (i) => bf16ToF32(d[i]!);
  if (t.dtype === 'f16') return (i) => f16ToF32(d[i]!);
  return (i) => d[i]!;
}

/** ‖a − b‖ / ‖b‖ over elements [from, from + n) of a and [bFrom, bFrom + n) of b; NaN if any NaN. */
export function relErrRange(a: (i: number) => number, aFrom: number, b: (i: number) => number, bFrom: number, n: number): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const x = a(aFrom + i);
    const y = b(bFrom + i);
    num += (x - y) * (x - y);
    den += y * y;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

export function relErr(a: Tensor, b: Tensor): number {
  if (a.data.length !== b.data.length) return Infinity;
  return relErrRange(reader(a), 0, reader(b), 0, a.data.length);
}

/** Number of positions where two integer (or bit-pattern) arrays differ; Infinity for different lengths. */
export function mismatches(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) n++;
  return n;
}

/** Bitwise equality of two typed arrays (NaN payloads included). */
export function sameBits(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** A float check: ok when err <= tol (NaN fails). */
export function floatCheck(err: number, tol: number, against: string, note?: string): Validation {
  return { ok: err <= tol, err, tol, against, ...(note ? { note } : {}) };
}

/** An exact check: err is the mismatch count. */
export function exactCheck(count: number, against: string, note?: string): Validation {
  return { ok: count === 0, err: count, tol: 0, against, ...(note ? { note } : {}) };
}

/** Combines checks: the worst one decides (failures first, then the largest error relative to its tolerance). */
export function worst(...vs: Validation[]): Validation {
  const failed = vs.find((v) => !v.ok);
  if (failed) return failed;
  return vs.reduce((a, b) => ((b.tol ? b.err / b.tol : b.err) > (a.tol ? a.err / a.tol : a.err) ? b : a));
}

export function bytesOf(d: FloatDType | 'i32'): number {
  return d === 'f32' || d === 'i32' ? 4 : 2;
}
