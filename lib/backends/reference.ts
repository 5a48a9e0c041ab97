// The reference backend: the pure-TypeScript oracle of every op (lib/reference).

import type { Backend } from './backend';
import { convertReference } from '../reference/convert';
import { groupedGemmReference } from '../reference/grouped_gemm';
import { permuteReference } from '../reference/permute';
import { routeReference } from '../reference/route';
import { routerStatsReference } from '../reference/router_stats';
import { unpermuteReference } from '../reference/unpermute';

/** `f` run after a resolved promise: the async twin never runs the op synchronously inside the call, so
 *  callers see the same ordering as with a native backend. */
function later<A, R>(f: (a: A) => R): (a: A) => Promise<R> {
  return async (a: A): Promise<R> => {
    await Promise.resolve();
    return f(a);
  };
}

export const referenceBackend: Backend = {
  name: 'reference',
  implements: () => true,
  route: routeReference,
  permute: permuteReference,
  groupedGemm: groupedGemmReference,
  unpermute: unpermuteReference,
  routerStats: routerStatsReference,
  convert: convertReference,
  routeAsync: later(routeReference),
  permuteAsync: later(permuteReference),
  groupedGemmAsync: later(groupedGemmReference),
  unpermuteAsync: later(unpermuteReference),
  routerStatsAsync: later(routerStatsReference),
  convertAsync: later(convertReference),
};
