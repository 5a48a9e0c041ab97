// router_stats on the cpu backend: native/addon/router_stats.cpp. Validation (lib/ops/router_stats.ts) has
// decoded scores and logits to f32 and checked every id; the [experts] outputs come from allocOutput, the
// four totals come back as f64 in a 32-byte array.

import type { RouterStatsNativeArgs } from '../../../bindings';
import type { RouterStats, RouterStatsValidated } from '../../ops/router_stats.types';
import { allocOutput } from '../alloc';
import type { CpuWiring } from '../cpu';

interface Outputs {
  counts: Int32Array;
  top1Counts: Int32Array;
  probSum: Float32Array;
  totals: Float64Array; // tokens, selections, zSquareSum, entropySum
}

function outputs(v: RouterStatsValidated): Outputs {
  return {
    counts: allocOutput('i32', v.experts),
    top1Counts: allocOutput('i32', v.experts),
    probSum: allocOutput('f32', v.experts),
    totals: new Float64Array(4),
  };
}

function nativeArgs(v: RouterStatsValidated, o: Outputs): RouterStatsNativeArgs {
  return {
    ids: v.ids,
    scores: v.scores,
    ...(v.logits ? { logits: v.logits } : {}),
    ...(v.tokenMask ? { tokenMask: v.tokenMask } : {}),
    tokens: v.tokens,
    kmax: v.kmax,
    experts: v.experts,
    normalizeScores: v.normalizeScores,
    counts: o.counts,
    top1Counts: o.top1Counts,
    probSum: o.probSum,
    totals: new Uint8Array(o.totals.buffer),
  };
}

function result(v: RouterStatsValidated, o: Outputs): RouterStats {
  const e = [v.experts];
  const stats: RouterStats = {
    counts: { data: o.counts, shape: e, dtype: 'i32' },
    top1Counts: { data: o.top1Counts, shape: e, dtype: 'i32' },
    probSum: { data: o.probSum, shape: e, dtype: 'f32' },
    tokens: o.totals[0]!,
    selections: o.totals[1]!,
    entropySum: o.totals[3]!,
  };
  if (v.logits) stats.zSquareSum = o.totals[2]!;
  return stats;
}

export const wiring: CpuWiring<'routerStats'> = {
  natives: ['routerStats', 'routerStatsAsync'],
  sync(addon, v) {
    const o = outputs(v);
    addon.routerStats(nativeArgs(v, o));
    return result(v, o);
  },
  async async(addon, v) {
    const o = outputs(v);
    await addon.routerStatsAsync(nativeArgs(v, o));
    return result(v, o);
  },
};
