// The Backend interface: one method per op, plus its async twin. Backends receive validated arguments
// (lib/ops/*) and return results of the shapes the op layer documents; they never validate user input.

import type { ConvertResult, ConvertValidated } from '../ops/convert.types';
import type { GroupedGemmResult, GroupedGemmValidated } from '../ops/grouped_gemm.types';
import type { PermuteResult, PermuteValidated } from '../ops/permute.types';
import type { RouteResult, RouteValidated } from '../ops/route.types';
import type { RouterStats, RouterStatsValidated } from '../ops/router_stats.types';
import type { UnpermuteResult, UnpermuteValidated } from '../ops/unpermute.types';

export type BackendName = 'reference' | 'cpu' | 'cuda';
export type BackendChoice = BackendName | 'auto';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'reference', 'cpu', 'cuda'];

/** Op id (file names, error messages, selectBackend) -> Backend method name. */
export const OP_METHODS = {
  route: 'route',
  permute: 'permute',
  grouped_gemm: 'groupedGemm',
  unpermute: 'unpermute',
  router_stats: 'routerStats',
  convert: 'convert',
} as const;
export type OpId = keyof typeof OP_METHODS;
export type OpMethod = (typeof OP_METHODS)[OpId];
export const OP_IDS = Object.keys(OP_METHODS) as OpId[];

export interface Backend {
  readonly name: BackendName;
  /** Whether this backend runs `op` itself (a native backend may implement some ops only). */
  implements(op: OpId): boolean;
  route(a: RouteValidated): RouteResult;
  permute(a: PermuteValidated): PermuteResult;
  groupedGemm(a: GroupedGemmValidated): GroupedGemmResult;
  unpermute(a: UnpermuteValidated): UnpermuteResult;
  routerStats(a: RouterStatsValidated): RouterStats;
  convert(a: ConvertValidated): ConvertResult;
  // The async twins never run the op synchronously inside the call: native backends run it off the JS
  // thread; the reference runs it after a resolved promise.
  routeAsync(a: RouteValidated): Promise<RouteResult>;
  permuteAsync(a: PermuteValidated): Promise<PermuteResult>;
  groupedGemmAsync(a: GroupedGemmValidated): Promise<GroupedGemmResult>;
  unpermuteAsync(a: UnpermuteValidated): Promise<UnpermuteResult>;
  routerStatsAsync(a: RouterStatsValidated): Promise<RouterStats>;
  convertAsync(a: ConvertValidated): Promise<ConvertResult>;
}

/** The validated argument and the result of op method M. */
export type OpArgs<M extends OpMethod> = Parameters<Backend[M]>[0];
export type OpResult<M extends OpMethod> = ReturnType<Backend[M]>;

/** Options every public op takes as its second argument. */
export interface OpOptions {
  /** Default 'auto': CUDA, then CPU, then the reference, among those that implement the op. */
  backend?: BackendChoice;
}
