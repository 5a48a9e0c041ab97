// aux_loss: the three f normalisations on hand-computed values, balance limits, global-batch counts
// (fast-check), the z-loss, and every bad argument. SPEC §10 A is reproduced in router_stats.test.ts.

import fc from 'fast-check';
import { auxLoss, validateAuxLoss } from '../lib/ops/aux_loss';
import { AuxLossArgs } from '../lib/ops/router_stats.types';
import { expectArgError } from './util';

describe('aux_loss', () => {
  test('hand-computed values for megatron / hf / selections', () => {
    // E = 2, T = 4, k = 1: f = [3/4, 1/4], P = [2.4/4, 1.6/4] -> 2 · (0.75·0.6 + 0.25·0.4) = 1.1.
    const base = { counts: [3, 1], tokens: 4, probSum: [2.4, 1.6], localTokens: 4, k: 1 };
    expect(auxLoss(base).loadBalance).toBeCloseTo(1.1, 15);
    expect(auxLoss({ ...base, fNormalization: 'hf' }).loadBalance).toBeCloseTo(1.1, 15);
    // k = 2 with the same counts: megatron halves f, hf does not.
    expect(auxLoss({ ...base, k: 2 }).loadBalance).toBeCloseTo(0.55, 15);
    expect(auxLoss({ ...base, k: 2, fNormalization: 'hf' }).loadBalance).toBeCloseTo(1.1, 15);
    // Variable k: 5 selections behind the counts -> f = [3/5, 1/5] (counts need not sum to selections
    // when they are top-1 counts).
    expect(auxLoss({ ...base, fNormalization: 'selections', selections: 5 }).loadBalance).toBeCloseTo(2 * (0.6 * 0.6 + 0.2 * 0.4), 15);
  });

  test('perfect balance gives 1 (megatron) and k (hf); all load on one expert gives E · P_e', () => {
    const E = 8;
    const k = 2;
    const T = 64;
    const uniform = { counts: new Array(E).fill((k * T) / E), tokens: T, probSum: new Array(E).fill(T / E), localTokens: T, k };
    expect(auxLoss(uniform).loadBalance).toBeCloseTo(1, 14);
    expect(auxLoss({ ...uniform, fNormalization: 'hf' }).loadBalance).toBeCloseTo(k, 14);
    const skew = { ...uniform, counts: [k * T, 0, 0, 0, 0, 0, 0, 0], probSum: [T, 0, 0, 0, 0, 0, 0, 0] };
    expect(auxLoss(skew).loadBalance).toBe(E);
  });

  test('z-loss = zSquareSum / zTokens; NaN without statistics; +inf and NaN propagate', () => {
    const base = { counts: Int32Array.of(1, 1), tokens: 2, probSum: Float32Array.of(1, 1), localTokens: 2, k: 1 };
    expect(auxLoss({ ...base, zSquareSum: 9, zTokens: 4 }).zLoss).toBe(2.25);
    expect(auxLoss(base).zLoss).toBeNaN();
    expect(auxLoss({ ...base, zSquareSum: Infinity, zTokens: 4 }).zLoss).toBe(Infinity);
    expect(auxLoss({ ...base, zSquareSum: NaN, zTokens: 4 }).zLoss).toBeNaN();
    expect(auxLoss({ ...base, probSum: [NaN, 1] }).loadBalance).toBeNaN();
  });

  test('global-batch balancing: summing counts over ranks = one call over the global counts (fast-check)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 16 }).chain((E) => fc.tuple(
        fc.array(fc.array(fc.integer({ min: 0, max: 50 }), { minLength: E, maxLength: E }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: E, maxLength: E }),
        fc.integer({ min: 1, max: E }),
      )),
      ([ranks, probSum, k]) => {
        const E = probSum.length;
        const global = Array.from({ length: E }, (_, e) => ranks.reduce((s, r) => s + r[e]!, 0));
        const tokens = Math.max(1, Math.ceil(global.reduce((x, y) => x + y, 0) / k));
        const r = auxLoss({ counts: global, tokens, probSum, localTokens: 7, k });
        let want = 0;
        for (let e = 0; e < E; e++) want += (global[e]! / (k * tokens)) * (probSum[e]! / 7);
        expect(r.loadBalance).toBeCloseTo(E * want, 12);
        expect(r.loadBalance).toBeGreaterThanOrEqual(0);
      },
    ), { numRuns: 200 });
  });

  test('validation resolves defaults and copies the inputs into plain arrays', () => {
    const counts = Int32Array.of(2, 0, 1);
    const v = validateAuxLoss({ counts, tokens: 3, probSum: [1, 1, 1], localTokens: 3, k: 1 });
    expect(v.fNormalization).toBe('megatron');
    expect(v.counts).toEqual([2, 0, 1]);
    expect(v.zSquareSum).toBeUndefined();
  });
});

describe('aux_loss: bad arguments', () => {
  const ok: AuxLossArgs = { counts: [3, 2, 1, 0], tokens: 3, probSum: [0.9, 0.9, 0.9, 0.3], localTokens: 3, k: 2 };
  const w = (over: Record<string, unknown>): (() => unknown) => () => auxLoss({ ...ok, ...over } as AuxLossArgs);
  test.each([
    ['args', TypeError, () => auxLoss(null as never)],
    ['counts', TypeError, w({ counts: undefined })],
    ['counts', TypeError, w({ counts: '3210' })],
    ['counts', RangeError, w({ counts: [] })],
    ['counts', RangeError, w({ counts: [3, -1, 1, 0] })],
    ['counts', RangeError, w({ counts: [3, NaN, 1, 0] })],
    ['counts', RangeError, w({ counts: [3, Infinity, 1, 0] })],
    ['counts[1]', TypeError, w({ counts: [3, '2', 1, 0] })],
    ['probSum', RangeError, w({ probSum: [1, 1, 1] })],
    ['probSum', RangeError, w({ probSum: [1, -1, 1, 1] })],
    ['probSum', TypeError, w({ probSum: { 0: 1, length: 1 } })],
    ['tokens', RangeError, w({ tokens: 0 })],
    ['tokens', RangeError, w({ tokens: -3 })],
    ['tokens', RangeError, w({ tokens: 2.5 })],
    ['tokens', RangeError, w({ tokens: NaN })],
    ['tokens', TypeError, w({ tokens: '3' })],
    ['tokens', TypeError, w({ tokens: undefined })],
    ['localTokens', RangeError, w({ localTokens: 0 })],
    ['localTokens', RangeError, w({ localTokens: Infinity })],
    ['k', RangeError, w({ k: 0 })],
    ['k', RangeError, w({ k: 5 })],
    ['k', RangeError, w({ k: 1.5 })],
    ['k', TypeError, w({ k: undefined })],
    ['fNormalization', RangeError, w({ fNormalization: 'mean' })],
    ['fNormalization', TypeError, w({ fNormalization: 1 })],
    ['selections', TypeError, w({ fNormalization: 'selections' })],
    ['selections', RangeError, w({ fNormalization: 'selections', selections: 0 })],
    ['selections', RangeError, w({ selections: 2.5 })],
    ['zTokens', TypeError, w({ zSquareSum: 3 })],
    ['zSquareSum', TypeError, w({ zTokens: 3 })],
    ['zSquareSum', TypeError, w({ zSquareSum: '3', zTokens: 3 })],
    ['zSquareSum', RangeError, w({ zSquareSum: -1, zTokens: 3 })],
    ['zTokens', RangeError, w({ zSquareSum: 1, zTokens: 0 })],
  ] as const)("names '%s' (%p)", (arg, ctor, fn) => expectArgError(fn, ctor, arg));
});
