// route: every method with random options that fit it (bias, groups, thresholds, kmax, zero gates, capacity
// with every policy, pruning with masks, external ids and weights), logits with ties, -inf and NaN rows;
// options that do not apply, unknown keys, bad k / thresholds / factors, ids out of range or repeated.

import fc from 'fast-check';
import { route, routeAsync } from '../../../lib/ops/route';
import type { RouteArgs, RouteMethod, RouteResult } from '../../../lib/ops/route.types';
import type { FloatDType } from '../../../lib/dtype';
import { TOL, type OpFuzz, type Output } from '../core';
import { argsNotObject, badEnum, badNumber, badShape, dataOf, detached, plainObject, wrongArrayType, wrongKind } from '../mutate';

interface Spec {
  method: RouteMethod;
  tokens: number;
  experts: number;
  logitsType: FloatDType;
  ties: boolean;
  /** Fractions in [0, 1) turned into sizes that fit: k, kmax, groups, ... */
  r: number[];
  flags: boolean[];
}

const METHODS: RouteMethod[] = ['softmax_topk', 'topk_softmax', 'sigmoid_topk', 'xmoe_threshold', 'top_p', 'external'];

const spec: fc.Arbitrary<Spec> = fc.record({
  method: fc.constantFrom(...METHODS),
  tokens: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 200 })),
  experts: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constantFrom(16, 60, 64, 65)),
  logitsType: fc.constantFrom<FloatDType>('f32', 'f32', 'bf16', 'f16'),
  ties: fc.boolean(),
  r: fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 12, maxLength: 12 }),
  flags: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
});

const TOPK: RouteMethod[] = ['softmax_topk', 'topk_softmax', 'sigmoid_topk'];
const THRESHOLD: RouteMethod[] = ['xmoe_threshold', 'top_p'];
const pickInt = (r: number, lo: number, hi: number): number => lo + Math.floor(r * (hi - lo + 1));

/** The divisors of n. */
const divisors = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);

export const routeFuzz: OpFuzz<Spec, RouteResult> = {
  name: 'route',
  prefixes: ['route'],
  opId: 'route',
  spec,
  build: (s, g) => {
    const { method: m, tokens: T, experts: E, r, flags: f } = s;
    const args: Record<string, unknown> = { method: m };
    let k = TOPK.includes(m) || m === 'external' ? pickInt(r[0]!, 1, E) : 0;
    if (m === 'external') {
      const ids: number[] = [];
      for (let t = 0; t < T; t++) for (const e of g.distinct(E, k)) ids.push(g.rng.int(5) === 0 ? -1 : e);
      args.ids = f[0] ? { data: g.i32(ids), shape: [T, k], dtype: 'i32' } : g.i32(ids);
      if (!f[0] || f[1]) args.k = k;
      args.experts = E;
      if (f[2]) args.weights = { data: g.floats('f32', T * k), shape: [T, k], dtype: 'f32' };
    } else {
      const z = g.floats(s.logitsType, T * E, g.rng.int(4) === 0 ? 'all' : false);
      if (s.ties) for (let i = 0; i < z.length; i++) z[i] = z[i === 0 ? 0 : i - (g.rng.int(3) === 0 ? 1 : 0)]!; // repeated values
      args.logits = { data: z, shape: [T, E], dtype: s.logitsType };
      if (f[1]) args.experts = E;
    }
    if (TOPK.includes(m)) {
      // Group-limited selection first, since it bounds k.
      if ((m === 'softmax_topk' || m === 'sigmoid_topk') && f[3]) {
        const ds = divisors(E);
        const G = ds[Math.floor(r[1]! * ds.length)]!;
        const topkGroups = pickInt(r[2]!, 1, G);
        args.groups = G;
        if (G > 1 || f[4]) args.topkGroups = topkGroups;
        if (f[5]) args.groupTopN = pickInt(r[3]!, 1, E / G);
        k = Math.min(k, topkGroups * (E / G));
      }
      args.k = k;
      if (f[6]) args.bias = g.floats('f32', E);
    }
    if (THRESHOLD.includes(m)) args.threshold = g.pick([1, 0.5, 0.9, 1e-3, r[4]! || 0.25]);
    if (f[7]) args.kmax = THRESHOLD.includes(m) ? pickInt(r[5]!, 1, E) : pickInt(r[5]!, k, Math.max(k, E));
    if (f[8]) args.renormalize = m === 'topk_softmax' ? true : g.rng.int(2) === 0;
    if (f[9]) args.scale = g.pick([1, 2.5, 0.125, 16]);
    if (m !== 'external' && f[10] && E > 1) args.zeroGateExperts = g.distinct(E, pickInt(r[6]!, 1, Math.min(E, 2)));
    if (f[11]) {
      const cap: Record<string, unknown> = { factor: g.pick([0.5, 1, 1.25, 2, 1e-9, 1e9]) };
      if (g.rng.int(2)) cap.policy = g.pick(['position', 'probs', 'rank_then_position']);
      if (g.rng.int(3) === 0) cap.minCapacity = g.rng.int(4);
      if (g.rng.int(3) === 0) cap.kCapacity = 1;
      if (g.rng.int(3) === 0) cap.renormalizeSurvivors = g.rng.int(2) === 0;
      args.capacity = cap;
    }
    if (m !== 'external' && r[7]! < 0.3) {
      const prune: Record<string, unknown> = { beta: g.pick([0, 0.1, 0.5, 1]) };
      const protect = Array.from({ length: T }, () => (g.rng.int(4) === 0 ? 1 : 0));
      if (g.rng.int(2)) prune.protect = g.u8(protect);
      if (g.rng.int(2)) prune.dropAll = g.u8(protect.map((p) => (p ? 0 : g.rng.int(6) === 0 ? 1 : 0)));
      args.prune = prune;
    }
    return args;
  },
  mutations: [
    argsNotObject(),
    wrongKind('logits', (s) => s.method !== 'external'),
    wrongKind('ids', (s) => s.method === 'external'),
    wrongKind('method', undefined, (v) => typeof v === 'string'),
    wrongKind('capacity', undefined, plainObject),
    wrongKind('prune', (s) => s.method !== 'external', plainObject),
    wrongKind('renormalize', undefined, (v) => typeof v === 'boolean'),
    wrongArrayType('logits', (s) => s.method !== 'external'),
    wrongArrayType('ids', (s) => s.method === 'external'),
    badShape('logits', (s) => s.method !== 'external'),
    detached('logits', (s) => s.method !== 'external'),
    detached('ids', (s) => s.method === 'external'),
    badEnum('method'),
    badNumber('k', () => false, (s) => s.method !== 'external' && !['xmoe_threshold', 'top_p'].includes(s.method), [2 ** 31, 66]),
    badNumber('threshold', (v) => v > 0 && v <= 1, (s) => s.method === 'xmoe_threshold' || s.method === 'top_p'),
    badNumber('scale', (v) => v > 0 && Number.isFinite(v)),
    badNumber('kmax', () => false, (s) => s.method !== 'external', [2 ** 31 - 1]),
    badNumber('capacity.factor', (v) => v > 0 && Number.isFinite(v), (s) => s.flags[11]!),
    badNumber('capacity.minCapacity', (v) => Number.isInteger(v) && v >= 0 && v <= 2 ** 31 - 1, (s) => s.flags[11]!),
    badNumber('prune.beta', (v) => v >= 0 && v <= 1, (s) => s.method !== 'external' && s.r[7]! < 0.3),
    badEnum('capacity.policy', (s) => s.flags[11]!),
    {
      name: 'an option that does not apply to the method, or an unknown key',
      apply: (args, s, g) => {
        // Where each option applies (lib/ops/route.ts); unknown keys apply nowhere.
        const applies: Record<string, RouteMethod[]> = {
          threshold: THRESHOLD, groups: ['softmax_topk', 'sigmoid_topk'], bias: TOPK, ids: ['external'],
          logits: METHODS.filter((x) => x !== 'external'), prune: METHODS.filter((x) => x !== 'external'),
          k: [...TOPK, 'external'], notAnOption: [], topK: [],
        };
        const key = g.pick(Object.keys(applies).filter((x) => !applies[x]!.includes(s.method)));
        const value = key === 'bias' || key === 'logits' ? new Float32Array(s.experts) : key === 'ids' ? new Int32Array(0) : key === 'prune' ? { beta: 0.5 } : 1;
        if (key in args) return {};
        args[key] = value;
        return { must: 'error', names: [key, 'k', 'groups', 'topkGroups', 'bias', 'logits', 'ids', 'kmax', 'threshold'] };
      },
    },
    {
      name: 'capacity / prune: unknown key',
      apply: (args, _s, g) => {
        const o = g.rng.int(2) ? 'capacity' : 'prune';
        args[o] = { ...(o === 'capacity' ? { factor: 1 } : { beta: 0.5 }), [g.pick(['facter', 'policies', 'Beta', 'protected'])]: 1 };
        return { must: 'RangeError', names: [o] };
      },
    },
    {
      name: 'groups that do not divide the experts, topkGroups out of range',
      when: (s) => s.method === 'softmax_topk' || s.method === 'sigmoid_topk',
      apply: (args, s, g) => {
        args.groups = g.pick([s.experts + 1, 0, 1.5, NaN, ...(s.experts > 2 ? [s.experts - 1] : [])]);
        args.topkGroups = g.pick([1, 0, -1, s.experts + 1]);
        delete args.groupTopN;
        return { names: ['groups', 'topkGroups', 'k'] };
      },
    },
    {
      name: 'bias: non-finite or the wrong length',
      when: (s) => ['softmax_topk', 'topk_softmax', 'sigmoid_topk'].includes(s.method),
      apply: (args, s, g) => {
        const b = g.floats('f32', s.experts + (g.rng.int(2) ? 1 : 0)) as Float32Array;
        if (b.length === s.experts) b[g.rng.int(b.length)] = g.pick([NaN, Infinity, -Infinity]);
        args.bias = b;
        return { must: 'RangeError', names: ['bias'] };
      },
    },
    {
      name: 'zeroGateExperts: out of range or not integers',
      when: (s) => s.method !== 'external',
      apply: (args, s, g) => {
        args.zeroGateExperts = [g.pick([s.experts, -1, 0.5, NaN, 2 ** 31])];
        return { must: 'error', names: ['zeroGateExperts'] };
      },
    },
    {
      name: 'prune masks: wrong length, values above 1, or a token both protected and dropped',
      when: (s) => s.method !== 'external' && s.tokens > 0,
      apply: (args, s, g) => {
        const m = Array.from({ length: s.tokens }, () => 1);
        const how = g.rng.int(3);
        if (how === 0) m.push(0);
        if (how === 1) m[0] = 2;
        args.prune = how === 2 ? { beta: 0.5, protect: g.u8(m), dropAll: g.u8(m) } : { beta: 0.5, [g.pick(['protect', 'dropAll'])]: g.u8(m) };
        return { must: 'RangeError', names: ['prune'] };
      },
    },
    {
      name: 'external ids: out of range or repeated in a row',
      when: (s) => s.method === 'external' && s.tokens > 0,
      apply: (args, s, g) => {
        const d = dataOf(args.ids) as Int32Array;
        const k = d.length / s.tokens;
        if (k > 1 && g.rng.int(2)) {
          const t = g.rng.int(s.tokens);
          d[t * k] = d[t * k + 1] = g.rng.int(s.experts);
        } else {
          d[g.rng.int(d.length)] = g.pick([s.experts, -2, 2 ** 31 - 1, -(2 ** 31)]);
        }
        return { must: 'RangeError', names: ['ids'] };
      },
    },
    {
      name: 'external: experts or k that disagree with ids',
      when: (s) => s.method === 'external',
      apply: (args, _s, g) => {
        if (g.rng.int(2)) args.experts = g.pick([0, -1, 1.5, NaN, 2 ** 31]);
        else args.k = g.pick([0, 2 ** 31, 1.5, (args.k as number ?? 1) + 1]);
        return { must: 'error', names: ['experts', 'k', 'ids'] };
      },
    },
    {
      name: 'logits: huge token count with zero experts, or zero tokens with huge experts',
      when: (s) => s.method !== 'external',
      apply: (args, s, g) => {
        args.logits = { data: g.floats('f32', 0), shape: g.pick([[2 ** 40, 0], [0, 2 ** 40], [2 ** 31, 0], [0, 2 ** 31 - 1], [0, (1 << 20) + 1]]), dtype: 'f32' };
        return { must: 'RangeError', names: ['logits'] };
      },
    },
  ],
  run: (a, o) => route(a as unknown as RouteArgs, o),
  runAsync: (a, o) => routeAsync(a as unknown as RouteArgs, o),
  outputs: (r) => {
    const o: Record<string, Output> = {
      ids: { data: r.ids.data, dtype: 'i32', shape: r.ids.shape, measure: { kind: 'exact' } },
      weights: { data: r.weights.data, dtype: 'f32', shape: r.weights.shape, measure: { kind: 'relNorm', tol: TOL.f32 } },
      counts: { data: r.counts.data, dtype: 'i32', shape: r.counts.shape, measure: { kind: 'exact' } },
    };
    if (r.scores) o.scores = { data: r.scores.data, dtype: 'f32', shape: r.scores.shape, measure: { kind: 'relNorm', tol: TOL.f32 } };
    if (r.capacity) {
      for (const k of ['selectedIds', 'keep', 'load', 'demand'] as const) {
        o[`capacity.${k}`] = { data: r.capacity[k].data, dtype: 'i32', shape: r.capacity[k].shape, measure: { kind: 'exact' } };
      }
      o['capacity.cap'] = { data: Int32Array.of(r.capacity.cap), dtype: 'i32', measure: { kind: 'exact' } };
    }
    return o;
  },
  extra: (got, want) => ((got.scores === undefined) !== (want.scores === undefined) || (got.capacity === undefined) !== (want.capacity === undefined)
    ? 'scores / capacity present on one side only' : null),
};
