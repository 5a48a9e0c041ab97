// unpermute: SPEC §10 E end to end (permute -> stand-in FFNs -> unpermute), combine invariants
// (fast-check), special experts, expert parallelism, dtypes, sizes and the poisoned `out`.

import fc from 'fast-check';
import { bf16ToF32, f32ToBf16 } from '../lib/dtype';
import { permute } from '../lib/ops/permute';
import { unpermute, UnpermuteArgs } from '../lib/ops/unpermute';
import { Rng } from '../lib/random';
import { Tensor, toF32 } from '../lib/tensor';
import { expectClose, relErr } from './util';

const f32 = (data: ArrayLike<number>, shape: number[]): Tensor<'f32'> => ({ data: Float32Array.from(data), shape, dtype: 'f32' });
const i32 = (data: ArrayLike<number>, shape: number[]): Tensor<'i32'> => ({ data: Int32Array.from(data), shape, dtype: 'i32' });

/** Random routing: k distinct ids of [0, total) per token, some slots empty (-1, weight 0). */
function randomRouting(rng: Rng, T: number, k: number, total: number): { ids: Tensor<'i32'>; w: Tensor<'f32'> } {
  const ids = new Int32Array(T * k);
  const w = new Float32Array(T * k);
  for (let t = 0; t < T; t++) {
    const perm = Array.from({ length: total }, (_, i) => i);
    for (let i = total - 1; i > 0; i--) {
      const r = rng.int(i + 1);
      [perm[i], perm[r]] = [perm[r]!, perm[i]!];
    }
    for (let j = 0; j < k; j++) {
      const empty = rng.next() < 0.1;
      ids[t * k + j] = empty ? -1 : perm[j]!;
      w[t * k + j] = empty ? 0 : rng.uniform(0, 1);
    }
  }
  return { ids: { data: ids, shape: [T, k], dtype: 'i32' }, w: { data: w, shape: [T, k], dtype: 'f32' } };
}

describe('SPEC §10 E: MoE++ combine (N = 6: FFN0, FFN1, Const0, Const1, Copy, Zero)', () => {
  const x = f32([1, 2, 0.5, -1, -1, 1], [3, 2]);
  const z = [[2, 1, 0, -1, 0.5, 1.5], [0.1, 0.2, 1.2, 0, 1, -0.5], [0, 0, -1, 0.8, 0, 0]];
  // Routing per SPEC §5.3 in float64: softmax, top-2 (ties -> lower id), zero gate -> 0, renormalise.
  const ids: number[] = [];
  const gates: number[] = [];
  for (const row of z) {
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    const p = e.map((v) => v / s);
    const order = p.map((_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b).slice(0, 2);
    const g = order.map((i) => (i === 5 ? 0 : p[i]!));
    const gs = g[0]! + g[1]!;
    ids.push(...order);
    gates.push(...g.map((v) => v / gs));
  }
  const constantExperts = { ids: [2, 3], wc: f32([1, 0, 0, 1, 0, 0, 0, 0], [2, 2, 2]), v: f32([1, -1, 0.5, 0.5], [2, 2]) };
  const ffn = [(u0: number, u1: number) => [u0 + u1, u0 - u1], (u0: number, u1: number) => [2 * u0, -u1]];

  function moePlusPlus(k: number): Float32Array {
    const idT = i32(ids, [3, 2]);
    const p = permute({ x, ids: idT, experts: 2, totalExperts: 6, scale: k });
    const y = new Float32Array(p.rows.data.length);
    for (let e = 0; e < 2; e++) {
      for (let r = p.offsets.data[e]!; r < p.offsets.data[e + 1]!; r++) {
        const [a, b] = ffn[e]!(p.rows.data[2 * r]!, p.rows.data[2 * r + 1]!);
        y[2 * r] = a!;
        y[2 * r + 1] = b!;
      }
    }
    const out = unpermute({
      y: f32(y, [p.rows.shape[0]!, 2]), ids: idT, weights: f32(gates, [3, 2]), slotToRow: p.slotToRow,
      zeroExperts: [5], copyExperts: [4], constantExperts, x, inputScale: k,
    }).out;
    expect(out.shape).toEqual([3, 2]);
    expect(out.dtype).toBe('f32');
    return out.data as Float32Array;
  }

  test('routing matches the table', () => {
    expect(ids).toEqual([0, 5, 2, 4, 3, 0]);
    expectClose(gates, [1, 0, 0.549834, 0.450166, 0.689974, 0.310026], 1e-6);
  });

  test('y with the default input scaling u = 2x', () => {
    expectClose(moePlusPlus(2), [6, -2, 1.0, -1.973924, -0.517481, -0.377634], 1e-6);
  });

  test('y with u = x', () => {
    expectClose(moePlusPlus(1), [3, -1, 0.550152, -1.0, -0.172494, -0.10257], 1e-6);
  });

  test('Const0 mixing for token 1: a = softmax(Wc u)', () => {
    // One slot on Const0 with weight 1: out = a1·u + a2·v, v = [1, -1], so a1 follows from out.
    const one = (k: number) =>
      unpermute({
        y: f32([], [0, 2]), ids: i32([2], [1, 1]), weights: new Float32Array([1]), slotToRow: new Int32Array([-1]),
        constantExperts, x: f32([0.5, -1], [1, 2]), inputScale: k,
      }).out.data;
    const o2 = one(2); // u = [1, -2]: out = [1, -1 - a1]
    expectClose([-1 - o2[1]!, 2 + o2[1]!], [0.952574, 0.047426], 1e-6);
    expectClose([o2[0]!], [1], 1e-7);
    const o1 = one(1); // u = [0.5, -1]: out = [1 - a1 / 2, -1]
    expectClose([2 * (1 - o1[0]!), 1 - 2 * (1 - o1[0]!)], [0.817574, 0.182426], 1e-6);
    expectClose([o1[1]!], [-1], 1e-7);
  });
});

describe('unpermute: combine invariants (fast-check)', () => {
  test('permute -> identity experts -> unpermute = Σ_j w_j · scale · x_t (+ copy, shared, residual)', () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.integer({ min: 1, max: 1e9 }),
          T: fc.integer({ min: 0, max: 30 }),
          H: fc.integer({ min: 1, max: 6 }),
          E: fc.integer({ min: 1, max: 6 }),
          kFrac: fc.double({ min: 0, max: 1, noNaN: true }),
          align: fc.integer({ min: 1, max: 4 }),
          scale: fc.constantFrom(1, 2, 0.3),
          extras: fc.boolean(),
        }),
        (p) => {
          // Ids E, E+1, E+2: a zero expert, a copy expert, and an id listed nowhere (another rank's FFN).
          const rng = new Rng(p.seed);
          const total = p.E + 3;
          const k = 1 + Math.floor(p.kFrac * (total - 1));
          const { ids, w } = randomRouting(rng, p.T, k, total);
          const x = f32(rng.f32(p.T * p.H), [p.T, p.H]);
          const perm = permute({ x, ids, experts: p.E, totalExperts: total, align: p.align, scale: p.scale });
          const shared = p.extras ? f32(rng.f32(p.T * p.H), [p.T, p.H]) : undefined;
          const residual = p.extras ? f32(rng.f32(p.T * p.H), [p.T, p.H]) : undefined;
          const out = unpermute({
            y: perm.rows, ids, weights: w, slotToRow: perm.slotToRow, zeroExperts: [p.E], copyExperts: [p.E + 1],
            x, inputScale: p.scale, shared, residual,
          }).out.data;
          const want = new Float64Array(p.T * p.H);
          for (let t = 0; t < p.T; t++) {
            for (let h = 0; h < p.H; h++) {
              let s = 0;
              for (let j = 0; j < k; j++) {
                const id = ids.data[t * k + j]!;
                const u = x.data[t * p.H + h]! * p.scale;
                if (id >= 0 && id < p.E) s += w.data[t * k + j]! * Math.fround(u);
                else if (id === p.E + 1) s += w.data[t * k + j]! * u;
              }
              want[t * p.H + h] = s + (shared?.data[t * p.H + h] ?? 0) + (residual?.data[t * p.H + h] ?? 0);
            }
          }
          expect(relErr(out, want)).toBeLessThan(1e-6);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('a copy-expert-only routing gives x · Σ_j w_j (no FFN rows at all)', () => {
    const rng = new Rng(3);
    const T = 7;
    const H = 5;
    const x = f32(rng.f32(T * H), [T, H]);
    const w = rng.f32(T * 2, 0, 1);
    const ids = i32(new Array(T * 2).fill(0).map((_, i) => (i % 2 ? 9 : -1)), [T, 2]);
    const out = unpermute({ y: f32([], [0, H]), ids, weights: w, slotToRow: new Int32Array(T * 2).fill(-1), copyExperts: [9], x }).out.data;
    const want = Array.from(x.data, (v, i) => v * w[Math.floor(i / H) * 2 + 1]!);
    expect(relErr(out, want)).toBeLessThan(1e-7);
  });
});

describe('unpermute: special cases', () => {
  const H = 3;
  const y = f32([1, 2, 3, 10, 20, 30], [2, H]);

  test('zero experts and empty slots add nothing, even with NaN weights; an FFN slot propagates NaN', () => {
    const ids = i32([0, 7, -1, 1, 7, -1], [2, 3]);
    const w = f32([0.5, NaN, NaN, NaN, 0.25, 0], [2, 3]);
    const out = unpermute({ y, ids, weights: w, slotToRow: i32([0, -1, -1, 1, -1, -1], [2, 3]), zeroExperts: [7] }).out.data;
    expect(Array.from(out.subarray(0, 3))).toEqual([0.5, 1, 1.5]);
    expect(Array.from(out.subarray(3)).every(Number.isNaN)).toBe(true);
  });

  test('shared (weight 1) and residual are added after the slots; mixed input dtypes', () => {
    const shared = { data: Uint16Array.from([1, 2, 3, 4, 5, 6].map(f32ToBf16)), shape: [2, H], dtype: 'bf16' as const };
    const residual = f32([100, 200, 300, 400, 500, 600], [2, H]);
    const out = unpermute({ y, ids: i32([1, 0], [2, 1]), weights: f32([2, -1], [2, 1]), slotToRow: i32([1, 0], [2, 1]), shared, residual }).out;
    expect(Array.from(out.data)).toEqual([121, 242, 363, 403, 503, 603]);
  });

  test('expert parallelism: the sum of every rank\'s combine equals the single-rank combine', () => {
    const rng = new Rng(11);
    const T = 255;
    const Hx = 7;
    const E = 8;
    const { ids, w } = randomRouting(rng, T, 4, E);
    const x = f32(rng.f32(T * Hx), [T, Hx]);
    const combine = (map?: number[], experts = E) => {
      const p = permute({ x, ids, experts, expertMap: map, totalExperts: E });
      return unpermute({ y: p.rows, ids, weights: w, slotToRow: p.slotToRow }).out.data;
    };
    const full = combine();
    const rank0 = combine([0, 1, 2, 3, -1, -1, -1, -1], 4);
    const rank1 = combine([-1, -1, -1, -1, 0, 1, 2, 3], 4);
    expect(relErr(rank0.map((v, i) => v + rank1[i]!), full)).toBeLessThan(1e-6);
    expect(relErr(rank0, full)).toBeGreaterThan(0.1); // each rank alone is missing half the experts
  });

  test('bf16 y gives bf16 out by default; outDtype overrides; result rounded once', () => {
    const yb = { data: Uint16Array.from([1.5, 2, 3, 0.1].map(f32ToBf16)), shape: [2, 2], dtype: 'bf16' as const };
    const args: UnpermuteArgs = { y: yb, ids: i32([0, 1], [1, 2]), weights: f32([1 / 3, 1 / 3], [1, 2]), slotToRow: i32([0, 1], [1, 2]) };
    const b = unpermute(args).out;
    expect(b.dtype).toBe('bf16');
    expect(b.data).toBeInstanceOf(Uint16Array);
    const want = [0, 1].map((h) => Math.fround(1 / 3) * (bf16ToF32(yb.data[h]!) + bf16ToF32(yb.data[2 + h]!)));
    expect(Array.from(b.data)).toEqual(want.map(f32ToBf16));
    const f = unpermute({ ...args, outDtype: 'f32' }).out;
    expect(f.dtype).toBe('f32');
    expectClose(f.data, want, 1e-7);
    const h = unpermute({ ...args, outDtype: 'f16' }).out;
    expect(relErr(toF32(h), want)).toBeLessThan(1e-3);
  });

  test('poisoned out: every element is overwritten, and out is the returned buffer', () => {
    const T = 7;
    const out = new Float32Array(T * H).fill(NaN);
    const ids = i32([0, -1, ...new Array(2 * (T - 1)).fill(-1)], [T, 2]); // tokens 1..6 have no expert at all
    const r = unpermute({ y: f32([1, 2, 3], [1, H]), ids, weights: f32(new Array(2 * T).fill(0.5), [T, 2]), slotToRow: ids, out });
    expect(r.out.data).toBe(out);
    expect(Array.from(out)).toEqual([0.5, 1, 1.5, ...new Array(3 * (T - 1)).fill(0)]);
    const outB = new Uint16Array(T * H).fill(0x7fc0);
    unpermute({ y: f32([1, 2, 3], [1, H]), ids, weights: f32(new Array(2 * T).fill(0.5), [T, 2]), slotToRow: ids, out: outB, outDtype: 'bf16' });
    expect(Array.from(outB).map(bf16ToF32)).toEqual([0.5, 1, 1.5, ...new Array(3 * (T - 1)).fill(0)]);
  });

  test('T = 0 and bare arrays with the token count from x', () => {
    const r = unpermute({ y: f32([], [0, 4]), ids: i32([], [0, 2]), weights: new Float32Array(0), slotToRow: new Int32Array(0) });
    expect(r.out.shape).toEqual([0, 4]);
    const x = f32([1, 2, 3, 4], [2, 2]);
    const c = unpermute({ y: f32([], [0, 2]), ids: Int32Array.from([4, 4]), weights: Float32Array.from([1, 2]), slotToRow: Int32Array.from([-1, -1]), copyExperts: [4], x });
    expect(Array.from(c.out.data)).toEqual([1, 2, 6, 8]);
  });

  test('inputs are not modified', () => {
    const ids = i32([0, 1], [1, 2]);
    const yc = Float32Array.from(y.data);
    unpermute({ y, ids, weights: f32([1, 1], [1, 2]), slotToRow: i32([1, 0], [1, 2]) });
    expect(y.data).toEqual(yc);
    expect(Array.from(ids.data)).toEqual([0, 1]);
  });
});

describe('unpermute: sizes (permute -> identity experts -> unpermute)', () => {
  test.each([[1, 3], [7, 5], [255, 1], [4097, 9]])('T = %i, H = %i, k = 3 of 8', (T, H) => {
    const rng = new Rng(T + 1);
    const { ids, w } = randomRouting(rng, T, 3, 8);
    const x = f32(rng.f32(T * H), [T, H]);
    const p = permute({ x, ids, experts: 8, align: 8 });
    const out = unpermute({ y: p.rows, ids, weights: w, slotToRow: p.slotToRow }).out.data;
    const want = Array.from(x.data, (v, i) => {
      const t = Math.floor(i / H);
      let s = 0;
      for (let j = 0; j < 3; j++) if (ids.data[t * 3 + j]! >= 0) s += w.data[t * 3 + j]!;
      return s * v;
    });
    expect(relErr(out, want)).toBeLessThan(1e-6);
  });

  test('k = E with every weight 1/E and identity experts returns x', () => {
    const T = 7;
    const E = 5;
    const ids = i32(Array.from({ length: T * E }, (_, i) => (i * 3) % E), [T, E]);
    const x = f32(new Rng(2).f32(T * 4), [T, 4]);
    const p = permute({ x, ids, experts: E });
    const out = unpermute({ y: p.rows, ids, weights: f32(new Array(T * E).fill(1 / E), [T, E]), slotToRow: p.slotToRow }).out.data;
    expect(relErr(out, x.data)).toBeLessThan(1e-6);
  });
});
