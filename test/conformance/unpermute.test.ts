// unpermute on every native backend and SIMD path vs the reference (f64 sums): norm-wise relative error
// below 1e-5 for f32 out and 1e-2 for half out (SPEC §12), NaN and ±inf at the same places; bitwise
// identical for 1 and 2 threads and sync / async (the harness). Odd sizes (T = 0, 1, 7, 255, 4097; H = 1,
// 33, 2049), k in {1, 2, 8}, E from 1 to 256, every y / x / out dtype, copy / zero / constant experts
// (MoE++ with inputScale), shared and residual, NaN weights (on FFN, empty and zero-expert slots), FFN
// experts without a row (another rank's), padding rows nobody reads, a preallocated out and out === residual.

import { unpermute, unpermuteAsync } from '../../lib/ops/unpermute';
import type { UnpermuteArgs, UnpermuteResult } from '../../lib/ops/unpermute.types';
import type { FloatDType } from '../../lib/dtype';
import { f32ToBf16, f32ToF16 } from '../../lib/dtype';
import { allocOutput } from '../../lib/backends/alloc';
import { Rng } from '../../lib/random';
import { Case, conformance, TOL } from './harness';

interface Spec {
  T: number;
  H: number;
  E: number;
  k: number;
  y: FloatDType;
  out?: FloatDType;
  /** MoE++ experts after the E FFN experts: 2 constant, 1 copy, 1 zero; x of this dtype. */
  special?: FloatDType;
  inputScale?: number;
  shared?: FloatDType;
  residual?: FloatDType;
  nanWeights?: boolean;
  /** Some FFN slots have no row (their expert lives on another rank). */
  remote?: boolean;
  /** 'out': pass a preallocated out; 'residual': out is the residual's own array. */
  outArg?: 'out' | 'residual';
}

function floats(rng: Rng, n: number, dtype: FloatDType, sd = 1): Float32Array | Uint16Array {
  const f = Float32Array.from({ length: n }, () => sd * rng.normal());
  if (dtype === 'f32') return f;
  return Uint16Array.from(f, dtype === 'bf16' ? f32ToBf16 : f32ToF16);
}

interface Data {
  ids: Int32Array;
  w: Float32Array;
  slotToRow: Int32Array;
  rows: number;
  y: Float32Array | Uint16Array;
  x?: Float32Array | Uint16Array;
  wc?: Float32Array;
  v?: Float32Array;
  shared?: Float32Array | Uint16Array;
  residual?: Float32Array | Uint16Array;
}

function generate(s: Spec, seed: number): Data {
  const rng = new Rng(seed);
  const total = s.E + (s.special ? 4 : 0);
  const n = s.T * s.k;
  const ids = new Int32Array(n).fill(-1);
  const w = new Float32Array(n);
  for (let t = 0; t < s.T; t++) {
    const perm = Array.from({ length: total }, (_, i) => i);
    for (let j = 0; j < s.k && j < total; j++) {
      const r = j + rng.int(total - j);
      [perm[j], perm[r]] = [perm[r]!, perm[j]!];
      const empty = rng.next() < 0.1;
      ids[t * s.k + j] = empty ? -1 : perm[j]!;
      w[t * s.k + j] = empty ? 0 : rng.uniform(0, 1);
    }
  }
  if (s.nanWeights) for (let i = 3; i < n; i += 17) w[i] = NaN; // FFN, empty and special slots alike
  // Rows: the FFN slots (minus remote ones) in a shuffled order, then 3 padding rows nobody reads.
  const slots: number[] = [];
  for (let i = 0; i < n; i++) if (ids[i]! >= 0 && ids[i]! < s.E && !(s.remote && ids[i]! % 3 === 0)) slots.push(i);
  for (let i = slots.length - 1; i > 0; i--) {
    const r = rng.int(i + 1);
    [slots[i], slots[r]] = [slots[r]!, slots[i]!];
  }
  const slotToRow = new Int32Array(n).fill(-1);
  slots.forEach((slot, r) => (slotToRow[slot] = r));
  const rows = slots.length + 3;
  const d: Data = { ids, w, slotToRow, rows, y: floats(rng, rows * s.H, s.y) };
  if (s.special) {
    d.x = floats(rng, s.T * s.H, s.special);
    d.wc = floats(rng, 2 * 2 * s.H, 'f32', 1 / Math.sqrt(s.H)) as Float32Array;
    d.v = floats(rng, 2 * s.H, 'f32') as Float32Array;
  }
  if (s.shared) d.shared = floats(rng, s.T * s.H, s.shared);
  if (s.residual) d.residual = floats(rng, s.T * s.H, s.residual);
  return d;
}

function makeCase(s: Spec, seed: number): Case<UnpermuteArgs> {
  const outDtype = s.out ?? s.y;
  const parts = [`y ${s.y} -> ${outDtype}`, `T = ${s.T}`, `H = ${s.H}`, `E = ${s.E}`, `k = ${s.k}`];
  if (s.special) parts.push(`const/copy/zero experts (x ${s.special}, inputScale ${s.inputScale ?? 1})`);
  if (s.shared) parts.push(`shared ${s.shared}`);
  if (s.residual) parts.push(`residual ${s.residual}`);
  if (s.nanWeights) parts.push('NaN weights');
  if (s.remote) parts.push('remote experts');
  if (s.outArg) parts.push(s.outArg === 'out' ? 'preallocated out' : 'out === residual');
  let cached: Data | undefined;
  const H = s.H;
  return {
    name: parts.join(', '),
    args: () => {
      const d = (cached ??= generate(s, seed));
      const tok = (data: Float32Array | Uint16Array, dtype: FloatDType) => ({ data, shape: [s.T, H], dtype });
      const a: UnpermuteArgs = {
        y: { data: d.y, shape: [d.rows, H], dtype: s.y },
        ids: { data: d.ids, shape: [s.T, s.k], dtype: 'i32' },
        weights: { data: d.w, shape: [s.T, s.k], dtype: 'f32' },
        slotToRow: { data: d.slotToRow, shape: [s.T, s.k], dtype: 'i32' },
        outDtype,
      };
      if (s.special) {
        a.constantExperts = { ids: [s.E, s.E + 1], wc: { data: d.wc!, shape: [2, 2, H], dtype: 'f32' }, v: { data: d.v!, shape: [2, H], dtype: 'f32' } };
        a.copyExperts = [s.E + 2];
        a.zeroExperts = [s.E + 3];
        a.x = tok(d.x!, s.special);
        if (s.inputScale !== undefined) a.inputScale = s.inputScale;
      }
      if (d.shared) a.shared = tok(d.shared, s.shared!);
      if (d.residual) {
        // out === residual: a fresh poisoned copy each run, since the op overwrites it.
        if (s.outArg === 'residual') {
          const r = allocOutput(s.residual!, d.residual.length);
          r.set(d.residual as never);
          a.residual = tok(r, s.residual!);
          a.out = r;
        } else {
          a.residual = tok(d.residual, s.residual!);
        }
      }
      if (s.outArg === 'out') a.out = allocOutput(outDtype, s.T * H);
      return a;
    },
  };
}

const specs: Spec[] = [];
const DTYPES: FloatDType[] = ['f32', 'bf16', 'f16'];
for (const y of DTYPES) {
  for (const out of DTYPES) specs.push({ T: 255, H: 33, E: 64, k: 8, y, out });
  specs.push(
    { T: 0, H: 33, E: 8, k: 2, y },
    { T: 1, H: 1, E: 1, k: 1, y },
    { T: 1, H: 2049, E: 128, k: 8, y },
    { T: 7, H: 2049, E: 8, k: 2, y, special: y, inputScale: 2, shared: y, residual: y },
    { T: 4097, H: 33, E: 256, k: 8, y, nanWeights: true },
    { T: 64, H: 2049, E: 128, k: 8, y, shared: 'f32', residual: 'bf16', out: 'f32' },
  );
}
specs.push(
  { T: 255, H: 33, E: 8, k: 2, y: 'bf16', special: 'f32', inputScale: 2, nanWeights: true },
  { T: 255, H: 33, E: 8, k: 1, y: 'f32', special: 'f16', inputScale: 0.7, remote: true },
  { T: 7, H: 1, E: 2, k: 2, y: 'f16', special: 'bf16', out: 'f32' },
  { T: 4097, H: 33, E: 64, k: 8, y: 'f32', special: 'bf16', inputScale: 2, shared: 'f16', residual: 'f32', remote: true },
  { T: 255, H: 33, E: 64, k: 8, y: 'bf16', outArg: 'out' },
  { T: 255, H: 33, E: 64, k: 8, y: 'bf16', residual: 'bf16', outArg: 'residual' },
  { T: 7, H: 2049, E: 8, k: 8, y: 'f32', residual: 'f32', shared: 'f32', outArg: 'residual' },
);

const tol = (d: FloatDType): number => (d === 'f32' ? TOL.f32 : TOL.half);

conformance<UnpermuteArgs, UnpermuteResult>({
  op: 'unpermute',
  cases: specs.map((s, i) => makeCase(s, 2000 + i)),
  run: unpermute,
  runAsync: unpermuteAsync,
  outputs: (r) => ({ out: { data: r.out.data, dtype: r.out.dtype, measure: { kind: 'relNorm', tol: tol(r.out.dtype) } } }),
});
