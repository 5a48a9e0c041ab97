// router_stats (+ aux_loss on its result): SPEC §10 A losses, masks, normalisation, non-finite logits,
// invariants against a naive count (fast-check), and every bad argument.

import fc from 'fast-check';
import { auxLoss } from '../lib/ops/aux_loss';
import { routerStats } from '../lib/ops/router_stats';
import { RouterStatsArgs } from '../lib/ops/router_stats.types';
import { Rng } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { expectArgError, expectClose } from './util';

const t2 = (rows: number[][]): Tensor<'f32'> => ({ data: Float32Array.from(rows.flat()), shape: [rows.length, rows[0]?.length ?? 0], dtype: 'f32' });
const i2 = (rows: number[][], k = rows[0]?.length ?? 0): Tensor<'i32'> => ({ data: Int32Array.from(rows.flat()), shape: [rows.length, k], dtype: 'i32' });
const softmax = (z: number[]): number[] => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((x, y) => x + y, 0);
  return e.map((v) => v / s);
};

// SPEC §10 A: E = 4, k = 2, three tokens.
const Z = [[1, 2, 0.5, -1], [0, 0, 0, 0], [3, -2, 3, 1]];
const P = Z.map(softmax);
const IDS = [[1, 0], [0, 1], [0, 2]];

describe('router_stats: SPEC §10 A', () => {
  const s = routerStats({ ids: i2(IDS), scores: t2(P), logits: t2(Z) });

  test('counts, top-1 counts, P, tokens and selections', () => {
    expect(Array.from(s.counts.data)).toEqual([3, 2, 1, 0]);
    expect(Array.from(s.top1Counts.data)).toEqual([2, 1, 0, 0]);
    expect(s.counts.shape).toEqual([4]);
    expect(s.tokens).toBe(3);
    expect(s.selections).toBe(6);
    expectClose(Array.from(s.probSum.data, (v) => v / 3), [0.313682, 0.287535, 0.284275, 0.114508], 1e-6);
    const ent = P.reduce((acc, p) => acc - p.reduce((x, v) => x + v * Math.log(v), 0), 0);
    expect(s.entropySum).toBeCloseTo(ent, 6);
  });

  test('L_aux with both normalisations and L_z (through auxLoss)', () => {
    const base = { counts: s.counts.data, tokens: s.tokens, probSum: s.probSum.data, localTokens: s.tokens, k: 2 };
    const meg = auxLoss({ ...base, zSquareSum: s.zSquareSum, zTokens: s.tokens });
    expect(meg.loadBalance).toBeCloseTo(1.200261, 6);
    expect(meg.zLoss).toBeCloseTo(7.432897, 6);
    expect(auxLoss({ ...base, fNormalization: 'hf' }).loadBalance).toBeCloseTo(2.400521, 6);
    expect(auxLoss({ ...base, fNormalization: 'selections', selections: s.selections }).loadBalance).toBeCloseTo(1.200261, 6);
    expect(auxLoss(base).zLoss).toBeNaN();
  });

  test('per-token logsumexp = [2.495182, 1.386294, 3.761774]', () => {
    const lse = Z.map((z, t) => Math.sqrt(routerStats({ ids: i2([IDS[t]!]), scores: t2([P[t]!]), logits: t2([z]) }).zSquareSum!));
    expectClose(lse, [2.495182, 1.386294, 3.761774], 1e-6);
  });

  test('tokenMask excludes a token everywhere', () => {
    const m = routerStats({ ids: i2(IDS), scores: t2(P), logits: t2(Z), tokenMask: Uint8Array.of(1, 0, 1) });
    expect(Array.from(m.counts.data)).toEqual([2, 1, 1, 0]);
    expect(Array.from(m.top1Counts.data)).toEqual([1, 1, 0, 0]);
    expect([m.tokens, m.selections]).toEqual([2, 4]);
    expectClose(m.probSum.data, P[0]!.map((v, e) => Math.fround(v + P[2]![e]!)), 1e-7);
    expect(m.zSquareSum).toBeCloseTo(2.495182 ** 2 + 3.761774 ** 2, 5);
  });
});

describe('router_stats: options and edge cases', () => {
  test('normalizeScores divides each row by its sum (+1e-20) before summing (sigmoid scores)', () => {
    const s = [[0.9, 0.5, 0.1], [0.2, 0.2, 0.6], [0, 0, 0]];
    const r = routerStats({ ids: i2([[0], [2], [1]]), scores: t2(s), normalizeScores: true });
    expectClose(r.probSum.data, [0.9 / 1.5 + 0.2, 0.5 / 1.5 + 0.2, 0.1 / 1.5 + 0.6], 1e-7);
    expectClose(routerStats({ ids: i2([[0], [2], [1]]), scores: t2(s) }).probSum.data, [1.1, 0.7, 0.7], 1e-7);
  });

  test('-1 slots are not counted; an empty slot 0 adds no top-1 count', () => {
    const r = routerStats({ ids: i2([[-1, 2], [1, -1], [-1, -1]]), scores: t2([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5], [0.2, 0.3, 0.5]]) });
    expect(Array.from(r.counts.data)).toEqual([0, 1, 1]);
    expect(Array.from(r.top1Counts.data)).toEqual([0, 1, 0]);
    expect([r.tokens, r.selections]).toEqual([3, 2]);
  });

  test('k = E (dense), every token to one expert, entropy 0 log 0 = 0', () => {
    const dense = routerStats({ ids: i2([[0, 1, 2], [2, 1, 0]]), scores: t2([[1, 0, 0], [0, 1, 0]]) });
    expect(Array.from(dense.counts.data)).toEqual([2, 2, 2]);
    expect(dense.entropySum).toBe(0);
    const one = routerStats({ ids: i2(Array.from({ length: 7 }, () => [3])), scores: t2(Array.from({ length: 7 }, () => [0.25, 0.25, 0.25, 0.25])) });
    expect(Array.from(one.counts.data)).toEqual([0, 0, 0, 7]);
    expect(one.entropySum).toBeCloseTo(7 * Math.log(4), 12);
  });

  test('an all -inf logit row gives logsumexp -inf, squared +inf (documented); NaN propagates; masked rows do not count', () => {
    const ids = i2([[0], [1]]);
    const scores = t2([[0.5, 0.5], [0.5, 0.5]]);
    const inf = routerStats({ ids, scores, logits: t2([[0, 0], [-Infinity, -Infinity]]) });
    expect(inf.zSquareSum).toBe(Infinity);
    expect(auxLoss({ counts: inf.counts.data, tokens: 2, probSum: inf.probSum.data, localTokens: 2, k: 1, zSquareSum: inf.zSquareSum, zTokens: 2 }).zLoss).toBe(Infinity);
    expect(routerStats({ ids, scores, logits: t2([[0, NaN], [1, 1]]) }).zSquareSum).toBeNaN();
    expect(routerStats({ ids, scores, logits: t2([[0, Infinity], [1, 1]]) }).zSquareSum).toBe(Infinity);
    const masked = routerStats({ ids, scores: t2([[0.5, 0.5], [NaN, 0]]), logits: t2([[0, 0], [NaN, NaN]]), tokenMask: Uint8Array.of(1, 0) });
    expect(masked.zSquareSum).toBeCloseTo(Math.LN2 ** 2, 12);
    expect(Array.from(masked.probSum.data)).toEqual([0.5, 0.5]);
    expect(routerStats({ ids, scores: t2([[0.5, 0.5], [NaN, 0]]) }).entropySum).toBeNaN();
    // -inf logits inside a row are fine (masking): their probability is 0.
    expect(routerStats({ ids, scores, logits: t2([[0, -Infinity], [0, -Infinity]]) }).zSquareSum).toBe(0);
  });

  test('no tokens, no slots, bare typed arrays and half-precision scores', () => {
    const empty = routerStats({ ids: i2([], 2), scores: { data: new Float32Array(0), shape: [0, 5], dtype: 'f32' } });
    expect(Array.from(empty.counts.data)).toEqual([0, 0, 0, 0, 0]);
    expect([empty.tokens, empty.selections, empty.entropySum]).toEqual([0, 0, 0]);
    expect(empty.zSquareSum).toBeUndefined();
    const noSlots = routerStats({ ids: { data: new Int32Array(0), shape: [2, 0], dtype: 'i32' }, scores: t2([[1, 0], [0, 1]]) });
    expect(Array.from(noSlots.counts.data)).toEqual([0, 0]);
    expect(noSlots.tokens).toBe(2);
    const bareIds = routerStats({ ids: Int32Array.from(IDS.flat()), scores: t2(P) });
    const bareScores = routerStats({ ids: i2(IDS), scores: Float32Array.from(P.flat()) });
    expect(Array.from(bareIds.counts.data)).toEqual([3, 2, 1, 0]);
    expect(Array.from(bareScores.probSum.data)).toEqual(Array.from(bareIds.probSum.data));
    const half = routerStats({ ids: i2([[1]]), scores: { data: Uint16Array.of(0x3f00, 0x3f00), shape: [1, 2], dtype: 'bf16' } });
    expect(Array.from(half.probSum.data)).toEqual([0.5, 0.5]);
  });
});

describe('router_stats invariants (fast-check)', () => {
  function randomCase(seed: number, T: number, E: number, kmax: number): RouterStatsArgs & { mask: Uint8Array } {
    const rng = new Rng(seed);
    const ids = new Int32Array(T * kmax);
    const scores = new Float32Array(T * E);
    for (let t = 0; t < T; t++) {
      const perm = Array.from({ length: E }, (_, i) => i).sort(() => rng.next() - 0.5);
      for (let j = 0; j < kmax; j++) ids[t * kmax + j] = rng.next() < 0.15 ? -1 : perm[j]!;
      const p = softmax(Array.from({ length: E }, () => 3 * rng.normal()));
      for (let e = 0; e < E; e++) scores[t * E + e] = p[e]!;
    }
    const mask = Uint8Array.from({ length: T }, () => (rng.next() < 0.8 ? 1 : 0));
    return { ids: { data: ids, shape: [T, kmax], dtype: 'i32' }, scores: { data: scores, shape: [T, E], dtype: 'f32' }, mask };
  }
  const arb = fc.record({ seed: fc.integer({ min: 1, max: 1e9 }), T: fc.constantFrom(1, 7, 255, 1001, 3), E: fc.integer({ min: 1, max: 9 }), kf: fc.double({ min: 0, max: 1, noNaN: true }) });

  test('counts match a naive count; probSum is the f32 of the f64 sum; masking = removing the tokens', () => {
    fc.assert(fc.property(arb, ({ seed, T, E, kf }) => {
      const kmax = Math.min(E, Math.round(kf * E));
      const c = randomCase(seed, T, E, kmax);
      const ids = (c.ids as Tensor<'i32'>).data;
      const sc = (c.scores as Tensor<'f32'>).data;
      const r = routerStats({ ids: c.ids, scores: c.scores, tokenMask: c.mask });
      const counts = new Array<number>(E).fill(0);
      const top1 = new Array<number>(E).fill(0);
      const sums = new Array<number>(E).fill(0);
      const keep: number[] = [];
      for (let t = 0; t < T; t++) {
        if (!c.mask[t]) continue;
        keep.push(t);
        for (let j = 0; j < kmax; j++) {
          const id = ids[t * kmax + j]!;
          if (id >= 0) counts[id]!++;
          if (id >= 0 && j === 0) top1[id]!++;
        }
        for (let e = 0; e < E; e++) sums[e]! += sc[t * E + e]!;
      }
      expect(Array.from(r.counts.data)).toEqual(counts);
      expect(Array.from(r.top1Counts.data)).toEqual(top1);
      expect(Array.from(r.probSum.data)).toEqual(sums.map(Math.fround));
      expect(r.selections).toBe(counts.reduce((x, y) => x + y, 0));
      expect(r.tokens).toBe(keep.length);
      expect(Math.abs(Array.from(r.probSum.data).reduce((x, y) => x + y, 0) - keep.length)).toBeLessThan(1e-5 * T + 1e-6);
      expect(r.entropySum).toBeGreaterThanOrEqual(0);
      expect(r.entropySum).toBeLessThanOrEqual(keep.length * Math.log(E) + 1e-9);
      const sub = routerStats({
        ids: { data: Int32Array.from(keep.flatMap((t) => Array.from(ids.subarray(t * kmax, (t + 1) * kmax)))), shape: [keep.length, kmax], dtype: 'i32' },
        scores: { data: Float32Array.from(keep.flatMap((t) => Array.from(sc.subarray(t * E, (t + 1) * E)))), shape: [keep.length, E], dtype: 'f32' },
      });
      expect(sub).toEqual(r);
    }), { numRuns: 120 });
  });
});

describe('router_stats: bad arguments', () => {
  const ids = i2(IDS);
  const scores = t2(P);
  const w = (over: Record<string, unknown>): (() => unknown) => () => routerStats({ ids, scores, ...over } as RouterStatsArgs);
  test.each([
    ['args', TypeError, () => routerStats(7 as never)],
    ['ids', TypeError, w({ ids: undefined })],
    ['ids', TypeError, w({ ids: Int32Array.of(1, 0), scores: Float32Array.of(0.5, 0.5) })], // both bare: no shape
    ['ids.dtype', TypeError, w({ ids: t2(IDS) })],
    ['ids.dtype', TypeError, w({ ids: Float32Array.from(IDS.flat()) })],
    ['ids', RangeError, w({ ids: i2([[1, 0], [0, 4], [0, 2]]) })],
    ['ids', RangeError, w({ ids: i2([[1, 0], [0, -2], [0, 2]]) })],
    ['ids', RangeError, w({ ids: Int32Array.of(1, 0, 0, 1, 0) })],
    ['ids.shape', RangeError, w({ ids: { data: Int32Array.of(1, 0, 0, 1, 0, 2), shape: [6], dtype: 'i32' } })],
    ['scores', TypeError, w({ scores: undefined })],
    ['scores.shape', RangeError, w({ scores: t2([[0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0]]) })],
    ['scores.dtype', TypeError, w({ scores: { data: new Int32Array(12), shape: [3, 4], dtype: 'i32' } })],
    ['scores', RangeError, w({ scores: new Float32Array(13) })],
    ['scores', TypeError, () => routerStats({ ids: i2([], 2), scores: new Float32Array(0) })],
    ['logits.shape', RangeError, w({ logits: t2([[1, 2, 3], [1, 2, 3], [1, 2, 3]]) })],
    ['logits', RangeError, w({ logits: new Float32Array(11) })],
    ['logits.dtype', TypeError, w({ logits: { data: new Int32Array(12), shape: [3, 4], dtype: 'i32' } })],
    ['normalizeScores', TypeError, w({ normalizeScores: 'yes' })],
    ['normalizeScores', TypeError, w({ normalizeScores: 1 })],
    ['tokenMask', TypeError, w({ tokenMask: [1, 1, 1] })],
    ['tokenMask', TypeError, w({ tokenMask: Int32Array.of(1, 1, 1) })],
    ['tokenMask', RangeError, w({ tokenMask: Uint8Array.of(1, 1) })],
    ['tokenMask', RangeError, w({ tokenMask: Uint8Array.of(1, 2, 1) })],
    ['backend', RangeError, () => routerStats({ ids, scores }, { backend: 'fast' as never })],
  ] as const)("names '%s' (%p)", (arg, ctor, fn) => expectArgError(fn, ctor, arg));
});
