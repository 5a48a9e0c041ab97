// Error measures of the GPU check (SPEC §12) and its poisoning allocator. A copy of the conformance suite's
// rules (test/conformance/measures.ts, which is not compiled into dist/): exact for ids, offsets and maps,
// norm-wise relative error for floats with NaN / ±inf required at the same places, and outputs pre-filled
// with a pattern no kernel produces, so an element nobody wrote is caught.

import { setAllocator, defaultAllocator, OutputArray } from '../../lib/backends/alloc';
import { bf16ToF32, DType, f16ToF32 } from '../../lib/dtype';

export type Measure = { kind: 'exact' } | { kind: 'relNorm'; tol: number };
export const EXACT: Measure = { kind: 'exact' };
export const rel = (tol: number): Measure => ({ kind: 'relNorm', tol });
/** SPEC §12: f32 1e-5; any bf16 / f16 operand or output 1e-2. */
export const TOL = { f32: 1e-5, half: 1e-2 } as const;

export interface Out {
  data: ArrayLike<number> & ArrayBufferView;
  dtype: DType;
  measure: Measure;
}

export const POISON: Record<DType, number> = { f32: 0x7fa5a5a5, i32: 0x5a5a5a5a, bf16: 0x7d5a, f16: 0x7d5a };

function bits(a: ArrayBufferView, dtype: DType): Uint32Array | Uint16Array {
  return dtype === 'bf16' || dtype === 'f16'
    ? new Uint16Array(a.buffer, a.byteOffset, a.byteLength / 2)
    : new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4);
}

function decode(o: Out): Float64Array {
  const dec = o.dtype === 'bf16' ? bf16ToF32 : o.dtype === 'f16' ? f16ToF32 : (v: number) => v;
  return Float64Array.from(o.data as ArrayLike<number>, dec);
}

/** The result of one comparison: null when it passes, else what differs; `err` for float measures. */
export function compare(got: Out, want: Out): { problem: string | null; err: number } {
  if (got.data.length !== want.data.length) return { problem: `length ${got.data.length}, want ${want.data.length}`, err: Infinity };
  const bad: string[] = [];
  const n = got.data.length;
  const p = POISON[got.dtype];
  const gb = bits(got.data, got.dtype);
  const wb = bits(want.data, want.dtype);
  for (let i = 0; i < n && bad.length < 3; i++) {
    if (gb[i] === p && wb[i] !== p) bad.push(`[${i}] never written (poison)`);
  }
  if (bad.length) return { problem: bad.join(', '), err: Infinity };
  if (got.measure.kind === 'exact') {
    for (let i = 0; i < n && bad.length < 5; i++) if (got.data[i] !== want.data[i]) bad.push(`[${i}] ${got.data[i]} want ${want.data[i]}`);
    return { problem: bad.length ? `values differ: ${bad.join(', ')}` : null, err: bad.length ? Infinity : 0 };
  }
  const g = decode(got);
  const w = decode(want);
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
  if (bad.length) return { problem: `non-finite elements differ: ${bad.join(', ')}`, err: Infinity };
  const err = den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
  return { problem: err <= got.measure.tol ? null : `relative error ${err.toExponential(3)} > ${got.measure.tol}`, err };
}

/** Runs `fn` with every backend output pre-filled with POISON (restores the allocator afterwards). */
export function withPoison<T>(fn: () => T): T {
  const previous = setAllocator((dtype, length) => {
    const a = defaultAllocator(dtype, length) as OutputArray;
    bits(a, dtype).fill(POISON[dtype]);
    return a;
  });
  try {
    return fn();
  } finally {
    setAllocator(previous);
  }
}

/** Poisons an output array the caller allocates itself (validation-allocated `out`s). */
export function poisoned<T extends Float32Array | Uint16Array>(a: T, dtype: DType): T {
  bits(a, dtype).fill(POISON[dtype]);
  return a;
}
