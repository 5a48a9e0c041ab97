// The native arguments of route, shared by the cpu (native/addon/route.cpp) and cuda
// (native/addon/cuda_route.cpp) backends: validation (lib/ops/route.ts) has resolved every tensor, size and
// default; outputs come from allocOutput (poisoned by the conformance suite) and the addon writes every
// element of them.

import type { RouteNativeArgs } from '../../bindings';
import type { RouteResult, RouteValidated } from '../ops/route.types';
import { allocOutput } from './alloc';
import type { Alloc } from './alloc';

/** RouteNativeArgs with the defaults resolved. */
export type RouteArgsOut = RouteNativeArgs & { renormalize: boolean; scale: number };

/** The native args of a validated route call and its result over them, for every native backend; `alloc`
 *  gives the outputs (allocOutput, or one call's slabAllocator). */
export function prepareRoute(v: RouteValidated, alloc: Alloc = allocOutput): { args: RouteArgsOut; result: () => RouteResult } {
  const T = v.tokens, E = v.experts, K = v.kmax;
  const ids = alloc('i32', T * K);
  const weights = alloc('f32', T * K);
  const counts = alloc('i32', T);
  const external = v.method === 'external';
  const scores = external ? undefined : alloc('f32', T * E);
  const args: RouteArgsOut = {
    method: v.method, tokens: T, experts: E, k: v.k, kmax: K, renormalize: v.renormalize, scale: v.scale, ids, weights, counts,
  };
  if (v.method === 'xmoe_threshold' || v.method === 'top_p') args.threshold = v.threshold;
  if (v.groups > 1) Object.assign(args, { groups: v.groups, topkGroups: v.topkGroups, groupTopN: v.groupTopN });
  if (external) {
    args.extIds = v.ids!.data;
    if (v.weights) args.extWeights = v.weights;
  } else {
    Object.assign(args, { logits: v.logits!.data, scores });
    if (v.bias) args.bias = v.bias;
    if (v.zeroGate) args.zeroGate = v.zeroGate;
    if (v.prune) {
      args.pruneBeta = v.prune.beta;
      if (v.prune.protect) args.pruneProtect = v.prune.protect;
      if (v.prune.dropAll) args.pruneDropAll = v.prune.dropAll;
    }
  }
  let capacity: RouteResult['capacity'];
  if (v.capacity) {
    const c = { selectedIds: alloc('i32', T * K), keep: alloc('i32', T * K), load: alloc('i32', E), demand: alloc('i32', E) };
    Object.assign(args, { cap: v.capacity.cap, policy: v.capacity.policy, renormalizeSurvivors: v.capacity.renormalizeSurvivors, ...c });
    const i32 = (data: Int32Array, shape: number[]) => ({ data, shape, dtype: 'i32' as const });
    capacity = { cap: v.capacity.cap, selectedIds: i32(c.selectedIds, [T, K]), keep: i32(c.keep, [T, K]), load: i32(c.load, [E]), demand: i32(c.demand, [E]) };
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
