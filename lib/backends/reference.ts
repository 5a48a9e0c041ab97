// The reference backend: the pure-TypeScript oracle of every op (lib/reference).

import type { Backend } from './backend';
import { convertReference } from '../reference/convert';
import { groupedGemmReference } from '../reference/grouped_gemm';
import { permuteReference } from '../reference/permute';
import { routeReference } from '../reference/route';
import { routerStatsReference } from '../reference/router_stats';
import { unpermuteReference } from '../reference/unpermute';

export const referenceBackend: Backend = {
  name: 'reference',
  route: routeReference,
  permute: permuteReference,
  groupedGemm: groupedGemmReference,
  unpermute: unpermuteReference,
  routerStats: routerStatsReference,
  convert: convertReference,
};
