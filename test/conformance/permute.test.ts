// permute on every native backend and SIMD path vs the reference: rows bit for bit, the maps, offsets and
// counts exactly. Odd sizes (T = 0, 1, 7, 255, 4097; H = 1, 33, 2049), E from 1 to 256, k in {1, 2, 8},
// padding (align 16), expert maps (expert parallelism: some experts on another rank), zero-computation
// ids, scale (1: bit copies with NaN payloads and -0; 2: exact in f32; 0.1: f64 product), every dtype,
// empty experts, every token to one expert, one case whose rows pass 64 MiB (streaming stores), and
// caller-provided outputs (args.out, exactly sized so that the harness poisons and guards them; larger ones
// are covered by test/permute.out.test.ts).

import { allocOutput } from '../../lib/backends/alloc';
import { permute, permuteAsync, validatePermute } from '../../lib/ops/permute';
import type { PermuteArgs, PermuteOut, PermuteResult } from '../../lib/ops/permute.types';
import type { FloatDType } from '../../lib/dtype';
import { f32ToBf16, f32ToF16 } from '../../lib/dtype';
import { Rng } from '../../lib/random';
import { Case, conformance } from './harness';

interface Spec {
  T: number;
  H: number;
  E: number;
  k: number;
  dtype: FloatDType;
  /** Zero-computation ids above the FFN experts. */
  special?: number;
  align?: number;
  scale?: number;
  map?: boolean;
  /** Every token's first slot to this expert, the other slots empty. */
  one?: number;
  /** Fraction of empty (-1) slots. */
  empty?: number;
  /** Only these experts are ever picked (the others stay empty). */
  used?: number;
  /** Pass args.out: every output, or only rows and rowToToken (the others allocated). */
  out?: 'all' | 'rows';
}

/** x [T, H] of `dtype` with normal values, plus NaN (with a payload), -0, ±inf and a subnormal. */
function tokens(rng: Rng, T: number, H: number, dtype: FloatDType): Float32Array | Uint16Array {
  const n = T * H;
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = rng.normal();
  const bits = new Uint32Array(f.buffer);
  const specials = [0x7fc12345, 0x80000000, 0x7f800000, 0xff800000, 0x00000003, 0xffc00001];
  for (let i = 0; i < Math.min(n, specials.length); i++) bits[(i * 7919) % n] = specials[i]!;
  if (dtype === 'f32') return f;
  return Uint16Array.from(f, dtype === 'bf16' ? f32ToBf16 : f32ToF16);
}

function routing(rng: Rng, s: Spec): Int32Array {
  const total = s.E + (s.special ?? 0);
  const pool = s.used ?? total;
  const ids = new Int32Array(s.T * s.k).fill(-1);
  for (let t = 0; t < s.T; t++) {
    if (s.one !== undefined) {
      ids[t * s.k] = s.one;
      continue;
    }
    const perm = Array.from({ length: pool }, (_, i) => i);
    for (let j = 0; j < s.k && j < pool; j++) {
      const r = j + rng.int(pool - j);
      [perm[j], perm[r]] = [perm[r]!, perm[j]!];
      if (rng.next() >= (s.empty ?? 0.1)) ids[t * s.k + j] = perm[j]!;
    }
  }
  return ids;
}

function makeCase(s: Spec, seed: number): Case<PermuteArgs> {
  const total = s.E + (s.special ?? 0);
  const parts = [`${s.dtype}`, `T = ${s.T}`, `H = ${s.H}`, `E = ${s.E}`, `k = ${s.k}`];
  if (s.special) parts.push(`${s.special} zero-computation ids`);
  if (s.align) parts.push(`align ${s.align}`);
  if (s.scale !== undefined) parts.push(`scale ${s.scale}`);
  if (s.map) parts.push('expert map');
  if (s.one !== undefined) parts.push(`every token to expert ${s.one}`);
  if (s.used !== undefined) parts.push(`only experts < ${s.used} used`);
  if (s.out) parts.push(s.out === 'all' ? 'every output preallocated' : 'rows and rowToToken preallocated');
  let cached: { x: Float32Array | Uint16Array; ids: Int32Array; map?: Int32Array } | undefined;
  const data = (): NonNullable<typeof cached> => {
    if (cached) return cached;
    const rng = new Rng(seed);
    const x = tokens(rng, s.T, s.H, s.dtype);
    const ids = routing(rng, s);
    // Expert parallelism: this rank holds every other global FFN expert, in reverse order.
    let map: Int32Array | undefined;
    if (s.map) {
      map = new Int32Array(total).fill(-1);
      let local = 0;
      for (let g = s.E - 1; g >= 0; g -= 2) map[g] = local++;
    }
    return (cached = { x, ids, ...(map ? { map } : {}) });
  };
  const experts = s.map ? Math.ceil(s.E / 2) : s.E;
  return {
    name: parts.join(', '),
    args: () => {
      const d = data();
      const a: PermuteArgs = {
        x: { data: d.x, shape: [s.T, s.H], dtype: s.dtype },
        ids: { data: d.ids, shape: [s.T, s.k], dtype: 'i32' },
        experts,
        ...(s.special || s.map ? { totalExperts: total } : {}),
        ...(d.map ? { expertMap: d.map } : {}),
        ...(s.align ? { align: s.align } : {}),
        ...(s.scale !== undefined ? { scale: s.scale } : {}),
      };
      if (!s.out) return a;
      // Sized by the layout of this routing: the result is then the caller's array itself, which the
      // harness recognises as a poisoned, guarded allocation.
      const R = validatePermute(a).rows;
      const out: PermuteOut = { rows: allocOutput(s.dtype, R * s.H), rowToToken: allocOutput('i32', R) };
      if (s.out === 'all') {
        out.offsets = allocOutput('i32', experts + 1);
        out.slotToRow = allocOutput('i32', s.T * s.k);
        out.tokensPerExpert = allocOutput('i32', experts);
      }
      return { ...a, out };
    },
  };
}

const specs: Spec[] = [];
const DTYPES: FloatDType[] = ['f32', 'bf16', 'f16'];
for (const dtype of DTYPES) {
  specs.push(
    { T: 0, H: 33, E: 8, k: 2, dtype },
    { T: 1, H: 1, E: 1, k: 1, dtype },
    { T: 7, H: 33, E: 8, k: 2, dtype, special: 4 },
    { T: 255, H: 2049, E: 64, k: 8, dtype, align: 16 },
    { T: 255, H: 33, E: 128, k: 8, dtype, scale: 2 },
    { T: 255, H: 33, E: 128, k: 8, dtype, scale: 0.1, special: 4, align: 16 },
    { T: 4097, H: 33, E: 256, k: 8, dtype, map: true, special: 2 },
    { T: 255, H: 2049, E: 128, k: 2, dtype, scale: -3.5, map: true },
    { T: 4097, H: 1, E: 8, k: 2, dtype, scale: 1e-30 },
  );
}
specs.push(
  { T: 255, H: 33, E: 64, k: 8, dtype: 'bf16', one: 5, align: 16 },
  { T: 255, H: 33, E: 64, k: 2, dtype: 'f32', used: 3, align: 16 },
  { T: 7, H: 2049, E: 8, k: 8, dtype: 'f16', empty: 1 },
  { T: 7, H: 33, E: 2, k: 2, dtype: 'f32', special: 6, used: 6 },
  { T: 4097, H: 33, E: 128, k: 1, dtype: 'bf16', scale: 2, empty: 0 },
  // 4097 · 4 rows · 1025 · 4 bytes = 67.2 MB > 64 MiB: the gather streams its stores.
  { T: 4097, H: 1025, E: 8, k: 4, dtype: 'f32', empty: 0 },
  { T: 255, H: 2049, E: 64, k: 8, dtype: 'bf16', align: 16, special: 4, out: 'all' },
  { T: 255, H: 33, E: 128, k: 8, dtype: 'f32', scale: 0.1, map: true, special: 2, out: 'all' },
  { T: 7, H: 33, E: 8, k: 2, dtype: 'f16', align: 16, out: 'rows' },
  { T: 0, H: 33, E: 8, k: 2, dtype: 'f32', out: 'all' },
);

const cases = specs.map((s, i) => makeCase(s, 1000 + i));

conformance<PermuteArgs, PermuteResult>({
  op: 'permute',
  cases,
  run: permute,
  runAsync: permuteAsync,
  outputs: (r) => ({
    rows: { data: r.rows.data, dtype: r.rows.dtype, measure: { kind: 'bits' } },
    offsets: { data: r.offsets.data, dtype: 'i32', measure: { kind: 'exact' } },
    slotToRow: { data: r.slotToRow.data, dtype: 'i32', measure: { kind: 'exact' } },
    rowToToken: { data: r.rowToToken.data, dtype: 'i32', measure: { kind: 'exact' } },
    tokensPerExpert: { data: r.tokensPerExpert.data, dtype: 'i32', measure: { kind: 'exact' } },
  }),
});
