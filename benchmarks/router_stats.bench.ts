// router_stats: per-expert counts, top-1 counts, Σ scores, Σ logsumexp² and Σ entropy over the batch
// (the inputs of aux_loss). Reads scores and logits [T, E_all]: GB/s of those.

import { routerStats } from '../lib';
import type { RouterStats, RouterStatsArgs } from '../lib';
import type { OpCase } from './context';
import { exactCheck, floatCheck, mismatches, relErrRange, sameBits, TOL, worst } from './validate';
import type { OpInputs } from './workload';

const rel = (a: number, b: number): number => (a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(b), 1e-30));

export function routerStatsCase(inp: OpInputs, shape: string): OpCase<RouterStats> {
  const { T, d } = inp;
  const n = inp.routings.length;
  const kmax = inp.routings[0]!.ids.shape[1]!;
  const sigmoid = inp.cfg.router?.method === 'sigmoid_topk';
  const args = (s: number): RouterStatsArgs => {
    const r = inp.routings[s]!;
    return { ids: r.capacity?.selectedIds ?? r.ids, scores: r.scores!, logits: inp.logits[s]!, normalizeScores: sigmoid };
  };
  let oracle: RouterStats | null = null;
  return {
    op: 'router_stats', opId: 'router_stats', shape, tokens: T, dtype: 'f32',
    flop: 0,
    bytes: 2 * T * d.N * 4 + T * kmax * 4,
    bytesKind: 'memory',
    flush: false,
    refCost: T * d.N * 4,
    run: (backend, rep) => routerStats(args(rep % n), { backend }),
    check(out, ref) {
      oracle ??= ref ?? routerStats(args(0), { backend: 'reference' });
      const against = 'reference (full)';
      const sums = Math.max(rel(out.zSquareSum ?? 0, oracle.zSquareSum ?? 0), rel(out.entropySum, oracle.entropySum));
      return worst(
        exactCheck(mismatches(out.counts.data, oracle.counts.data) + mismatches(out.top1Counts.data, oracle.top1Counts.data) +
          (out.tokens === oracle.tokens && out.selections === oracle.selections ? 0 : 1), against),
        floatCheck(relErrRange((i) => out.probSum.data[i]!, 0, (i) => oracle!.probSum.data[i]!, 0, d.N), TOL.f32, against),
        floatCheck(sums, TOL.f32, `${against}: zSquareSum, entropySum`),
      );
    },
    same: (a, b) => sameBits(a.probSum.data, b.probSum.data) && sameBits(a.counts.data, b.counts.data),
  };
}
