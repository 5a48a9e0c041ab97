// route on the cuda backend: native/addon/cuda_route.cpp over host arrays (copied in and out). Outputs come
// from allocOutput (poisoned by the conformance suite). Configurations the fused kernel does not cover
// (more than 1024 experts) report `supports() = false` and run on the fallback backend.

import type { RouteResult, RouteValidated } from '../../ops/route.types';
import { allocOutput } from '../alloc';
import type { CudaRouteArgs } from './natives';
import type { CudaWiring } from '../cuda';

/** The kernel keeps a row of scores in one warp's registers (native/cuda/route.cuh kRouteMaxExperts). */
export const CUDA_ROUTE_MAX_EXPERTS = 1024;

export function prepare(a: RouteValidated): { args: CudaRouteArgs; result: () => RouteResult } {
  const T = a.tokens, E = a.experts, K = a.kmax;
  const ids = allocOutput('i32', T * K);
  const weights = allocOutput('f32', T * K);
  const counts = allocOutput('i32', T);
  const external = a.method === 'external';
  const scores = external ? undefined : allocOutput('f32', T * E);
  const args: CudaRouteArgs = {
    method: a.method, tokens: T, experts: E, k: a.k, kmax: K, renormalize: a.renormalize, scale: a.scale, ids, weights, counts,
  };
  if (a.method === 'xmoe_threshold' || a.method === 'top_p') args.threshold = a.threshold;
  if (a.groups > 1) Object.assign(args, { groups: a.groups, topkGroups: a.topkGroups, groupTopN: a.groupTopN });
  if (external) {
    args.extIds = a.ids!.data;
    if (a.weights) args.extWeights = a.weights;
  } else {
    Object.assign(args, { logits: a.logits!.data, logitsDtype: 'f32', scores });
    if (a.bias) args.bias = a.bias;
    if (a.zeroGate) args.zeroGate = a.zeroGate;
    if (a.prune) {
      args.pruneBeta = a.prune.beta;
      if (a.prune.protect) args.pruneProtect = a.prune.protect;
      if (a.prune.dropAll) args.pruneDropAll = a.prune.dropAll;
    }
  }
  let capacity: RouteResult['capacity'];
  if (a.capacity) {
    const c = { selectedIds: allocOutput('i32', T * K), keep: allocOutput('i32', T * K), load: allocOutput('i32', E), demand: allocOutput('i32', E) };
    Object.assign(args, { cap: a.capacity.cap, policy: a.capacity.policy, renormalizeSurvivors: a.capacity.renormalizeSurvivors, ...c });
    const i32 = (data: Int32Array, shape: number[]) => ({ data, shape, dtype: 'i32' as const });
    capacity = { cap: a.capacity.cap, selectedIds: i32(c.selectedIds, [T, K]), keep: i32(c.keep, [T, K]), load: i32(c.load, [E]), demand: i32(c.demand, [E]) };
  }
  const result = (): RouteResult => {
    const r: RouteResult = {
      ids: { data: ids, shape: [T, K], dtype: 'i32' },
      weights: { data: weights, shape: [T, K], dtype: 'f32' },
      counts: { data: counts, shape: [T], dtype: 'i32' },
    };
    if (scores) r.scores = { data: scores, shape: [T, E], dtype: 'f32' };
    if (capacity) r.capacity = capacity;
    return r;
  };
  return { args, result };
}

export const wiring: CudaWiring<'route'> = {
  native: 'cudaRoute',
  supports: (a) => a.method === 'external' || a.experts <= CUDA_ROUTE_MAX_EXPERTS,
  prepare,
};
