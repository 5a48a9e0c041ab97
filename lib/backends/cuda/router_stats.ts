// router_stats on the cuda backend: native/addon/cuda_router_stats.cpp over host arrays. The four scalars
// come back as a Float64Array(4) handed to the binding as a Float32Array(8) over the same bytes.

import type { RouterStats, RouterStatsValidated } from '../../ops/router_stats.types';
import { allocOutput } from '../alloc';
import type { CudaRouterStatsArgs } from './natives';
import type { CudaWiring } from '../cuda';

export function prepare(a: RouterStatsValidated): { args: CudaRouterStatsArgs; result: () => RouterStats } {
  const E = a.experts;
  const counts = allocOutput('i32', E);
  const top1Counts = allocOutput('i32', E);
  const probSum = allocOutput('f32', E);
  const scalars = new Float64Array(4);
  const args: CudaRouterStatsArgs = {
    tokens: a.tokens, kmax: a.kmax, experts: E, normalizeScores: a.normalizeScores, ids: a.ids, scores: a.scores,
    counts, top1Counts, probSum, scalars: new Float32Array(scalars.buffer),
  };
  if (a.logits) args.logits = a.logits;
  if (a.tokenMask) args.tokenMask = a.tokenMask;
  const result = (): RouterStats => {
    const s: RouterStats = {
      counts: { data: counts, shape: [E], dtype: 'i32' },
      top1Counts: { data: top1Counts, shape: [E], dtype: 'i32' },
      probSum: { data: probSum, shape: [E], dtype: 'f32' },
      tokens: scalars[0]!,
      selections: scalars[1]!,
      entropySum: scalars[3]!,
    };
    if (a.logits) s.zSquareSum = scalars[2]!;
    return s;
  };
  return { args, result };
}

export const wiring: CudaWiring<'routerStats'> = {
  native: 'cudaRouterStats',
  supports: () => true,
  prepare,
};
