// router_stats: random routings and score rows (NaN, -inf logits), masks, bare arrays; ids out of range,
// masks of the wrong length or values, shapes that disagree.

import fc from 'fast-check';
import { routerStats, routerStatsAsync } from '../../../lib/ops/router_stats';
import type { RouterStats, RouterStatsArgs } from '../../../lib/ops/router_stats.types';
import type { FloatDType } from '../../../lib/dtype';
import type { OpFuzz } from '../core';
import { argsNotObject, badShape, dataOf, detached, wrongArrayType, wrongKind } from '../mutate';

interface Spec {
  tokens: number;
  experts: number;
  kmax: number;
  scoresType: FloatDType;
  logits: boolean;
  normalize: boolean | null;
  mask: boolean;
  idsBare: boolean;
  scoresBare: boolean;
}

const spec: fc.Arbitrary<Spec> = fc
  .record({
    tokens: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 400 })),
    experts: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.constantFrom(16, 31, 64, 65)),
    kmax: fc.integer({ min: 0, max: 6 }),
    scoresType: fc.constantFrom<FloatDType>('f32', 'bf16', 'f16'),
    logits: fc.boolean(),
    normalize: fc.option(fc.boolean(), { nil: null }),
    mask: fc.boolean(),
    idsBare: fc.boolean(),
    scoresBare: fc.boolean(),
  })
  .map((s) => ({ ...s, kmax: Math.min(s.kmax, s.experts), scoresBare: s.scoresBare && !s.idsBare && s.tokens > 0, scoresType: s.scoresBare ? 'f32' : s.scoresType }));

export const routerStatsFuzz: OpFuzz<Spec, RouterStats> = {
  name: 'router_stats',
  prefixes: ['router_stats'],
  opId: 'router_stats',
  spec,
  build: (s, g) => {
    const T = s.tokens;
    const ids: number[] = [];
    for (let t = 0; t < T; t++) for (const e of g.distinct(s.experts, s.kmax)) ids.push(g.rng.int(7) === 0 ? -1 : e);
    const scores = g.floats(s.scoresType, T * s.experts);
    // Scores are probabilities: non-negative (a NaN row now and then, as a NaN router row gives).
    for (let i = 0; i < scores.length; i++) if (s.scoresType === 'f32') scores[i] = g.rng.int(50) === 0 ? NaN : Math.abs(scores[i]!) / 2;
    const idData = g.i32(ids);
    const args: Record<string, unknown> = {
      ids: s.idsBare ? idData : { data: idData, shape: [T, s.kmax], dtype: 'i32' },
      scores: s.scoresBare ? scores : { data: scores, shape: [T, s.experts], dtype: s.scoresType },
    };
    if (s.logits) {
      const z = g.floats('f32', T * s.experts, 'tame') as Float32Array;
      args.logits = { data: z, shape: [T, s.experts], dtype: 'f32' };
    }
    if (s.normalize !== null) args.normalizeScores = s.normalize;
    if (s.mask) args.tokenMask = g.u8(Array.from({ length: T }, () => g.rng.int(2)));
    return args;
  },
  mutations: [
    argsNotObject(),
    wrongKind('ids'),
    wrongKind('scores'),
    wrongKind('logits'),
    wrongKind('normalizeScores', undefined, (v) => typeof v === 'boolean'),
    wrongKind('tokenMask'),
    wrongArrayType('ids'),
    wrongArrayType('scores'),
    wrongArrayType('tokenMask', (s) => s.mask),
    badShape('ids', (s) => !s.idsBare),
    badShape('scores', (s) => !s.scoresBare),
    badShape('logits', (s) => s.logits),
    detached('ids'),
    detached('scores'),
    detached('logits', (s) => s.logits),
    {
      name: 'ids: out of range',
      when: (s) => s.tokens * s.kmax > 0,
      apply: (args, s, g) => {
        const d = dataOf(args.ids) as Int32Array;
        d[g.rng.int(d.length)] = g.pick([s.experts, s.experts + 1, -2, 2 ** 31 - 1, -(2 ** 31)]);
        return { must: 'RangeError', names: ['ids'] };
      },
    },
    {
      name: 'tokenMask: wrong length or a value above 1',
      apply: (args, s, g) => {
        const m = Array.from({ length: s.tokens }, () => 1);
        if (g.rng.int(2) && s.tokens > 0) m[g.rng.int(s.tokens)] = g.pick([2, 255]);
        else m.push(1);
        args.tokenMask = g.u8(m);
        return { must: 'RangeError', names: ['tokenMask'] };
      },
    },
    {
      name: 'scores: zero or huge experts (zero elements)',
      apply: (args, s, g) => {
        const [t, e] = g.pick([[0, 2 ** 40], [0, 2 ** 31 - 1], [0, (1 << 20) + 1], [2 ** 40, 0], [s.tokens, 0]]);
        args.ids = { data: g.i32([]), shape: [t, 0], dtype: 'i32' };
        args.scores = { data: g.floats('f32', 0), shape: [t, e], dtype: 'f32' };
        delete args.logits;
        delete args.tokenMask;
        return { must: 'RangeError', names: ['scores', 'ids'] };
      },
    },
    {
      name: 'scores: bare with a length that is not a multiple of tokens',
      when: (s) => !s.idsBare && s.tokens > 1,
      apply: (args, s, g) => {
        args.scores = g.floats('f32', s.tokens * s.experts + 1);
        return { must: 'RangeError', names: ['scores'] };
      },
    },
  ],
  run: (a, o) => routerStats(a as unknown as RouterStatsArgs, o),
  runAsync: (a, o) => routerStatsAsync(a as unknown as RouterStatsArgs, o),
  outputs: (r) => ({
    counts: { data: r.counts.data, dtype: 'i32', shape: r.counts.shape, measure: { kind: 'exact' } },
    top1Counts: { data: r.top1Counts.data, dtype: 'i32', shape: r.top1Counts.shape, measure: { kind: 'exact' } },
    probSum: { data: r.probSum.data, dtype: 'f32', shape: r.probSum.shape, measure: { kind: 'relNorm', tol: 1e-6 } },
    totals: { data: Float32Array.of(r.tokens, r.selections), dtype: 'f32', measure: { kind: 'exact' } },
  }),
  extra: (got, want) => {
    // Sums in f64 in chunk order vs one pass: within 1e-12 relative (SPEC: 1e-15 per term).
    for (const k of ['zSquareSum', 'entropySum'] as const) {
      const a = got[k];
      const b = want[k];
      if (a === undefined && b === undefined) continue;
      if (a === undefined || b === undefined) return `'${k}' is ${a}, the reference ${b}`;
      if (Number.isNaN(a) && Number.isNaN(b)) continue;
      if (a === b) continue;
      if (!(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)))) return `'${k}' is ${a}, the reference ${b}`;
    }
    return null;
  },
};
