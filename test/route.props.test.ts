// Invariants and edge cases of `route` (SPEC §0): ids in range and distinct, padding, counts, ties,
// non-finite rows, sizes 1 / 7 / 255 / 1001, checked against an independent argmax-scan oracle.

import fc from 'fast-check';
import { f32ToBf16 } from '../lib/dtype';
import { route } from '../lib/ops/route';
import type { RouteArgs, RouteMethod, RouteResult } from '../lib/ops/route.types';
import { Rng } from '../lib/random';
import { expectClose } from './util';

const run = (a: RouteArgs): RouteResult => route(a, { backend: 'reference' });
const logitsOf = (data: Float32Array, T: number, E: number) => ({ data, shape: [T, E], dtype: 'f32' as const });

/** Structural invariants every result must satisfy. */
function checkInvariants(r: RouteResult, T: number, E: number, trailing: boolean): void {
  const [rt, K] = r.ids.shape as [number, number];
  expect(rt).toBe(T);
  expect(r.weights.shape).toEqual([T, K]);
  for (let t = 0; t < T; t++) {
    const seen = new Set<number>();
    let n = 0;
    let gap = false;
    for (let j = 0; j < K; j++) {
      const e = r.ids.data[t * K + j]!;
      expect(e >= -1 && e < E).toBe(true);
      if (e === -1) {
        expect(r.weights.data[t * K + j]).toBe(0);
        gap = true;
        continue;
      }
      if (trailing) expect(gap).toBe(false);
      expect(seen.has(e)).toBe(false);
      seen.add(e);
      n++;
    }
    expect(r.counts.data[t]).toBe(n);
  }
}

/** Independent oracle for softmax_topk: float64 softmax rounded to f32, then k argmax scans. */
function oracleTopk(z: Float32Array, T: number, E: number, k: number): { ids: number[]; w: number[] } {
  const ids: number[] = [];
  const w: number[] = [];
  for (let t = 0; t < T; t++) {
    const row = Array.from(z.subarray(t * E, (t + 1) * E));
    const m = Math.max(...row);
    const ex = row.map((v) => Math.exp(v - m));
    const s = ex.reduce((a, b) => a + b, 0);
    const p = ex.map((v) => Math.fround(v / s));
    const taken = new Set<number>();
    for (let j = 0; j < k; j++) {
      let best = -1;
      for (let e = 0; e < E; e++) if (!taken.has(e) && (best < 0 || p[e]! > p[best]!)) best = e;
      taken.add(best);
      ids.push(best);
      w.push(p[best]!);
    }
  }
  return { ids, w };
}

const TOPK: RouteMethod[] = ['softmax_topk', 'topk_softmax', 'sigmoid_topk'];
// Small integers make exact ties common; -inf is a masked expert.
const logit = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.float({ min: -8, max: 8, noNaN: true }), fc.constant(-Infinity));

describe('properties', () => {
  test('top-k methods: ids in range and distinct, counts = k, renormalised weights sum to 1', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 9 }), fc.nat(), fc.constantFrom(...TOPK), fc.boolean(), fc.array(logit, { minLength: 108, maxLength: 108 }),
      (E, T, kr, method, renorm, vals) => {
        const k = 1 + (kr % E);
        const z = Float32Array.from(vals.slice(0, T * E));
        // Keep at least one finite logit per row so softmax is defined (all -inf rows are tested apart).
        for (let t = 0; t < T; t++) z[t * E] = 0;
        const r = run({ logits: logitsOf(z, T, E), method, k, ...(method === 'topk_softmax' ? {} : { renormalize: renorm }) });
        checkInvariants(r, T, E, true);
        expect(Array.from(r.counts.data)).toEqual(new Array(T).fill(k));
        if (method === 'topk_softmax' || renorm) {
          for (let t = 0; t < T; t++) {
            let s = 0;
            for (let j = 0; j < k; j++) s += r.weights.data[t * k + j]!;
            expect(Math.abs(s - 1)).toBeLessThan(1e-6);
          }
        }
      }), { numRuns: 300 });
  });

  test('threshold methods: padding trailing, rule holds at every kept and at the first cut slot', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 6 }), fc.constantFrom('xmoe_threshold', 'top_p') as fc.Arbitrary<'xmoe_threshold' | 'top_p'>,
      fc.double({ min: 0.01, max: 1, noNaN: true }), fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 60, maxLength: 60 }),
      (E, T, method, threshold, vals) => {
        const z = Float32Array.from(vals.slice(0, T * E));
        const r = run({ logits: logitsOf(z, T, E), method, threshold });
        checkInvariants(r, T, E, true);
        const ok = (s: number) => (method === 'top_p' ? s <= threshold : s < threshold);
        for (let t = 0; t < T; t++) {
          const n = r.counts.data[t]!;
          expect(n).toBeGreaterThanOrEqual(1);
          let s = 0;
          for (let j = 0; j < n; j++) {
            const e = r.ids.data[t * E + j]!;
            if (j > 0) expect(ok(s)).toBe(true);
            expect(r.weights.data[t * E + j]).toBe(r.scores!.data[t * E + e]);
            s += r.scores!.data[t * E + e]!;
          }
          if (n < E) expect(ok(s)).toBe(false);
        }
      }), { numRuns: 300 });
  });

  test('all-equal logits pick 0..k-1 with weights 1/k when renormalised', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.nat(), fc.float({ min: -5, max: 5, noNaN: true }), (E, kr, v) => {
      const k = 1 + (kr % E);
      for (const method of TOPK) {
        const r = run({ logits: logitsOf(new Float32Array(3 * E).fill(v), 3, E), method, k, renormalize: true });
        for (let t = 0; t < 3; t++) {
          expect(Array.from(r.ids.data.subarray(t * k, (t + 1) * k))).toEqual(Array.from({ length: k }, (_, j) => j));
          expectClose(r.weights.data.subarray(t * k, (t + 1) * k), new Array(k).fill(1 / k), 1e-6);
        }
      }
    }));
  });

  test('k = E is a permutation sorted by p', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 16 }), fc.array(fc.integer({ min: -2, max: 2 }), { minLength: 16, maxLength: 16 }), (E, vals) => {
      const z = Float32Array.from(vals.slice(0, E));
      const r = run({ logits: logitsOf(z, 1, E), k: E });
      expect([...r.ids.data].sort((a, b) => a - b)).toEqual(Array.from({ length: E }, (_, e) => e));
      for (let j = 1; j < E; j++) {
        const a = r.ids.data[j - 1]!;
        const b = r.ids.data[j]!;
        const pa = r.scores!.data[a]!;
        const pb = r.scores!.data[b]!;
        expect(pa > pb || (pa === pb && a < b)).toBe(true);
      }
    }));
  });

  test('a large bias sends every token to one expert; weights stay unbiased', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 12 }), fc.nat(), fc.constantFrom(...TOPK), (E, er, method) => {
      const star = er % E;
      const T = 9;
      const z = new Rng(E * 31 + star).f32(T * E, -4, 4);
      const bias = new Float32Array(E);
      bias[star] = 100;
      const r = run({ logits: logitsOf(z, T, E), method, k: 1, bias, ...(method === 'topk_softmax' ? {} : { renormalize: false }) });
      expect(Array.from(r.ids.data)).toEqual(new Array(T).fill(star));
      for (let t = 0; t < T; t++) {
        expect(r.weights.data[t]).toBe(method === 'topk_softmax' ? 1 : r.scores!.data[t * E + star]);
      }
    }));
  });
});

describe('sizes against an argmax-scan oracle', () => {
  for (const E of [1, 7, 255, 1001]) {
    for (const T of [1, 7, 255]) {
      test(`softmax_topk T = ${T}, E = ${E}`, () => {
        const k = Math.min(E, 8);
        const z = new Rng(T * 7919 + E).f32(T * E, -3, 3);
        const r = run({ logits: logitsOf(z, T, E), k });
        const o = oracleTopk(z, T, E, k);
        expect(Array.from(r.ids.data)).toEqual(o.ids);
        expectClose(r.weights.data, o.w, 0);
      });
    }
  }
});

describe('edge cases', () => {
  test('T = 0 gives empty outputs', () => {
    const r = run({ logits: logitsOf(new Float32Array(0), 0, 4), k: 2, capacity: { factor: 1 } });
    expect(r.ids.shape).toEqual([0, 2]);
    expect(r.counts.data.length).toBe(0);
    expect(r.scores!.shape).toEqual([0, 4]);
    expect(r.capacity!.cap).toBe(0);
  });

  test('NaN ranks first; NaN / +inf / all -inf rows give NaN weights with valid distinct ids', () => {
    const z = Float32Array.from([1, NaN, 3, 0, /**/ 1, Infinity, 0, 0, /**/ -Infinity, -Infinity, -Infinity, -Infinity, /**/ 0, -Infinity, 2, 1]);
    for (const method of ['softmax_topk', 'topk_softmax'] as const) {
      const r = run({ logits: logitsOf(z, 4, 4), method, k: 2, renormalize: true });
      checkInvariants(r, 4, 4, true);
      // softmax_topk selects on p, which is all NaN in those rows (ties -> 0, 1); topk_softmax selects on z.
      expect(Array.from(r.ids.data.subarray(0, 6))).toEqual(method === 'softmax_topk' ? [0, 1, 0, 1, 0, 1] : [1, 2, 1, 0, 0, 1]);
      for (let j = 0; j < 12; j++) expect(Number.isNaN(r.scores!.data[j]!)).toBe(true);
      for (let j = 0; j < 6; j++) expect(Number.isNaN(r.weights.data[j]!)).toBe(true);
      expect(Array.from(r.ids.data.subarray(6))).toEqual([2, 3]);
      expect(r.scores!.data[13]).toBe(0);
    }
  });

  test('sigmoid: NaN is picked first with a NaN weight; +inf gives s = 1', () => {
    const r = run({ logits: logitsOf(Float32Array.from([0, NaN, 5, Infinity]), 1, 4), method: 'sigmoid_topk', k: 2, renormalize: false });
    expect(Array.from(r.ids.data)).toEqual([1, 3]);
    expect(Number.isNaN(r.weights.data[0]!)).toBe(true);
    expect(r.weights.data[1]).toBe(1);
  });

  test('threshold methods keep only the first pick of a NaN row', () => {
    for (const method of ['xmoe_threshold', 'top_p'] as const) {
      const r = run({ logits: logitsOf(Float32Array.from([0, 1, NaN, 0]), 1, 4), method, threshold: 0.9 });
      expect(Array.from(r.ids.data)).toEqual([0, -1, -1, -1]);
      expect(Array.from(r.counts.data)).toEqual([1]);
    }
  });

  test('-inf logits are never picked while finite ones remain, and have p = 0', () => {
    const r = run({ logits: logitsOf(Float32Array.from([-Infinity, 0, -Infinity, -1]), 1, 4), k: 3, renormalize: true });
    expect(Array.from(r.ids.data)).toEqual([1, 3, 0]);
    expect(r.weights.data[2]).toBe(0);
    expect(r.scores!.data[0]).toBe(0);
  });

  test('E = 1 with k = 1 routes everything to expert 0 with weight 1', () => {
    const r = run({ logits: logitsOf(Float32Array.from([3, -2, 0]), 3, 1), k: 1 });
    expect(Array.from(r.ids.data)).toEqual([0, 0, 0]);
    expect(Array.from(r.weights.data)).toEqual([1, 1, 1]);
  });

  test('kmax > k pads with -1 / 0', () => {
    const r = run({ logits: logitsOf(Float32Array.from([1, 2, 3]), 1, 3), k: 1, kmax: 3 });
    expect(Array.from(r.ids.data)).toEqual([2, -1, -1]);
    expect(r.weights.data[1]).toBe(0);
    expect(Array.from(r.counts.data)).toEqual([1]);
  });

  test('bf16 logits route like their decoded f32 values; inputs are not modified', () => {
    const f = Float32Array.from([0.5, -1, 2, 2, 1, 0]);
    const bits = Uint16Array.from(f, (v) => f32ToBf16(v));
    const copy = bits.slice();
    const a = run({ logits: { data: bits, shape: [2, 3], dtype: 'bf16' }, k: 2 });
    const b = run({ logits: logitsOf(f, 2, 3), k: 2 });
    expect(Array.from(a.ids.data)).toEqual(Array.from(b.ids.data));
    expect(Array.from(a.weights.data)).toEqual(Array.from(b.weights.data));
    expect(Array.from(bits)).toEqual(Array.from(copy));
  });

  test('onnxruntime-style {data, dims, type} logits are accepted', () => {
    const r = run({ logits: { data: Float32Array.from([0, 1]), dims: [1, 2], type: 'float32' }, k: 1 });
    expect(Array.from(r.ids.data)).toEqual([1]);
  });

  test('group ties go to the lower group; k may fill every kept group', () => {
    // 4 groups of 2, all equal: groups 0 and 1 kept, picks 0..3.
    const r = run({ logits: logitsOf(new Float32Array(8), 1, 8), method: 'sigmoid_topk', k: 4, groups: 4, topkGroups: 2 });
    expect(Array.from(r.ids.data)).toEqual([0, 1, 2, 3]);
    expectClose(r.weights.data, [0.25, 0.25, 0.25, 0.25], 1e-7);
  });

  test('group-limited softmax_topk masks experts outside the kept groups', () => {
    // groups {0,1} {2,3}: group maxima 0.1 vs 5 -> only experts 2, 3 can be picked.
    const r = run({ logits: logitsOf(Float32Array.from([4, 4.5, 5, -9]), 1, 4), k: 2, groups: 2, topkGroups: 1 });
    expect(Array.from(r.ids.data)).toEqual([2, 3]);
  });

  test('scale multiplies the final weights', () => {
    const z = logitsOf(Float32Array.from([1, 2, 0.5, -1]), 1, 4);
    const a = run({ logits: z, k: 2, renormalize: true });
    const b = run({ logits: z, k: 2, renormalize: true, scale: 2.5 });
    expectClose(b.weights.data, Array.from(a.weights.data, (w) => w * 2.5), 1e-6);
  });
});
