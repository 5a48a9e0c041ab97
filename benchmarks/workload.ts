// The inputs of the per-op benchmarks for one shape, dtype and token count, built the way MoELayer builds
// them (lib/layer.ts), so each op sees what it sees inside the layer: router logits, the routing (from the
// reference: the oracle), the permuted rows and maps, expert activations and outputs. Several input sets
// (`sets`) let repeated samples route to different experts.

import { permute, route } from '../lib';
import type { FloatDType, MoELayerConfig, MoELayerWeights, PermuteResult, RouteArgs, RouteResult, Tensor } from '../lib';
import { Rng } from '../lib/random';
import { convert } from '../lib';
import { Dims, dimsOf, makeInputs } from './shapes';

export interface Special {
  constant: number[];
  copy: number[];
  zero: number[];
}

/** Expert ids of the zero-computation experts: FFN experts first, then constant, copy, zero (lib/layer.ts). */
export function specialExperts(cfg: MoELayerConfig): Special {
  const E = cfg.experts, nc = cfg.constantExperts ?? 0, ncp = cfg.copyExperts ?? 0, nz = cfg.zeroExperts ?? 0;
  const range = (start: number, n: number): number[] => Array.from({ length: n }, (_, i) => start + i);
  return { constant: range(E, nc), copy: range(E + nc, ncp), zero: range(E + nc + ncp, nz) };
}

/** The arguments MoELayer.forward passes to route. */
export function routeArgsFor(cfg: MoELayerConfig, logits: Tensor, w: MoELayerWeights): RouteArgs {
  const router = cfg.router ?? { method: 'softmax_topk', renormalize: true };
  const m = router.method ?? 'softmax_topk';
  const threshold = m === 'xmoe_threshold' || m === 'top_p';
  const zero = specialExperts(cfg).zero;
  const zeroGate = (cfg.zeroGateRenormalize ?? zero.length > 0) && zero.length > 0;
  return {
    ...router,
    logits,
    ...(threshold ? { kmax: router.kmax ?? cfg.topK } : { k: cfg.topK }),
    ...(w.selectionBias ? { bias: w.selectionBias } : {}),
    ...(zeroGate ? { zeroGateExperts: zero, renormalize: true } : {}),
  };
}

export interface OpInputs {
  cfg: MoELayerConfig;
  d: Dims;
  dtype: FloatDType;
  T: number;
  w: MoELayerWeights;
  special: Special;
  xs: Tensor[];
  logits: Tensor<'f32'>[];
  routings: RouteResult[];
  perms: PermuteResult[];
  /** Expert activations [R, I] (W2's input) and expert outputs [R, H] (unpermute's input), in dtype. */
  acts: Tensor[];
  ys: Tensor[];
  /** A shared-expert output [T, H] where the layer has one. */
  shared: (Tensor | undefined)[];
}

function randomTensor(n: number, shape: number[], dtype: FloatDType, seed: number, scale = 1): Tensor {
  const t: Tensor<'f32'> = { data: new Rng(seed).f32(n, -scale, scale), shape, dtype: 'f32' };
  return dtype === 'f32' ? t : convert({ x: t, to: dtype }).y;
}

/** Input sets for the per-op benchmarks (computed with the reference). */
export function opInputs(cfg: MoELayerConfig, w: MoELayerWeights, dtype: FloatDType, T: number, sets: number): OpInputs {
  const d = dimsOf(cfg);
  const special = specialExperts(cfg);
  const xs = makeInputs(T, d.H, dtype, sets);
  const logits: Tensor<'f32'>[] = [];
  const routings: RouteResult[] = [];
  const perms: PermuteResult[] = [];
  const acts: Tensor[] = [];
  const ys: Tensor[] = [];
  const shared: (Tensor | undefined)[] = [];
  for (let s = 0; s < sets; s++) {
    // Logits with the spread of a trained router's (a few units), so top-k picks vary by token.
    const rng = new Rng(1000 + 17 * s + T);
    const z = new Float32Array(T * d.N);
    for (let i = 0; i < z.length; i++) z[i] = 2 * rng.normal();
    const lg: Tensor<'f32'> = { data: z, shape: [T, d.N], dtype: 'f32' };
    logits.push(lg);
    const r = route(routeArgsFor(cfg, lg, w), { backend: 'reference' });
    routings.push(r);
    const p = permute({ x: xs[s]!, ids: r.ids, experts: d.E, totalExperts: d.N, scale: cfg.inputScale ?? 1 }, { backend: 'reference' });
    perms.push(p);
    const R = p.rows.shape[0]!;
    acts.push(randomTensor(R * d.I, [R, d.I], dtype, 2000 + s));
    ys.push(randomTensor(R * d.H, [R, d.H], dtype, 3000 + s));
    shared.push(d.sharedI > 0 ? randomTensor(T * d.H, [T, d.H], dtype, 4000 + s) : undefined);
  }
  return { cfg, d, dtype, T, w, special, xs, logits, routings, perms, acts, ys, shared };
}

/** Distinct FFN experts that received at least one row. */
export function expertsUsed(offsets: Int32Array): number {
  let n = 0;
  for (let e = 0; e + 1 < offsets.length; e++) if (offsets[e + 1]! > offsets[e]!) n++;
  return n;
}
