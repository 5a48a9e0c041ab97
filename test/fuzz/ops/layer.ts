// MoELayer: random small configurations (every router method and activation, zero / copy / constant and
// shared experts, biases, a two-layer router, gating residual, capacity, half weights) with weights built
// here in checkpoint layout, and a forward pass (sometimes with external routing, a residual or the
// previous layer's logits); broken configs, weights and forward arguments.
// Runs with backend 'auto' against 'reference': 'auto' mixes native and reference ops as they land.

import fc from 'fast-check';
import { ForwardResult, MoELayer, MoELayerConfig } from '../../../lib/layer';
import { ACTIVATIONS, type Activation } from '../../../lib/ops/grouped_gemm.types';
import type { FloatDType } from '../../../lib/dtype';
import type { Gen, OpFuzz, Output } from '../core';
import { alsoNames, badEnum, badNumber, badShape, dataOf, detached, wrongKind } from '../mutate';

interface Spec {
  hidden: number;
  intermediate: number;
  experts: number;
  special: [number, number, number];
  topK: number;
  method: 'softmax_topk' | 'topk_softmax' | 'sigmoid_topk' | 'xmoe_threshold' | 'top_p';
  activation: Activation;
  dtype: FloatDType;
  flags: boolean[];
  tokens: number;
}

const spec: fc.Arbitrary<Spec> = fc
  .record({
    hidden: fc.integer({ min: 1, max: 24 }),
    intermediate: fc.integer({ min: 1, max: 12 }),
    experts: fc.integer({ min: 1, max: 6 }),
    special: fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1 })),
    topK: fc.integer({ min: 1, max: 3 }),
    method: fc.constantFrom('softmax_topk' as const, 'topk_softmax' as const, 'sigmoid_topk' as const, 'xmoe_threshold' as const, 'top_p' as const),
    activation: fc.constantFrom(...ACTIVATIONS),
    dtype: fc.constantFrom<FloatDType>('f32', 'f32', 'bf16', 'f16'),
    flags: fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
    tokens: fc.integer({ min: 0, max: 16 }),
  })
  .map((s) => ({ ...s, topK: Math.min(s.topK, s.experts + s.special[0] + s.special[1] + s.special[2]) }));

const glu = (a: Activation): boolean => a === 'swiglu' || a === 'geglu';

/** What forward() receives: the case's forward fields, or the mutation's replacement. */
function forwardArgs(a: Record<string, unknown>): never {
  if ('forwardArgs' in a) return a.forwardArgs as never;
  const { config: _c, weights: _w, ...rest } = a;
  return rest as never;
}

function configOf(s: Spec): MoELayerConfig {
  const f = s.flags;
  const threshold = s.method === 'xmoe_threshold' || s.method === 'top_p';
  return {
    hidden: s.hidden, intermediate: s.intermediate, experts: s.experts, topK: s.topK,
    zeroExperts: s.special[0], copyExperts: s.special[1], constantExperts: s.special[2],
    router: {
      method: s.method,
      ...(threshold ? { threshold: 0.6 } : {}),
      ...(f[0] && !threshold ? { capacity: { factor: 1.25 } } : {}),
      ...(s.method === 'sigmoid_topk' ? { scale: 2.5 } : {}),
    },
    activation: s.activation,
    ...(f[1] ? { gluLayout: 'interleaved' as const } : {}),
    ...(f[2] ? { expertBias: true } : {}),
    ...(f[3] ? { routerBias: true } : {}),
    ...(f[4] && !threshold ? { selectionBias: true } : {}),
    ...(f[5] ? { gatingResidual: true } : {}),
    ...(f[6] ? { routerLayers: 2 as const, routerHidden: 5 } : {}),
    ...(f[7] ? { sharedExpert: { intermediate: 3 } } : {}),
    ...(f[8] ? { inputScale: 2 } : {}),
    dtype: s.dtype,
  };
}

/** Weights in checkpoint layout for `cfg` (see MoELayerWeights). */
function weightsOf(cfg: MoELayerConfig, s: Spec, g: Gen): Record<string, unknown> {
  const H = cfg.hidden;
  const I = cfg.intermediate;
  const E = cfg.experts;
  const N = E + s.special[0] + s.special[1] + s.special[2];
  const rows = glu(s.activation) ? 2 : 1;
  const t = (shape: number[], dtype: FloatDType = 'f32'): unknown => ({ data: g.floats(dtype, shape.reduce((p, d) => p * d, 1)), shape, dtype });
  const w: Record<string, unknown> = { w1: t([E, rows * I, H], s.dtype), w2: t([E, H, I], s.dtype) };
  if (cfg.routerLayers === 2) Object.assign(w, { router1: t([5, H]), router2: t([N, 5]) });
  else w.router = t([N, H]);
  if (cfg.routerBias) w.routerBias = g.floats('f32', N);
  if (cfg.selectionBias) w.selectionBias = t([N]);
  if (cfg.gatingResidual) w.gatingResidual = t([N, N]);
  if (cfg.expertBias) Object.assign(w, { b1: t([E, rows * I]), b2: g.floats('f32', E * H) });
  if (cfg.sharedExpert) Object.assign(w, { sharedW1: t([1, rows * 3, H], s.dtype), sharedW2: t([1, H, 3], s.dtype) });
  if (s.special[2]) Object.assign(w, { constantWc: t([s.special[2], 2, H]), constantV: t([s.special[2], H]) });
  return w;
}

export const layerFuzz: OpFuzz<Spec, ForwardResult> = {
  name: 'MoELayer',
  prefixes: ['MoELayer', 'MoELayer.forward', 'route', 'permute', 'grouped_gemm', 'unpermute', 'router_stats'],
  opId: null,
  // On the cpu backend forward is one layerForward call (lib/layer_native.ts) where the config allows.
  binding: { opId: 'layer_forward', natives: ['layerForward', 'layerForwardAsync'] },
  spec,
  build: (s, g) => {
    const config = configOf(s);
    const N = s.experts + s.special[0] + s.special[1] + s.special[2];
    const T = s.tokens;
    const xType = g.rng.int(3) === 0 ? 'f32' : s.dtype;
    const forward: Record<string, unknown> = { x: { data: g.floats(xType, T * s.hidden), shape: [T, s.hidden], dtype: xType } };
    // The forward arguments sit at the top level of the case's args (so mutations name 'x', as errors do).
    if (config.gatingResidual && s.flags[9]) forward.prevLogits = { data: g.floats('f32', T * N), shape: [T, N], dtype: 'f32' };
    if (g.rng.int(4) === 0) forward.residual = { data: g.floats(xType, T * s.hidden), shape: [T, s.hidden], dtype: xType };
    if (g.rng.int(6) === 0) {
      const k = s.topK;
      const ids: number[] = [];
      for (let t = 0; t < T; t++) for (const e of g.distinct(N, k)) ids.push(g.rng.int(5) === 0 ? -1 : e);
      forward.routing = { ids: { data: g.i32(ids), shape: [T, k], dtype: 'i32' }, ...(g.rng.int(2) ? { weights: g.floats('f32', T * k) } : {}) };
    }
    return { config, weights: weightsOf(config, s, g), ...forward };
  },
  mutations: [
    {
      name: 'forward args: not an object',
      apply: (args, _s, g) => {
        args.forwardArgs = g.pick([null, 3, 'x', [1]]);
        return { must: 'TypeError', names: ['args'] };
      },
    },
    wrongKind('config'),
    wrongKind('weights'),
    wrongKind('x'),
    alsoNames(badNumber('config.hidden', () => false, undefined, [-5, 2 ** 40]), ['weights']),
    alsoNames(badNumber('config.experts', () => false, undefined, [2 ** 31]), ['weights']),
    badNumber('config.topK', () => false, undefined, [99]),
    alsoNames(badNumber('config.intermediate', () => false), ['weights']),
    // Scales past 2^16 overflow the native f32 sums where the reference's f64 ones do not (see unpermute).
    badNumber('config.inputScale', (v) => Number.isFinite(v), undefined, [], (v) => Number.isFinite(v) && Math.abs(v) > 65536),
    badEnum('config.activation'),
    badEnum('config.dtype'),
    badEnum('config.gluLayout'),
    badShape('weights.w1'),
    badShape('weights.w2'),
    badShape('x'),
    detached('x'),
    detached('weights.w1'),
    {
      name: 'weights: missing, or given where the config does not use it',
      apply: (args, _s, g) => {
        const w = args.weights as Record<string, unknown>;
        const unused = ['gatingResidual', 'constantWc', 'b2', 'routerBias'].filter((k) => !(k in w));
        if (g.rng.int(2) || !unused.length) delete w[g.pick(['w1', 'w2', 'router' in w ? 'router' : 'router1'])];
        else w[g.pick(unused)] = { data: new Float32Array(4), shape: [4], dtype: 'f32' };
        return { must: 'error', names: ['weights'] };
      },
    },
    {
      name: 'weights: wrong dtype (half router, i32 experts)',
      apply: (args, _s, g) => {
        const w = args.weights as Record<string, { data: ArrayBufferView; shape: number[] }>;
        const key = g.pick(['w1', 'router' in w ? 'router' : 'router1']);
        const d = dataOf(w[key]) as Float32Array | Uint16Array;
        w[key] = { ...w[key]!, data: key === 'w1' ? new Int32Array(d.length) : new Uint16Array(d.length), dtype: key === 'w1' ? 'i32' : 'bf16' } as never;
        return { must: 'TypeError', names: ['weights'] };
      },
    },
    {
      name: 'forward.x: hidden size differs from the config',
      apply: (args, s, g) => {
        args.x = { data: g.floats('f32', s.tokens * (s.hidden + 1)), shape: [s.tokens, s.hidden + 1], dtype: 'f32' };
        return { must: 'RangeError', names: ['x'] };
      },
    },
    {
      name: 'forward.prevLogits without gatingResidual, or of the wrong shape',
      apply: (args, s, g) => {
        const N = s.experts + s.special[0] + s.special[1] + s.special[2];
        const wrong = g.rng.int(2) === 0;
        args.prevLogits = { data: g.floats('f32', s.tokens * (N + (wrong ? 1 : 0))), shape: [s.tokens, N + (wrong ? 1 : 0)], dtype: 'f32' };
        const ok = !wrong && (args.config as MoELayerConfig).gatingResidual;
        return ok ? {} : { must: 'RangeError', names: ['prevLogits'] };
      },
    },
    {
      name: 'forward.routing: ids out of range or repeated',
      when: (s) => s.tokens > 0,
      apply: (args, s, g) => {
        const N = s.experts + s.special[0] + s.special[1] + s.special[2];
        const k = Math.min(2, N);
        const ids = Array.from({ length: s.tokens * k }, (_, i) => i % k);
        ids[g.rng.int(ids.length)] = g.pick([N, -2, 2 ** 31 - 1]);
        if (k > 1 && g.rng.int(2)) ids[0] = ids[1] = 0;
        args.routing = { ids: { data: g.i32(ids), shape: [s.tokens, k], dtype: 'i32' } };
        return { must: 'RangeError', names: ['ids', 'routing'] };
      },
    },
    {
      name: 'config.router: unknown method, an option for another method, one the layer sets, or a per-token mask',
      apply: (args, s, g) => {
        const cfg = args.config as MoELayerConfig;
        cfg.router = g.pick([{ method: 'top3' as never }, { method: 'softmax_topk', threshold: 0.5 }, { method: 'top_p' },
          { method: 'softmax_topk', capacity: { factor: -1 } }, { method: 'external' }, { method: 'softmax_topk', k: 1 } as never,
          { method: 'softmax_topk', prune: { beta: 0.5, protect: new Uint8Array(s.tokens) } }]);
        delete args.routing; // external routing never runs the router config
        // The constructor checks the router config, naming the field ('config.router.<option>').
        return { must: 'error', names: ['config'] };
      },
    },
  ],
  run: (a, o) => new MoELayer(a.config as MoELayerConfig, a.weights as never, o).forward(forwardArgs(a)),
  runAsync: async (a, o) => new MoELayer(a.config as MoELayerConfig, a.weights as never, o).forwardAsync(forwardArgs(a)),
  outputs: (r) => {
    const o: Record<string, Output> = {
      out: { data: r.out.data, dtype: r.out.dtype, shape: r.out.shape, measure: { kind: 'relNorm', tol: r.out.dtype === 'f32' ? 1e-4 : 3e-2 } },
      ids: { data: r.routing.ids.data, dtype: 'i32', shape: r.routing.ids.shape, measure: { kind: 'exact' } },
    };
    if (r.logits) o.logits = { data: r.logits.data, dtype: 'f32', shape: r.logits.shape, measure: { kind: 'relNorm', tol: 1e-5 } };
    if (r.stats) o.counts = { data: r.stats.counts.data, dtype: 'i32', measure: { kind: 'exact' } };
    return o;
  },
  // Router logits from a native GEMM differ from the reference's in the last bits; where that flips a pick
  // (two scores within rounding), the two layers legitimately route differently and are not comparable.
  // With bitwise equal scores, different picks are a real disagreement.
  extra: (got, want) => {
    const a = got.routing.ids.data;
    const b = want.routing.ids.data;
    if (a.length === b.length && a.every((v, i) => v === b[i])) return null;
    const sa = got.routing.scores?.data;
    const sb = want.routing.scores?.data;
    if (!sa || !sb) return 'external routing: ids differ from the reference';
    const same = sa.length === sb.length && sa.every((v, i) => Object.is(v, sb[i]) || (Number.isNaN(v) && Number.isNaN(sb[i]!)));
    return same ? 'ids differ from the reference although the scores are the same' : 'skip';
  },
};
