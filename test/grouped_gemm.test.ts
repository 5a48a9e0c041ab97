// grouped_gemm against an independent naive loop written here (each row finds its expert by scanning
// offsets; textbook activation formulas), over odd sizes, every activation, both GLU layouts, bias / addend,
// half-precision inputs and outputs, empty experts, and invariants (fast-check).

import fc from 'fast-check';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, FloatDType } from '../lib/dtype';
import { groupedGemm as groupedGemmAny } from '../lib/ops/grouped_gemm';
import type { OpOptions } from '../lib/backends/backend';

// These tests hold the reference to exact f64 rounding; native backends are held to SPEC §12's tolerances by
// test/conformance/grouped_gemm.test.ts.
const groupedGemm = (args: Parameters<typeof groupedGemmAny>[0], opts: OpOptions = {}) => groupedGemmAny(args, { backend: 'reference', ...opts });
import { Activation, ACTIVATIONS, GluLayout, GroupedGemmArgs } from '../lib/ops/grouped_gemm.types';
import { Rng } from '../lib/random';
import { erf } from '../lib/reference/activations';
import { relErr } from './util';

const enc = (d: FloatDType, v: Float32Array): Float32Array | Uint16Array =>
  d === 'f32' ? v : Uint16Array.from(v, d === 'bf16' ? f32ToBf16 : f32ToF16);
const dec = (d: FloatDType, v: Float32Array | Uint16Array): number[] =>
  d === 'f32' ? Array.from(v) : Array.from(v, d === 'bf16' ? bf16ToF32 : f16ToF32);

const textbook: Record<string, (x: number) => number> = {
  none: (x) => x,
  relu: (x) => Math.max(x, 0),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  silu: (x) => x / (1 + Math.exp(-x)),
  tanh: (x) => Math.tanh(x),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
};

interface Spec { rows: number; K: number; N: number; offsets: number[]; act?: Activation; layout?: GluLayout;
  aD?: FloatDType; wD?: FloatDType; outDtype?: FloatDType; bias?: boolean; addend?: boolean; omitOffsets?: boolean }

/** Builds arguments from a spec and the naive f64 result from the (rounded) inputs. */
function build(rng: Rng, s: Spec): { args: GroupedGemmArgs; want: number[] } {
  const E = s.offsets.length - 1;
  const { rows, K, N } = s;
  const aD = s.aD ?? 'f32';
  const wD = s.wD ?? 'f32';
  const a = enc(aD, rng.f32(rows * K));
  const w = enc(wD, rng.f32(E * N * K));
  const bias = s.bias ? rng.f32(E * N) : undefined;
  const addend = s.addend ? rng.f32(rows * N) : undefined;
  const av = dec(aD, a);
  const wv = dec(wD, w);
  const act = s.act ?? 'none';
  const glu = act === 'swiglu' || act === 'geglu';
  const want: number[] = [];
  for (let r = 0; r < rows; r++) {
    let e = -1;
    for (let i = 0; i < E; i++) if (s.offsets[i]! <= r && r < s.offsets[i + 1]!) e = i;
    const pre: number[] = [];
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += av[r * K + k]! * wv[(e * N + j) * K + k]!;
      if (bias) acc += bias[e * N + j]!;
      if (addend) acc += addend[r * N + j]!;
      pre.push(acc);
    }
    if (!glu) {
      for (const v of pre) want.push(textbook[act]!(v));
    } else {
      for (let j = 0; j < N / 2; j++) {
        const [g, u] = s.layout === 'interleaved' ? [pre[2 * j]!, pre[2 * j + 1]!] : [pre[j]!, pre[N / 2 + j]!];
        want.push(textbook[act === 'swiglu' ? 'silu' : 'gelu']!(g) * u);
      }
    }
  }
  const args: GroupedGemmArgs = {
    a: { data: a, shape: [rows, K], dtype: aD },
    w: { data: w, shape: [E, N, K], dtype: wD },
    ...(s.omitOffsets ? {} : { offsets: Int32Array.from(s.offsets) }),
    bias, addend, activation: s.act, gluLayout: s.layout, outDtype: s.outDtype,
  };
  return { args, want };
}

/** Random split of rows into E segments (some empty). */
function split(rng: Rng, rows: number, E: number): number[] {
  const cuts = Array.from({ length: E - 1 }, () => (rng.next() < 0.2 ? 0 : rng.int(rows + 1))).sort((x, y) => x - y);
  return [0, ...cuts, rows];
}

function check(got: ArrayLike<number>, want: number[], half: boolean): void {
  expect(got.length).toBe(want.length);
  const tol = half ? 1e-2 : 1e-6;
  expect(relErr(got, want)).toBeLessThan(tol);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= (half ? 8e-3 : 3e-7) * Math.abs(want[i]!) + (half ? 1e-3 : 1e-7))) {
      throw new Error(`element ${i}: got ${got[i]}, want ${want[i]}`);
    }
  }
}

function run(rng: Rng, s: Spec): void {
  const { args, want } = build(rng, s);
  const y = groupedGemm(args).y;
  const outD = s.outDtype ?? s.aD ?? 'f32';
  expect(y.dtype).toBe(outD);
  const glu = s.act === 'swiglu' || s.act === 'geglu';
  expect(y.shape).toEqual([s.rows, glu ? s.N / 2 : s.N]);
  check(dec(outD, y.data), want, outD !== 'f32');
}

describe('grouped_gemm vs a naive loop', () => {
  const sizes: [number, number, number][] = [[1, 5, 6], [7, 16, 12], [255, 33, 10], [4097, 3, 4]];
  test.each(sizes)('rows %p, K %p, N %p: every activation, random experts, bias and addend', (rows, K, N) => {
    const rng = new Rng(rows * 31 + K);
    for (const act of ACTIVATIONS) {
      for (const layout of act === 'swiglu' || act === 'geglu' ? (['halves', 'interleaved'] as const) : (['halves'] as const)) {
        const E = 1 + rng.int(5);
        run(rng, { rows, K, N, offsets: split(rng, rows, E), act, layout, bias: rng.next() < 0.7, addend: rng.next() < 0.5 });
      }
    }
  });

  test.each([
    ['f32', 'bf16', undefined], ['bf16', 'bf16', undefined], ['f16', 'f16', undefined], ['f32', 'f16', undefined],
    ['bf16', 'f16', 'f32'], ['f32', 'f32', 'bf16'], ['f32', 'bf16', 'f16'], ['f16', 'bf16', 'bf16'],
  ] as const)('a %s, w %s, out %s (undefined = the dtype of a; half: relative error < 1e-2 vs the f64 result of the rounded inputs)', (aD, wD, outDtype) => {
    const rng = new Rng(7);
    for (const [rows, act] of [[7, 'swiglu'], [255, 'gelu'], [33, 'none']] as const) {
      run(rng, { rows, K: 24, N: 10, offsets: split(rng, rows, 3), act, aD, wD, outDtype, bias: true, addend: true });
    }
  });

  test("activation 'none' is rounded once from the f64 sum (exact match)", () => {
    const rng = new Rng(3);
    for (const outDtype of ['f32', 'bf16', 'f16'] as const) {
      const { args, want } = build(rng, { rows: 19, K: 40, N: 9, offsets: [0, 5, 5, 19], bias: true, addend: true, outDtype });
      const got = groupedGemm(args).y.data;
      const round = outDtype === 'f32' ? Math.fround : outDtype === 'bf16' ? f32ToBf16 : f32ToF16;
      expect(Array.from(got)).toEqual(want.map(round));
    }
  });

  test('GLU layouts on a hand-built case: halves vs interleaved pick different gate / up columns', () => {
    // One row, K = 1, a = [1]: the pre-activations are W's column, [1, 2, 3, 4].
    const base = { a: { data: Float32Array.of(1), shape: [1, 1], dtype: 'f32' as const }, w: { data: Float32Array.of(1, 2, 3, 4), shape: [1, 4, 1], dtype: 'f32' as const } };
    const halves = groupedGemm({ ...base, activation: 'swiglu' }).y.data;
    const inter = groupedGemm({ ...base, activation: 'swiglu', gluLayout: 'interleaved' }).y.data;
    const silu = textbook.silu!;
    expect(Array.from(halves)).toEqual([Math.fround(silu(1) * 3), Math.fround(silu(2) * 4)]);
    expect(Array.from(inter)).toEqual([Math.fround(silu(1) * 2), Math.fround(silu(3) * 4)]);
    const ge = groupedGemm({ ...base, activation: 'geglu' }).y.data;
    expect(ge[0]).toBeCloseTo(0.8413447460685429 * 3, 6);
  });
});

describe('grouped_gemm edge cases', () => {
  test('empty experts, one expert holding every row, and offsets omitted for one expert', () => {
    const rng = new Rng(11);
    run(rng, { rows: 7, K: 4, N: 6, offsets: [0, 0, 3, 3, 7, 7], act: 'relu', bias: true });
    run(rng, { rows: 255, K: 5, N: 6, offsets: [0, 0, 255, 255, 255], act: 'swiglu', bias: true });
    run(rng, { rows: 255, K: 5, N: 6, offsets: [0, 255], omitOffsets: true, act: 'gelu_tanh' });
    run(rng, { rows: 0, K: 5, N: 6, offsets: [0, 0, 0, 0], act: 'silu' });
  });

  test('K = 0 gives act(bias + addend); rows = 0 gives an empty output', () => {
    const bias = Float32Array.of(1, -2, 0.5, 3);
    const addend = Float32Array.of(0.25, 0.25, -1, 1, 0, 0, 0, 0);
    const y = groupedGemm({
      a: { data: new Float32Array(0), shape: [2, 0], dtype: 'f32' }, w: { data: new Float32Array(0), shape: [1, 4, 0], dtype: 'f32' },
      bias, addend, activation: 'relu',
    }).y;
    expect(Array.from(y.data)).toEqual([1.25, 0, 0, 4, 1, 0, 0.5, 3]);
    const empty = groupedGemm({ a: { data: new Float32Array(0), shape: [0, 3], dtype: 'f32' },
      w: { data: new Float32Array(12), shape: [2, 2, 3], dtype: 'f32' }, offsets: Int32Array.of(0, 0, 0), activation: 'geglu' }).y;
    expect(empty.shape).toEqual([0, 1]);
    expect(empty.data.length).toBe(0);
  });

  test('a poisoned preallocated out is fully overwritten and returned; inputs are not modified', () => {
    const rng = new Rng(5);
    for (const outDtype of ['f32', 'bf16'] as const) {
      const { args } = build(rng, { rows: 31, K: 8, N: 6, offsets: [0, 10, 10, 31], act: 'geglu', layout: 'interleaved', bias: true, addend: true, outDtype });
      const fresh = groupedGemm(args).y.data;
      const out = outDtype === 'f32' ? new Float32Array(31 * 3).fill(NaN) : new Uint16Array(31 * 3).fill(0x7fff);
      const a = (args.a as { data: Float32Array }).data.slice();
      const w = (args.w as { data: Float32Array }).data.slice();
      const y = groupedGemm({ ...args, out }).y;
      expect(y.data).toBe(out);
      expect(Array.from(out)).toEqual(Array.from(fresh));
      expect((args.a as { data: Float32Array }).data).toEqual(a);
      expect((args.w as { data: Float32Array }).data).toEqual(w);
    }
  });

  test('NaN and inf in the inputs propagate to their own row only', () => {
    const a = Float32Array.of(1, NaN, 1, 1, Infinity, 0);
    const y = groupedGemm({ a: { data: a, shape: [3, 2], dtype: 'f32' }, w: { data: Float32Array.of(1, 1, 2, -1), shape: [1, 2, 2], dtype: 'f32' } }).y.data;
    expect(Number.isNaN(y[0])).toBe(true);
    expect(Array.from(y.slice(2, 4))).toEqual([2, 1]);
    expect(Array.from(y.slice(4))).toEqual([Infinity, Infinity]);
  });
});

describe('grouped_gemm invariants (fast-check)', () => {
  const specArb = fc.record({
    rows: fc.integer({ min: 0, max: 40 }), K: fc.integer({ min: 0, max: 9 }), half: fc.integer({ min: 0, max: 5 }),
    E: fc.integer({ min: 1, max: 5 }), seed: fc.integer({ min: 1, max: 1 << 30 }), act: fc.constantFrom(...ACTIVATIONS),
    layout: fc.constantFrom('halves' as const, 'interleaved' as const),
  });

  test('equals the naive loop, and equals one dense call per expert on its rows', () => {
    fc.assert(fc.property(specArb, ({ rows, K, half, E, seed, act, layout }) => {
      const rng = new Rng(seed);
      const N = 2 * half;
      const offsets = split(rng, rows, E);
      const { args, want } = build(rng, { rows, K, N, offsets, act, layout, bias: true });
      const y = groupedGemm(args).y.data as Float32Array;
      check(y, want, false);
      const a = (args.a as { data: Float32Array }).data;
      const w = (args.w as { data: Float32Array }).data;
      const bias = args.bias as Float32Array;
      const nOut = y.length / Math.max(rows, 1);
      for (let e = 0; e < E; e++) {
        const r0 = offsets[e]!;
        const r1 = offsets[e + 1]!;
        const dense = groupedGemm({
          a: { data: a.subarray(r0 * K, r1 * K), shape: [r1 - r0, K], dtype: 'f32' },
          w: { data: w.subarray(e * N * K, (e + 1) * N * K), shape: [1, N, K], dtype: 'f32' },
          bias: bias.subarray(e * N, (e + 1) * N), activation: act, gluLayout: layout,
        }).y.data;
        expect(Array.from(dense)).toEqual(Array.from(y.subarray(r0 * nOut, r1 * nOut)));
      }
    }), { numRuns: 150 });
  });
});
