// The whole MoE layer (MoELayer.forward: router GEMM, route, permute, both expert GEMMs, combine, router
// statistics) on every backend, and onnxruntime's MoE operator as a peer.
//   FLOP  = 2·T·(router multiply-adds per token) + 2·R·(2I·H + H·I) (+ the shared expert), R = FFN-routed slots
//   bytes = the routed experts' weights (each used expert's W1 and W2 once): the floor at decode is
//           bytes / measured bandwidth (issue 3), at prefill FLOP / measured FMA peak.
// Validation (./layer_oracle): the reference layer on the same weights, on every token where it is timed,
// else stage by stage on sampled tokens (router logits, routing, experts + combine).

import { groupedGemm, MoELayer, route } from '../lib';
import type { BackendChoice, FloatDType, ForwardResult, MoELayerConfig, MoELayerWeights, Tensor } from '../lib';
import type { BenchContext } from './context';
import { LayerOracle } from './layer_oracle';
import { interleaveW1, loadOrt, OrtMoE } from './peers/onnxruntime';
import type { BackendId, BenchResult, Validation } from './results';
import { Dims, dimsOf, expertBytes, makeInputs, ShapeDef } from './shapes';
import { Samples, summarise, timeAsync, timeOnce, timeSync } from './timing';
import { reader, relErrRange, sameBits } from './validate';
import { routeArgsFor } from './workload';

export interface LayerEnv {
  shape: ShapeDef;
  cfg: MoELayerConfig;
  d: Dims;
  dtype: FloatDType;
  w: MoELayerWeights;
  /** Bytes below which the routed weights could stay cached between samples: flush before each one. */
  flushBelow: number;
}

const LAYER_OPS = ['route', 'permute', 'grouped_gemm', 'unpermute', 'router_stats'] as const;

/** Router multiply-adds per token. */
function routerMacs(cfg: MoELayerConfig, d: Dims): number {
  return (cfg.routerLayers ?? 1) === 2 ? d.H * d.routerHidden + d.routerHidden * d.N : d.H * d.N;
}

/** The routing a set of tokens gets (router GEMM + route on the fastest backend): for the FLOP and bytes. */
function routingOf(env: LayerEnv, x: Tensor): { rows: number; used: number } {
  const { cfg, w, d } = env;
  let logits: Tensor;
  if ((cfg.routerLayers ?? 1) === 2) {
    const h = groupedGemm({ a: x, w: lead(w.router1 as Tensor), activation: 'tanh', outDtype: 'f32' }).y;
    logits = groupedGemm({ a: h, w: lead(w.router2 as Tensor), outDtype: 'f32' }).y;
  } else {
    logits = groupedGemm({ a: x, w: lead(w.router as Tensor), outDtype: 'f32' }).y;
  }
  const ids = route(routeArgsFor(cfg, logits, w)).ids.data;
  const seen = new Set<number>();
  let rows = 0;
  for (const id of ids) if (id >= 0 && id < d.E) { rows++; seen.add(id); }
  return { rows, used: seen.size };
}

const lead = (t: Tensor): Tensor => ({ data: t.data, shape: [1, ...t.shape], dtype: t.dtype } as Tensor);

export async function benchLayer(ctx: BenchContext, env: LayerEnv, T: number): Promise<void> {
  const { shape, cfg, d, dtype, w } = env;
  const sets = T <= 32 ? 4 : 2;
  const xs = makeInputs(T, d.H, dtype, sets);
  const work = xs.map((x) => routingOf(env, x));
  const R = work.reduce((a, b) => a + b.rows, 0) / sets;
  const used = work.reduce((a, b) => a + b.used, 0) / sets;
  const sharedMacs = d.sharedI ? (d.glu ? 3 : 2) * d.sharedI * d.H : 0;
  const expertMacs = d.n1 * d.H + d.H * d.I;
  const flop = 2 * (T * routerMacs(cfg, d) + R * expertMacs + T * sharedMacs);
  const bytes = used * expertBytes(d, dtype);
  const perTokenCost = routerMacs(cfg, d) + d.k * expertMacs + sharedMacs;
  // The reference decodes every half-precision weight on each call (about 6 multiply-adds' worth each).
  const refCost = T * perTokenCost + (dtype === 'f32' ? 0 : 6 * (d.E * expertMacs + sharedMacs));
  const base = { op: 'layer', shape: shape.key, tokens: T, dtype, flop, bytes, bytesKind: 'weights' as const, note: `${R.toFixed(0)} FFN rows, ${used.toFixed(1)} experts used` };
  const flushFor = (threads: number) => (bytes < env.flushBelow ? () => ctx.flush(threads) : undefined);
  const oracle = new LayerOracle(env, xs[0]!);
  const add = (backend: BackendId, threads: number | null, samples: Samples, v: Validation, note?: string): void =>
    ctx.add({ ...base, backend, threads, ...summarise(samples, backend === 'reference' ? 1 : threads), validation: v, ...(note ? { note: `${base.note}; ${note}` } : {}) } as BenchResult);

  const forced = ctx.opts.forceReference.some((f) => f.shape === shape.key && f.tokens === T);
  if (ctx.has('reference') && (refCost <= ctx.opts.refBudget || forced)) {
    const layer = new MoELayer(cfg, w, { backend: 'reference' });
    const once = timeOnce(() => layer.forward({ x: xs[0]! }));
    oracle.full = once.result;
    const slow = once.samples.ms[0]! >= 1000;
    const samples = slow ? once.samples : timeSync((rep) => layer.forward({ x: xs[rep % sets]! }), ctx.plan, flushFor(2));
    add('reference', null, samples, { ok: true, err: 0, tol: 0, against: 'itself (the oracle)' }, slow ? 'measured once' : undefined);
  } else if (ctx.has('reference')) {
    ctx.skip(`reference layer not timed at ${shape.key} T=${T} ${dtype} (about ${(refCost / 1e9).toFixed(1)} G multiply-adds, over the budget): validated on sampled tokens instead`);
  }

  let cpuOut0: ForwardResult | null = null;
  for (const backend of ['cpu', 'cuda'] as const) {
    if (!ctx.has(backend)) continue;
    const missing = LAYER_OPS.filter((op) => ctx.whyNot(backend, op) !== null);
    let choice: BackendChoice = backend;
    let note: string | undefined;
    if (missing.length && backend === 'cpu') {
      if (ctx.has('cuda')) {
        ctx.skip(`cpu layer: ${missing.join(', ')} not native on the cpu backend`);
        continue;
      }
      choice = 'auto';
      note = `${missing.join(', ')} on the reference (not native yet)`;
      ctx.skip(`cpu layer ran with ${note}`);
    }
    const layer = new MoELayer(cfg, w, { backend: choice });
    const fusedWhy = layer.fusedUnavailable;
    const how = backend === 'cpu' ? (fusedWhy === null ? 'forward in one native call' : `forward op by op (${fusedWhy})`) : undefined;
    note = [note, how].filter((s) => s).join('; ') || undefined;
    let first: ForwardResult | null = null;
    for (const t of backend === 'cpu' ? ctx.opts.threads : [null]) {
      if (t !== null) ctx.setThreads(t);
      const out = layer.forward({ x: xs[0]! });
      const v = oracle.check(out);
      if (first === null) first = out;
      else if (!sameBits(first.out.data, out.out.data)) {
        v.ok = false;
        v.note = `${v.note ? `${v.note}; ` : ''}output differs bitwise between thread counts`;
      }
      const samples = timeSync((rep) => layer.forward({ x: xs[rep % sets]! }), ctx.plan, flushFor(t ?? 2));
      add(backend, t, samples, v, note);
    }
    if (backend === 'cpu') cpuOut0 = first;
  }

  if (ctx.has('onnxruntime') && shape.ortPeer && dtype === 'f32') await benchOrt(ctx, env, xs, oracle, cpuOut0, add, flushFor);
}

async function benchOrt(ctx: BenchContext, env: LayerEnv, xs: Tensor[], oracle: LayerOracle, ours: ForwardResult | null,
  add: (b: BackendId, t: number | null, s: Samples, v: Validation, note?: string) => void, flushFor: (t: number) => (() => void) | undefined): Promise<void> {
  const { ort, why } = loadOrt();
  if (!ort) {
    ctx.skip(`onnxruntime: ${why}`);
    return;
  }
  const { d, w, cfg } = env;
  const w1i = interleaveW1((w.w1 as Tensor).data as Float32Array, d.E, d.I, d.H);
  const normalize = cfg.router?.renormalize ?? false;
  for (const t of ctx.opts.threads) {
    const m = await OrtMoE.create(ort, { H: d.H, I: d.I, E: d.E, k: d.k, normalize, threads: t },
      { router: (w.router as Tensor).data as Float32Array, w1Interleaved: w1i, w2: (w.w2 as Tensor).data as Float32Array });
    try {
      const y = await m.run(xs[0]!.data as Float32Array);
      let v = oracle.checkPeer({ data: y, shape: xs[0]!.shape, dtype: 'f32' });
      if (ours) {
        const e = relErrRange((i) => y[i]!, 0, reader(ours.out), 0, y.length);
        v = { ...v, note: `${v.note ? `${v.note}; ` : ''}vs our cpu layer (every token): ${e.toExponential(1)}` };
        if (!(e <= 1e-5)) v.ok = false;
      }
      const samples = await timeAsync((rep) => m.run(xs[rep % xs.length]!.data as Float32Array), ctx.plan, flushFor(t));
      add('onnxruntime', t, samples, v, 'com.microsoft MoE (CPU EP) + Gemm router');
    } finally {
      await m.release();
    }
  }
}
