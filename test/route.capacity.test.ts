// `route` capacity (SPEC §3), pruning (SPEC §8) and external routing (SPEC §7).

import fc from 'fast-check';
import { route } from '../lib/ops/route';
import type { RouteArgs, RouteResult } from '../lib/ops/route.types';
import { Rng } from '../lib/random';
import { expectClose } from './util';

const run = (a: RouteArgs): RouteResult => route(a, { backend: 'reference' });
const mat = (rows: number[][]) => ({ data: Float32Array.from(rows.flat()), shape: [rows.length, rows[0]!.length], dtype: 'f32' as const });
const i32 = (rows: number[][]) => ({ data: Int32Array.from(rows.flat()), shape: [rows.length, rows[0]!.length], dtype: 'i32' as const });
const arr = (a: ArrayLike<number>) => Array.from(a);

describe('capacity', () => {
  // External top-2 picks, so the ranks are exactly what the test says. E = 2, T = 4, k = 2.
  const picks = i32([[0, 1], [1, 0], [0, 1], [0, 1]]);
  test('position is rank-major: every rank-0 pick before any rank-1 pick', () => {
    // cap = ceil(2 * 4 * 0.5 / 2) = 2. Rank 0: e0 <- t0, t2 (t3 dropped), e1 <- t1. Rank 1: e1 <- t0; rest full.
    for (const policy of ['position', 'rank_then_position'] as const) {
      const r = run({ method: 'external', ids: picks, experts: 2, capacity: { factor: 0.5, policy } });
      expect(r.capacity!.cap).toBe(2);
      expect(arr(r.capacity!.keep.data)).toEqual([1, 1, 1, 0, 1, 0, 0, 0]);
      expect(arr(r.ids.data)).toEqual([0, 1, 1, -1, 0, -1, -1, -1]);
      expect(arr(r.weights.data)).toEqual([1, 1, 1, 0, 1, 0, 0, 0]);
      expect(arr(r.counts.data)).toEqual([2, 1, 1, 0]);
      expect(arr(r.capacity!.load.data)).toEqual([2, 2]);
      expect(arr(r.capacity!.demand.data)).toEqual([4, 4]);
      expect(arr(r.capacity!.selectedIds.data)).toEqual(arr(picks.data));
    }
  });

  test('a drop may leave a hole mid-row', () => {
    // t1's rank-0 pick of e0 loses to t0's; its rank-1 pick of e1 survives.
    const r = run({ method: 'external', ids: i32([[0, -1], [0, 1]]), experts: 2, capacity: { factor: 0.25 } });
    expect(r.capacity!.cap).toBe(1);
    expect(arr(r.ids.data)).toEqual([0, -1, -1, 1]);
    expect(arr(r.counts.data)).toEqual([1, 1]);
    expect(arr(r.capacity!.keep.data)).toEqual([1, 0, 0, 1]);
  });

  test('probs keeps the largest weights, ties to the lower token', () => {
    const weights = mat([[0.5], [0.9], [0.5], [0.7]]);
    const r = run({ method: 'external', ids: i32([[0], [0], [0], [0]]), weights, experts: 2, capacity: { factor: 1, policy: 'probs' } });
    // cap = ceil(1 * 4 * 1 / 2) = 2: tokens 1 (0.9) and 3 (0.7).
    expect(arr(r.ids.data)).toEqual([-1, 0, -1, 0]);
    const tie = run({ method: 'external', ids: i32([[0], [0], [0], [0]]), weights: mat([[0.5], [0.5], [0.5], [0.9]]), experts: 2, capacity: { factor: 1, policy: 'probs' } });
    expect(arr(tie.ids.data)).toEqual([0, -1, -1, 0]);
  });

  test('minCapacity and kCapacity enter the cap; cap >= T drops nothing', () => {
    const z = new Rng(3).f32(10 * 4);
    const logits = { data: z, shape: [10, 4], dtype: 'f32' as const };
    expect(run({ logits, k: 2, capacity: { factor: 1 } }).capacity!.cap).toBe(5); // ceil(2*10/4)
    expect(run({ logits, k: 2, capacity: { factor: 1, kCapacity: 1 } }).capacity!.cap).toBe(3); // ceil(10/4)
    expect(run({ logits, k: 2, capacity: { factor: 1, kCapacity: 1, minCapacity: 8 } }).capacity!.cap).toBe(8);
    const wide = run({ logits, k: 2, capacity: { factor: 100 } });
    const none = run({ logits, k: 2 });
    expect(wide.capacity!.cap).toBe(500);
    expect(arr(wide.ids.data)).toEqual(arr(none.ids.data));
    expect(arr(wide.weights.data)).toEqual(arr(none.weights.data));
    expect(run({ logits, k: 2, capacity: { factor: 1e308 } }).capacity!.cap).toBe(2147483647);
  });

  test('GShard renormalizeSurvivors: a token losing one slot puts weight 1 on the other', () => {
    const logits = mat([[2, 1, 0], [2, 0, 1], [0, 2, 1]]);
    // top-2: t0 [0, 1], t1 [0, 2], t2 [1, 2]; cap = max(1, ceil(2 * 3 * 0.5 / 3)) = 1.
    // rank 0: e0 <- t0, t1 dropped; e1 <- t2. rank 1: t0 -> e1 full, t1 -> e2 kept, t2 -> e2 full.
    const r = run({ logits, k: 2, capacity: { factor: 0.5, renormalizeSurvivors: true } });
    expect(arr(r.ids.data)).toEqual([0, -1, -1, 2, 1, -1]);
    expect(arr(r.weights.data)).toEqual([1, 0, 0, 1, 1, 0]);
    const raw = run({ logits, k: 2, capacity: { factor: 0.5 } });
    expectClose(raw.weights.data, [0.665241, 0, 0, 0.244728, 0.665241, 0], 1e-6);
  });

  test('GShard renormalizeSurvivors also normalises tokens that lost nothing', () => {
    const r = run({ logits: mat([[1, 2, 0.5, -1]]), k: 2, capacity: { factor: 4, renormalizeSurvivors: true } });
    expectClose(r.weights.data, [0.731059, 0.268941], 1e-6);
  });

  test('XMoE: threshold routing with kCapacity 1, minCapacity 8, rank_then_position', () => {
    const T = 20;
    const E = 4;
    const logits = { data: new Float32Array(T * E).map((_, i) => (i % E === 0 ? 3 : 0)), shape: [T, E], dtype: 'f32' as const };
    const r = run({ logits, method: 'xmoe_threshold', threshold: 0.9, capacity: { factor: 1, policy: 'rank_then_position', kCapacity: 1, minCapacity: 8 } });
    // Every token: p = [0.870, 0.043, 0.043, 0.043] -> picks [0, 1] (S_0 = 0.870 < 0.9 <= S_1). cap = 8.
    expect(r.capacity!.cap).toBe(8);
    expect(arr(r.capacity!.demand.data)).toEqual([20, 20, 0, 0]);
    expect(arr(r.capacity!.load.data)).toEqual([8, 8, 0, 0]);
    for (let t = 0; t < T; t++) expect(r.counts.data[t]).toBe(t < 8 ? 2 : 0);
  });

  test('invariants under random capacity: load <= cap, load = kept, demand = selections', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 30 }), fc.nat(), fc.double({ min: 0.05, max: 3, noNaN: true }),
      fc.constantFrom('position', 'probs', 'rank_then_position') as fc.Arbitrary<'position' | 'probs' | 'rank_then_position'>, fc.integer(),
      (E, T, kr, factor, policy, seed) => {
        const k = 1 + (kr % E);
        const z = new Rng(seed).f32(T * E, -2, 2);
        const r = run({ logits: { data: z, shape: [T, E], dtype: 'f32' }, k, capacity: { factor, policy } });
        const cap = r.capacity!;
        const load = new Array(E).fill(0);
        const demand = new Array(E).fill(0);
        for (let s = 0; s < T * k; s++) {
          const sel = cap.selectedIds.data[s]!;
          demand[sel]++;
          expect(r.ids.data[s]).toBe(cap.keep.data[s] ? sel : -1);
          if (cap.keep.data[s]) load[sel]++;
        }
        expect(arr(cap.load.data)).toEqual(load);
        expect(arr(cap.demand.data)).toEqual(demand);
        for (let e = 0; e < E; e++) expect(load[e]).toBe(Math.min(cap.cap, demand[e]));
      }), { numRuns: 200 });
  });
});

describe('prune (MC-MoE ODP)', () => {
  // Token 0: p top-2 = [0.609460, 0.224208] (ratio 0.37 < 0.5, pruned). Token 1: equal (kept).
  const logits = mat([[1, 2, 0.5, -1], [0, 0, 0, 0], [1, 2, 0.5, -1], [1, 2, 0.5, -1]]);
  test('slot 2 pruned iff w2 < beta w1; survivors renormalised; protect and dropAll', () => {
    const r = run({
      logits, k: 2, renormalize: true,
      prune: { beta: 0.5, protect: Uint8Array.from([0, 0, 1, 0]), dropAll: Uint8Array.from([0, 0, 0, 1]) },
    });
    expect(arr(r.ids.data)).toEqual([1, -1, 0, 1, 1, 0, -1, -1]);
    expectClose(r.weights.data, [1, 0, 0.5, 0.5, 0.731059, 0.268941, 0, 0], 1e-6);
    expect(arr(r.counts.data)).toEqual([1, 2, 2, 0]);
  });
  test('without renormalize the survivors keep raw p; beta 0 prunes nothing', () => {
    const r = run({ logits, k: 2, prune: { beta: 0.5 } });
    expectClose(r.weights.data.subarray(0, 2), [0.609460, 0], 1e-6);
    const none = run({ logits, k: 2, prune: { beta: 0 } });
    expect(arr(none.counts.data)).toEqual([2, 2, 2, 2]);
  });
  test("the reference weight is slot 0's, even when later slots weigh more (bias)", () => {
    // s = [0.5, 0.1192, 0.4013]; the bias puts expert 1 in slot 0, so nothing is below 0.5 * 0.1192.
    const r = run({ logits: mat([[0, -2, -0.4]]), method: 'sigmoid_topk', k: 3, bias: Float32Array.from([0, 1, 0]), renormalize: false, prune: { beta: 0.5 } });
    expect(arr(r.ids.data)).toEqual([1, 0, 2]);
  });
  test('pruned slots trail: bias case with a weak first pick', () => {
    const r = run({ logits: mat([[0, -2, -0.4]]), method: 'sigmoid_topk', k: 3, bias: Float32Array.from([1, 0.5, 0]), renormalize: false, prune: { beta: 0.5 } });
    // order by s + b: 0 (1.5), 1 (0.62), 2 (0.40); w = s: 0.5, 0.119 (< 0.25, pruned), 0.401 (kept).
    expect(arr(r.ids.data)).toEqual([0, 2, -1]);
    expectClose(r.weights.data, [0.5, 0.401312, 0], 1e-6);
  });
  test('prune on threshold routing', () => {
    const r = run({ logits: mat([[2, 1, 0, -1]]), method: 'top_p', threshold: 0.9, prune: { beta: 0.3 } });
    expect(arr(r.ids.data)).toEqual([0, 1, -1, -1]);
  });
});

describe('external routing', () => {
  test('ids pass through; default weights 1, -1 slots weight 0', () => {
    const r = run({ method: 'external', ids: i32([[2, -1], [0, 1]]), experts: 3 });
    expect(arr(r.ids.data)).toEqual([2, -1, 0, 1]);
    expect(arr(r.weights.data)).toEqual([1, 0, 1, 1]);
    expect(arr(r.counts.data)).toEqual([1, 2]);
    expect(r.scores).toBeUndefined();
  });
  test('given weights, renormalize, scale and kmax padding; weights at -1 slots are zeroed', () => {
    const r = run({ method: 'external', ids: i32([[2, -1], [0, 1]]), weights: mat([[0.5, 9], [1, 3]]), experts: 3, renormalize: true, scale: 2, kmax: 3 });
    expect(arr(r.ids.data)).toEqual([2, -1, -1, 0, 1, -1]);
    expectClose(r.weights.data, [2, 0, 0, 0.5, 1.5, 0], 1e-6);
  });
  test('a bare Int32Array takes its shape from k', () => {
    const r = run({ method: 'external', ids: Int32Array.from([0, 1, 1, 0]), k: 2, experts: 2, weights: Float32Array.from([0.25, 0.75, 0.5, 0.5]) });
    expect(r.ids.shape).toEqual([2, 2]);
    expect(arr(r.weights.data)).toEqual([0.25, 0.75, 0.5, 0.5]);
  });
});
