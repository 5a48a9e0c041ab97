// The reference a layer benchmark is checked against. Where the full reference layer ran (it was timed),
// the whole output is compared. Elsewhere the check runs on sampled tokens, stage by stage, so it stays
// cheap at every shape and dtype (the reference decodes every bf16 weight it is given, 5.6 GB for Mixtral):
//   1. router: the native logits of the sampled tokens against the reference router GEMM(s);
//   2. route: the reference route on the native logits against the native ids (exactly; skipped with
//      capacity, which couples tokens: the route benchmark checks it on the full batch);
//   3. experts and combine: a reference layer holding only the experts those tokens use, given the native
//      routing (ids remapped), against the native output rows.

import { groupedGemm, MoELayer, route } from '../lib';
import type { ForwardResult, MoELayerConfig, MoELayerWeights, Tensor } from '../lib';
import type { LayerEnv } from './layer.bench';
import { sampleRows } from './grouped_gemm.bench';
import type { Validation } from './results';
import { floatCheck, reader, relErrRange, tolFor, TOL, worst, exactCheck } from './validate';
import { routeArgsFor } from './workload';

/** Rows `rows` of a [rows, width] array, gathered into a new array of the same type. */
export function rowsOf<A extends Float32Array | Uint16Array | Int32Array>(data: A, width: number, rows: number[]): A {
  const out = new (data.constructor as new (n: number) => A)(rows.length * width);
  rows.forEach((r, i) => out.set(data.subarray(r * width, (r + 1) * width), i * width));
  return out;
}

const lead = (t: Tensor): Tensor => ({ data: t.data, shape: [1, ...t.shape], dtype: t.dtype } as Tensor);
const zerosF32 = (shape: number[]): Tensor<'f32'> => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, dtype: 'f32' });

/** Router logits of `x` by the reference (one or two layers; no gating residual: benchmarks pass none). */
export function referenceLogits(cfg: MoELayerConfig, w: MoELayerWeights, x: Tensor): Tensor {
  const o = { backend: 'reference' as const };
  if ((cfg.routerLayers ?? 1) === 2) {
    const h = groupedGemm({ a: x, w: lead(w.router1 as Tensor), activation: 'tanh', outDtype: 'f32' }, o).y;
    return groupedGemm({ a: h, w: lead(w.router2 as Tensor), outDtype: 'f32' }, o).y;
  }
  const bias = w.routerBias ? { bias: lead(w.routerBias as Tensor) } : {};
  return groupedGemm({ a: x, w: lead(w.router as Tensor), outDtype: 'f32', ...bias }, o).y;
}

export class LayerOracle {
  full: ForwardResult | null = null;
  private sample: { tokens: number[]; checks: Validation[]; out: Tensor } | null = null;

  constructor(private readonly env: LayerEnv, private readonly x: Tensor) {}

  /** Checks one of our layers' outputs (its logits and routing too, on the sample). */
  check(out: ForwardResult): Validation {
    return this.compare(out.out, out);
  }

  /** Checks a peer's output, which has no logits or routing: only the output rows. */
  checkPeer(out: Tensor): Validation {
    return this.compare(out, null);
  }

  private compare(y: Tensor, native: ForwardResult | null): Validation {
    const tol = tolFor(this.env.dtype);
    if (this.full) return floatCheck(relErrRange(reader(y), 0, reader(this.full.out), 0, y.data.length), tol, 'reference (every token)');
    if (!this.sample) this.sample = this.compute(native);
    const { tokens } = this.sample;
    const checks = native ? this.sample.checks : [];
    const H = this.env.d.H;
    let err = 0;
    const got = reader(y), want = reader(this.sample.out);
    tokens.forEach((t, i) => {
      const e = relErrRange(got, t * H, want, i * H, H);
      err = Number.isNaN(e) || Number.isNaN(err) ? NaN : Math.max(err, e);
    });
    return worst(...checks, floatCheck(err, tol, `reference on ${tokens.length} sampled tokens (router, route, experts + combine)`));
  }

  /** Uses the first output's routing and logits (every later output must match it anyway); without one
   *  (a peer came first), the reference's own routing of the sampled tokens. */
  private compute(native: ForwardResult | null): { tokens: number[]; checks: Validation[]; out: Tensor } {
    const { cfg, w, d, dtype } = this.env;
    const T = this.x.shape[0]!;
    const expertMacs = d.n1 * d.H + d.H * d.I;
    // The reference decodes half-precision weights element by element: count that as about 6 multiply-adds.
    const count = Math.max(1, Math.min(8, Math.floor(8e8 / (d.k * expertMacs * (dtype === 'f32' ? 1 : 6)))));
    const tokens = sampleRows(T, count);
    const S = tokens.length;
    const xs = { data: rowsOf(this.x.data as Float32Array | Uint16Array, d.H, tokens), shape: [S, d.H], dtype: this.x.dtype } as Tensor;
    const checks: Validation[] = [];
    const routing = native?.routing ?? route(routeArgsFor(cfg, referenceLogits(cfg, w, xs), w), { backend: 'reference' });
    const k = routing.ids.shape[1]!;
    const ids = native ? rowsOf(routing.ids.data, k, tokens) : routing.ids.data;
    const weights = native ? rowsOf(routing.weights.data, k, tokens) : routing.weights.data;

    if (native?.logits) {
      const nl: Tensor<'f32'> = { data: rowsOf(native.logits.data, d.N, tokens), shape: [S, d.N], dtype: 'f32' };
      const rl = referenceLogits(cfg, w, xs);
      checks.push(floatCheck(relErrRange(reader(nl), 0, reader(rl), 0, nl.data.length), tolFor(dtype, 'f32'), `reference router on ${S} sampled tokens`));
      if (!cfg.router?.capacity) {
        const rr = route(routeArgsFor(cfg, nl, w), { backend: 'reference' });
        let bad = 0;
        for (let i = 0; i < ids.length; i++) if (rr.ids.data[i] !== ids[i]) bad++;
        checks.push(exactCheck(bad, `reference route on the native logits of ${S} sampled tokens`));
        checks.push(floatCheck(relErrRange((i) => rr.weights.data[i]!, 0, (i) => weights[i]!, 0, weights.length), TOL.f32, 'reference route weights'));
      }
    }

    // A reference layer with only the experts these tokens use; ids remapped, zero-computation experts after.
    const used = [...new Set(Array.from(ids).filter((id) => id >= 0 && id < d.E))].sort((a, b) => a - b);
    const U = used.length;
    const remap = (id: number): number => (id < 0 ? -1 : id < d.E ? used.indexOf(id) : U + (id - d.E));
    const pick = (t: Tensor, per: number): Tensor => {
      const src = t.data as Float32Array | Uint16Array;
      const data = new (src.constructor as new (n: number) => Float32Array | Uint16Array)(U * per);
      used.forEach((e, i) => data.set(src.subarray(e * per, (e + 1) * per), i * per));
      return { data, shape: [U, ...t.shape.slice(1)], dtype: t.dtype } as Tensor;
    };
    const N = U + (d.N - d.E);
    // The routing is given (external), so the router options do not matter; plain top-k keeps them valid for U
    // experts (group-limited routing with fewer experts than groups × topkGroups would not be).
    const ccfg: MoELayerConfig = { ...cfg, experts: U, routerHidden: d.routerHidden, router: { method: 'softmax_topk', renormalize: true } };
    const cw: MoELayerWeights = {
      ...w,
      w1: pick(w.w1 as Tensor, d.n1 * d.H),
      w2: pick(w.w2 as Tensor, d.H * d.I),
      ...(w.b1 ? { b1: pick(w.b1 as Tensor, d.n1) } : {}),
      ...(w.b2 ? { b2: pick(w.b2 as Tensor, d.H) } : {}),
      ...(w.router ? { router: zerosF32([N, d.H]) } : {}),
      ...(w.router2 ? { router2: zerosF32([N, d.routerHidden]) } : {}),
      ...(w.routerBias ? { routerBias: zerosF32([N]) } : {}),
      ...(w.selectionBias ? { selectionBias: zerosF32([N]) } : {}),
      ...(w.gatingResidual ? { gatingResidual: zerosF32([N, N]) } : {}),
    };
    const layer = new MoELayer(ccfg, cw, { backend: 'reference' });
    const out = layer.forward({
      x: xs,
      routing: { ids: { data: Int32Array.from(ids, remap), shape: [S, k], dtype: 'i32' }, weights: { data: weights, shape: [S, k], dtype: 'f32' } },
    }).out;
    return { tokens, checks, out };
  }
}
