// router_stats on the cpu backend: native/addon/router_stats.cpp. Validation (lib/ops/router_stats.ts) has
// decoded scores and logits to f32 and checked every id; the [experts] outputs come from allocOutput, the
// four totals come back as f64 in a 32-byte array.

import type { RouterStatsNativeArgs } from '../../../bindings';
import type { RouterStats, RouterStatsValidated } from '../../ops/router_stats.types';
import { allocOutput } from '../alloc';
import type { Alloc } from '../alloc';
import type { CpuWiring } from '../cpu';

/** The native outputs of router_stats over `experts` experts (also layer_forward's, lib/layer_native.ts). */
export interface StatsOutputs {
  counts: Int32Array;
  top1Counts: Int32Array;
  probSum: Float32Array;
  totals: Float64Array; // tokens, selections, zSquareSum, entropySum
}

export function statsOutputs(experts: number, alloc: Alloc = allocOutput): StatsOutputs {
  return {
    counts: alloc('i32', experts),
    top1Counts: alloc('i32', experts),
    probSum: alloc('f32', experts),
    // Internal (statsResult reads it), so not from the allocator; off the V8 heap from the start, as the
    // addon would move a 32-byte on-heap array there (see slabAllocator).
    totals: new Float64Array(new ArrayBuffer(32)),
  };
}

/** The RouterStats over filled outputs; zSquareSum only when logits were given. */
export function statsResult(o: StatsOutputs, experts: number, withLogits: boolean): RouterStats {
  const e = [experts];
  const stats: RouterStats = {
    counts: { data: o.counts, shape: e, dtype: 'i32' },
    top1Counts: { data: o.top1Counts, shape: e, dtype: 'i32' },
    probSum: { data: o.probSum, shape: e, dtype: 'f32' },
    tokens: o.totals[0]!,
    selections: o.totals[1]!,
    entropySum: o.totals[3]!,
  };
  if (withLogits) stats.zSquareSum = o.totals[2]!;
  return stats;
}

function nativeArgs(v: RouterStatsValidated, o: StatsOutputs): RouterStatsNativeArgs {
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

export const wiring: CpuWiring<'routerStats'> = {
  natives: ['routerStats', 'routerStatsAsync'],
  sync(addon, v) {
    const o = statsOutputs(v.experts);
    addon.routerStats(nativeArgs(v, o));
    return statsResult(o, v.experts, v.logits !== undefined);
  },
  async async(addon, v) {
    const o = statsOutputs(v.experts);
    await addon.routerStatsAsync(nativeArgs(v, o));
    return statsResult(o, v.experts, v.logits !== undefined);
  },
};
