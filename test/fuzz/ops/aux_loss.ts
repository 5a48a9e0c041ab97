// aux_loss (host math, no backend): counts and score sums as arrays or typed arrays, every normalisation,
// z statistics; negative or fractional counts, lengths that disagree, missing `selections`.

import fc from 'fast-check';
import { auxLoss } from '../../../lib/ops/aux_loss';
import type { AuxLoss, AuxLossArgs } from '../../../lib/ops/router_stats.types';
import type { OpFuzz } from '../core';
import { argsNotObject, badEnum, badNumber, wrongKind } from '../mutate';

interface Spec {
  experts: number;
  tokens: number;
  k: number;
  norm: 'megatron' | 'hf' | 'selections' | null;
  typed: boolean;
  z: boolean;
}

export const auxLossFuzz: OpFuzz<Spec, AuxLoss> = {
  name: 'aux_loss',
  prefixes: ['aux_loss'],
  opId: 'host',
  spec: fc
    .record({
      experts: fc.integer({ min: 1, max: 70 }),
      tokens: fc.integer({ min: 1, max: 5000 }),
      k: fc.integer({ min: 1, max: 8 }),
      norm: fc.option(fc.constantFrom('megatron' as const, 'hf' as const, 'selections' as const), { nil: null }),
      typed: fc.boolean(),
      z: fc.boolean(),
    })
    .map((s) => ({ ...s, k: Math.min(s.k, s.experts) })),
  build: (s, g) => {
    const counts = Array.from({ length: s.experts }, () => g.rng.int(s.tokens));
    const probSum = Array.from({ length: s.experts }, () => g.rng.next() * s.tokens);
    const args: Record<string, unknown> = {
      counts: s.typed ? g.i32(counts) : counts,
      probSum: s.typed ? Float32Array.from(probSum) : probSum,
      tokens: s.tokens,
      localTokens: s.tokens,
      k: s.k,
    };
    if (s.norm !== null) args.fNormalization = s.norm;
    if (s.norm === 'selections') args.selections = s.tokens * s.k;
    if (s.z) Object.assign(args, { zSquareSum: g.rng.next() * 100, zTokens: s.tokens });
    return args;
  },
  mutations: [
    argsNotObject(),
    wrongKind('counts', undefined, Array.isArray),
    wrongKind('probSum', undefined, Array.isArray),
    wrongKind('fNormalization', undefined, (v) => typeof v === 'string'),
    badNumber('tokens', (v) => Number.isInteger(v) && v >= 1 && v <= Number.MAX_SAFE_INTEGER),
    badNumber('localTokens', (v) => Number.isInteger(v) && v >= 1 && v <= Number.MAX_SAFE_INTEGER),
    badNumber('k', (v, s) => Number.isInteger(v) && v >= 1 && v <= s.experts),
    badEnum('fNormalization'),
    {
      name: 'counts / probSum: negative, NaN, fractional or a different length',
      apply: (args, s, g) => {
        const key = g.pick(['counts', 'probSum']);
        const v = Array.from(args[key] as ArrayLike<number>);
        if (g.rng.int(3) === 0) v.push(1);
        else v[g.rng.int(v.length)] = g.pick([-1, NaN, Infinity, 0.5, -0.25]);
        args[key] = v;
        return { names: ['counts', 'probSum'] };
      },
    },
    {
      name: "fNormalization 'selections' without selections",
      apply: (args) => {
        args.fNormalization = 'selections';
        delete args.selections;
        return { must: 'TypeError', names: ['selections'] };
      },
    },
  ],
  run: (a) => auxLoss(a as unknown as AuxLossArgs),
  runAsync: async (a) => auxLoss(a as unknown as AuxLossArgs),
  outputs: (r) => ({ loss: { data: Float32Array.of(r.loadBalance, r.zLoss), dtype: 'f32', measure: { kind: 'relNorm', tol: 1e-7 } } }),
};
