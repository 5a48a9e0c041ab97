// The Backend interface: one method per op. Backends receive validated arguments (lib/ops/*) and return
// results of the shapes the op layer documents; they never validate user input themselves.

import type { ConvertResult, ConvertValidated } from '../ops/convert.types';
import type { GroupedGemmResult, GroupedGemmValidated } from '../ops/grouped_gemm.types';
import type { PermuteResult, PermuteValidated } from '../ops/permute.types';
import type { RouteResult, RouteValidated } from '../ops/route.types';
import type { RouterStats, RouterStatsValidated } from '../ops/router_stats.types';
import type { UnpermuteResult, UnpermuteValidated } from '../ops/unpermute.types';

export type BackendName = 'reference' | 'cpu' | 'cuda';
export type BackendChoice = BackendName | 'auto';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'reference', 'cpu', 'cuda'];

export interface Backend {
  readonly name: BackendName;
  route(a: RouteValidated): RouteResult;
  permute(a: PermuteValidated): PermuteResult;
  groupedGemm(a: GroupedGemmValidated): GroupedGemmResult;
  unpermute(a: UnpermuteValidated): UnpermuteResult;
  routerStats(a: RouterStatsValidated): RouterStats;
  convert(a: ConvertValidated): ConvertResult;
}

/** Options every public op takes as its second argument. */
export interface OpOptions {
  /** Default 'auto': CUDA, then CPU, then the reference, among those that implement the op. */
  backend?: BackendChoice;
}
