// route: router logits [T, E_all] f32 -> ids, weights [T, kmax], counts [T], scores [T, E_all], with the
// layer's routing rule. Memory-bound (reads the logits, writes the scores): GB/s of the tensors it touches.

import { route } from '../lib';
import type { RouteResult } from '../lib';
import type { OpCase } from './context';
import { exactCheck, floatCheck, mismatches, relErr, sameBits, TOL, worst } from './validate';
import { OpInputs, routeArgsFor } from './workload';

export function routeCase(inp: OpInputs, shape: string): OpCase<RouteResult> {
  const { T, d } = inp;
  const n = inp.logits.length;
  const kmax = inp.routings[0]!.ids.shape[1]!;
  const args = (rep: number) => routeArgsFor(inp.cfg, inp.logits[rep % n]!, inp.w);
  return {
    op: 'route', opId: 'route', shape, tokens: T, dtype: 'f32',
    flop: 0,
    bytes: T * d.N * 4 * 2 + T * kmax * 8 + T * 4,
    bytesKind: 'memory',
    flush: false,
    refCost: T * d.N * 8,
    run: (backend, rep) => route(args(rep), { backend }),
    check(out, ref) {
      const want = ref ?? inp.routings[0]!; // the workload's routing is the reference's, on input set 0
      const against = 'reference (full)';
      return worst(
        exactCheck(mismatches(out.ids.data, want.ids.data) + mismatches(out.counts.data, want.counts.data), against),
        floatCheck(relErr(out.weights, want.weights), TOL.f32, against),
        ...(out.scores && want.scores ? [floatCheck(relErr(out.scores, want.scores), TOL.f32, against)] : []),
      );
    },
    same: (a, b) => sameBits(a.ids.data, b.ids.data) && sameBits(a.weights.data, b.weights.data),
  };
}
