// Per-op error measures of the conformance suite (SPEC §12): bitwise for conversions, exact for ids,
// offsets and maps, norm-wise relative error for float math.

import { bf16ToF32, DType, f16ToF32 } from '../../lib/dtype';
import type { OutputArray } from '../../lib/backends/alloc';

export type Measure =
  /** Bit for bit. f32 NaNs compare up to the quiet bit: a JS number cannot carry a signalling NaN (V8
   *  quiets it when the reference reads the f32), so the reference's f32 NaNs are always quiet. */
  | { kind: 'bits' }
  /** Integer outputs (ids, offsets, maps): equal values. */
  | { kind: 'exact' }
  /** ‖got − want‖ / ‖want‖ ≤ tol over the finite elements; NaN and ±inf at the same places. */
  | { kind: 'relNorm'; tol: number };

/** SPEC §12: f32 kernels 1e-5; with bf16 (or f16) inputs 1e-2, the reference computed from the same rounded
 *  inputs. */
export const TOL = { f32: 1e-5, half: 1e-2 } as const;

interface Data {
  data: OutputArray;
  dtype: DType;
}

/** Decodes an output to numbers (half types through lib/dtype.ts). */
export function values(o: Data): Float64Array {
  const dec = o.dtype === 'bf16' ? bf16ToF32 : o.dtype === 'f16' ? f16ToF32 : (v: number) => v;
  return Float64Array.from(o.data as ArrayLike<number>, dec);
}

const hex = (v: number | undefined): string => (v === undefined ? '-' : `0x${v.toString(16)}`);

/** Whether raw bits of `dtype` are a NaN (exponent all ones, mantissa not zero). */
export function nanBits(v: number, dtype: DType): boolean {
  if (dtype === 'f32') return (v & 0x7fffffff) >>> 0 > 0x7f800000;
  if (dtype === 'bf16') return (v & 0x7fff) > 0x7f80;
  if (dtype === 'f16') return (v & 0x7fff) > 0x7c00;
  return false;
}

/** Null when `got` matches `want` under `m`, else what differs (the first few elements). */
export function compare(got: Data, want: Data, m: Measure): string | null {
  if (got.dtype !== want.dtype) return `dtype ${got.dtype}, want ${want.dtype}`;
  if (got.data.length !== want.data.length) return `length ${got.data.length}, want ${want.data.length}`;
  const bad: string[] = [];
  const n = got.data.length;
  if (m.kind === 'bits') {
    const f32 = got.dtype === 'f32';
    const g = got.data instanceof Uint16Array ? got.data : new Uint32Array(got.data.buffer, got.data.byteOffset, n);
    const w = want.data instanceof Uint16Array ? want.data : new Uint32Array(want.data.buffer, want.data.byteOffset, n);
    for (let i = 0; i < n && bad.length < 5; i++) {
      const a = g[i]!;
      const b = w[i]!;
      if (a === b || (f32 && nanBits(a, 'f32') && nanBits(b, 'f32') && (a | 0x400000) === (b | 0x400000))) continue;
      bad.push(`[${i}] ${hex(a)} want ${hex(b)}`);
    }
    return bad.length ? `bits differ: ${bad.join(', ')}` : null;
  }
  if (m.kind === 'exact') {
    for (let i = 0; i < n && bad.length < 5; i++) if (got.data[i] !== want.data[i]) bad.push(`[${i}] ${got.data[i]} want ${want.data[i]}`);
    return bad.length ? `values differ: ${bad.join(', ')}` : null;
  }
  const g = values(got);
  const w = values(want);
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const a = g[i]!;
    const b = w[i]!;
    if (Number.isFinite(b)) {
      if (!Number.isFinite(a)) {
        if (bad.length < 5) bad.push(`[${i}] ${a} want ${b}`);
        continue;
      }
      num += (a - b) ** 2;
      den += b * b;
    } else if (!Object.is(a, b) && !(Number.isNaN(a) && Number.isNaN(b)) && bad.length < 5) {
      bad.push(`[${i}] ${a} want ${b}`);
    }
  }
  if (bad.length) return `non-finite elements differ: ${bad.join(', ')}`;
  const err = den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
  return err <= m.tol ? null : `relative error ${err.toExponential(3)} > ${m.tol}`;
}
