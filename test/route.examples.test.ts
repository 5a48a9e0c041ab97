// SPEC §10 worked examples for `route` (A, B, C, D, E's gates, F's top-2), reproduced to 1e-6.

import { route } from '../lib/ops/route';
import type { RouteArgs, RouteResult } from '../lib/ops/route.types';
import { expectClose } from './util';

export const mat = (rows: number[][]) => ({ data: Float32Array.from(rows.flat()), shape: [rows.length, rows[0]!.length], dtype: 'f32' as const });
const run = (a: RouteArgs): RouteResult => route(a, { backend: 'reference' });
const ids = (r: RouteResult) => Array.from(r.ids.data);
const sets = (r: RouteResult) => {
  const [T, K] = r.ids.shape as [number, number];
  return Array.from({ length: T }, (_, t) => Array.from(r.ids.data.subarray(t * K, (t + 1) * K)).filter((e) => e >= 0));
};

describe('SPEC §10 A: softmax top-k, E = 4, k = 2', () => {
  const logits = mat([[1, 2, 0.5, -1], [0, 0, 0, 0], [3, -2, 3, 1]]);
  test('scores are softmax p', () => {
    const r = run({ logits, k: 2 });
    expectClose(r.scores!.data, [0.224208, 0.609460, 0.135989, 0.030343, 0.25, 0.25, 0.25, 0.25, 0.466837, 0.003146, 0.466837, 0.063180], 1e-6);
  });
  test('ids with the tie to the lower index, raw weights (default: no renorm)', () => {
    const r = run({ logits, k: 2 });
    expect(ids(r)).toEqual([1, 0, 0, 1, 0, 2]);
    expectClose(r.weights.data, [0.609460, 0.224208, 0.25, 0.25, 0.466837, 0.466837], 1e-6);
    expect(Array.from(r.counts.data)).toEqual([2, 2, 2]);
    expect(r.ids.shape).toEqual([3, 2]);
    expect(r.capacity).toBeUndefined();
  });
  test('renormalised weights', () => {
    const r = run({ logits, k: 2, renormalize: true });
    expect(ids(r)).toEqual([1, 0, 0, 1, 0, 2]);
    expectClose(r.weights.data, [0.731059, 0.268941, 0.5, 0.5, 0.5, 0.5], 1e-6);
  });
  test('topk_softmax gives the renorm column', () => {
    const r = run({ logits, k: 2, method: 'topk_softmax' });
    expect(ids(r)).toEqual([1, 0, 0, 1, 0, 2]);
    expectClose(r.weights.data, [0.731059, 0.268941, 0.5, 0.5, 0.5, 0.5], 1e-6);
    expectClose(r.scores!.data.subarray(0, 4), [0.224208, 0.609460, 0.135989, 0.030343], 1e-6);
  });
});

describe('SPEC §10 B: threshold routing', () => {
  const b1 = mat([[2, 1, 0, -1]]);
  test('B1 t = 0.9: both {0, 1, 2}, raw p', () => {
    for (const method of ['xmoe_threshold', 'top_p'] as const) {
      const r = run({ logits: b1, method, threshold: 0.9 });
      expect(ids(r)).toEqual([0, 1, 2, -1]);
      expectClose(r.weights.data, [0.643914, 0.236883, 0.087144, 0], 1e-6);
      expect(Array.from(r.counts.data)).toEqual([3]);
      const rn = run({ logits: b1, method, threshold: 0.9, renormalize: true });
      expectClose(rn.weights.data, [0.665241, 0.244728, 0.090031, 0], 1e-6);
    }
  });
  test('B1 t = 0.4: both {0}', () => {
    for (const method of ['xmoe_threshold', 'top_p'] as const) {
      const r = run({ logits: b1, method, threshold: 0.4 });
      expect(ids(r)).toEqual([0, -1, -1, -1]);
      expectClose(r.weights.data, [0.643914, 0, 0, 0], 1e-6);
    }
  });
  test('B2: equal logits', () => {
    const z = mat([[0, 0, 0, 0]]);
    for (const method of ['xmoe_threshold', 'top_p'] as const) {
      expect(sets(run({ logits: z, method, threshold: 0.9 }))).toEqual([[0, 1, 2, 3]]);
      expect(sets(run({ logits: z, method, threshold: 0.4 }))).toEqual([[0, 1]]);
    }
  });
  // B3 / B4 need p dyadic. Logits [2L, L, 0, 0] with L = f32(ln 2) give p = [0.5, 0.25, 0.125, 0.125]
  // exactly after rounding to f32 (asserted below), so the prefix sums hit the thresholds exactly.
  const L = Math.fround(Math.LN2);
  test('B3: exact boundary, XMoE stops where Dynamic takes one more', () => {
    const z = mat([[2 * L, L, 0, 0]]);
    const p = run({ logits: z, method: 'top_p', threshold: 0.5 }).scores!.data;
    expect(Array.from(p)).toEqual([0.5, 0.25, 0.125, 0.125]);
    expect(sets(run({ logits: z, method: 'xmoe_threshold', threshold: 0.75 }))).toEqual([[0, 1]]);
    expect(sets(run({ logits: z, method: 'top_p', threshold: 0.75 }))).toEqual([[0, 1, 2]]);
    expect(sets(run({ logits: z, method: 'xmoe_threshold', threshold: 0.5 }))).toEqual([[0]]);
    expect(sets(run({ logits: z, method: 'top_p', threshold: 0.5 }))).toEqual([[0, 1]]);
  });
  test('B4: ordering ties, p = [0.125, 0.5, 0.125, 0.25] sorts to [1, 3, 0, 2]', () => {
    const z = mat([[0, 2 * L, 0, L]]);
    const r = run({ logits: z, method: 'top_p', threshold: 1 });
    expect(Array.from(r.scores!.data)).toEqual([0.125, 0.5, 0.125, 0.25]);
    expect(ids(r)).toEqual([1, 3, 0, 2]);
    expect(ids(run({ logits: z, method: 'xmoe_threshold', threshold: 0.75 }))).toEqual([1, 3, -1, -1]);
    expect(ids(run({ logits: z, method: 'top_p', threshold: 0.75 }))).toEqual([1, 3, 0, -1]);
    expect(ids(run({ logits: z, method: 'xmoe_threshold', threshold: 0.5 }))).toEqual([1, -1, -1, -1]);
    expect(ids(run({ logits: z, method: 'top_p', threshold: 0.5 }))).toEqual([1, 3, -1, -1]);
  });
  test('kmax caps the count', () => {
    const r = run({ logits: mat([[0, 0, 0, 0]]), method: 'xmoe_threshold', threshold: 0.9, kmax: 2 });
    expect(r.ids.shape).toEqual([1, 2]);
    expect(ids(r)).toEqual([0, 1]);
  });
});

describe('SPEC §10 C: DeepSeek-V3 grouped sigmoid routing', () => {
  const logits = mat([[3, -3, 1.5, 0.1, -1, 2, 0.3, 0]]);
  const bias = Float32Array.from([0, 0.1, -0.3, 0, 0.2, 0, 0.4, 0]);
  test('groups 4, keep 2, k 2, scale 2.5', () => {
    const r = run({ logits, method: 'sigmoid_topk', k: 2, bias, groups: 4, topkGroups: 2, scale: 2.5 });
    expectClose(r.scores!.data, [0.952574, 0.047426, 0.817574, 0.524979, 0.268941, 0.880797, 0.574443, 0.5], 1e-6);
    expect(ids(r)).toEqual([6, 5]);
    expectClose(r.weights.data, [0.986852, 1.513148], 1e-6);
  });
  test('before normalisation the weights are the unbiased s', () => {
    const r = run({ logits, method: 'sigmoid_topk', k: 2, bias, groups: 4, topkGroups: 2, renormalize: false });
    expectClose(r.weights.data, [0.574443, 0.880797], 1e-6);
  });
  test('checks: without groups [6, 0]; without bias and groups [0, 5]', () => {
    expect(ids(run({ logits, method: 'sigmoid_topk', k: 2, bias, scale: 2.5 }))).toEqual([6, 0]);
    expect(ids(run({ logits, method: 'sigmoid_topk', k: 2, scale: 2.5 }))).toEqual([0, 5]);
  });
  test('groupTopN = 1 (the V2 max rule) keeps groups 0 and 3 here', () => {
    // group maxima of s + b: [0.952574, 0.524979, 0.880797, 0.974443] -> groups 3, 0 -> experts {0, 1, 6, 7}
    const r = run({ logits, method: 'sigmoid_topk', k: 2, bias, groups: 4, topkGroups: 2, groupTopN: 1 });
    expect(ids(r)).toEqual([6, 0]);
  });
});

describe('SPEC §10 D: capacity, Switch top-1, T = 6, E = 2, C = 1', () => {
  const logits = mat([[2, 0], [1, 0.5], [0, 1], [3, 0], [2.5, 0], [-1, 1]]);
  const pmax = [0.880797, 0.622459, 0.731059, 0.952574, 0.924142, 0.880797];
  test('position keeps {0, 1, 2, 3, 5}', () => {
    const r = run({ logits, k: 1, capacity: { factor: 1 } });
    const cap = r.capacity!;
    expect(cap.cap).toBe(3);
    expect(Array.from(cap.selectedIds.data)).toEqual([0, 0, 1, 0, 0, 1]);
    expect(Array.from(cap.keep.data)).toEqual([1, 1, 1, 1, 0, 1]);
    expect(ids(r)).toEqual([0, 0, 1, 0, -1, 1]);
    expectClose(r.weights.data, pmax.map((w, t) => (t === 4 ? 0 : w)), 1e-6);
    expect(Array.from(r.counts.data)).toEqual([1, 1, 1, 1, 0, 1]);
    expect(Array.from(cap.demand.data)).toEqual([4, 2]);
    expect(Array.from(cap.load.data)).toEqual([3, 2]);
  });
  test('probs keeps {0, 2, 3, 4, 5}', () => {
    const r = run({ logits, k: 1, capacity: { factor: 1, policy: 'probs' } });
    expect(Array.from(r.capacity!.keep.data)).toEqual([1, 0, 1, 1, 1, 1]);
    expect(ids(r)).toEqual([0, -1, 1, 0, 0, 1]);
    expectClose(r.weights.data, pmax.map((w, t) => (t === 1 ? 0 : w)), 1e-6);
  });
});

describe('SPEC §10 E: MoE++ gates, N = 6, zero expert 5', () => {
  const logits = mat([[2, 1, 0, -1, 0.5, 1.5], [0.1, 0.2, 1.2, 0, 1, -0.5], [0, 0, -1, 0.8, 0, 0]]);
  test('top-2, zero gate, renormalised', () => {
    const r = run({ logits, k: 2, renormalize: true, zeroGateExperts: [5] });
    expect(ids(r)).toEqual([0, 5, 2, 4, 3, 0]);
    expectClose(r.weights.data, [1, 0, 0.549834, 0.450166, 0.689974, 0.310026], 1e-6);
    expect(Array.from(r.counts.data)).toEqual([2, 2, 2]);
    expectClose(r.scores!.data, [
      0.419699, 0.154398, 0.056800, 0.020896, 0.093647, 0.254560,
      0.110833, 0.122489, 0.332961, 0.100286, 0.272605, 0.060826,
      0.151666, 0.151666, 0.055795, 0.337540, 0.151666, 0.151666,
    ], 1e-6);
  });
  test('plain top-2 probs without the zero rule (the contrast row)', () => {
    const r = run({ logits, k: 2 });
    expectClose(r.weights.data, [0.419699, 0.254560, 0.332961, 0.272605, 0.337540, 0.151666], 1e-6);
  });
  test('k = 1 with the zero expert picked gives weight 0, not NaN', () => {
    const r = run({ logits: mat([[0, 0, 0, 0, 0, 5]]), k: 1, renormalize: true, zeroGateExperts: [5] });
    expect(ids(r)).toEqual([5]);
    expect(Array.from(r.weights.data)).toEqual([0]);
    expect(Array.from(r.counts.data)).toEqual([1]);
  });
});

test('SPEC §10 F: top-2 of z = [0.7, -0.1, 1.0]', () => {
  const r = run({ logits: mat([[0.7, -0.1, 1.0]]), k: 2 });
  expectClose(r.scores!.data, [0.357246, 0.160521, 0.482232], 1e-6);
  expect(ids(r)).toEqual([2, 0]);
  expectClose(r.weights.data, [0.482232, 0.357246], 1e-6);
});
