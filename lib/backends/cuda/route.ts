// route on the cuda backend: native/addon/cuda_route.cpp over host arrays (copied in and out), with the
// arguments of lib/backends/route_native.ts. Configurations the fused kernel does not cover
// (more than 1024 experts) report `supports() = false` and run on the fallback backend.

import type { RouteResult, RouteValidated } from '../../ops/route.types';
import { prepareRoute } from '../route_native';
import type { CudaRouteArgs } from './natives';
import type { CudaWiring } from '../cuda';

/** The kernel keeps a row of scores in one warp's registers (native/cuda/route.cuh kRouteMaxExperts). */
export const CUDA_ROUTE_MAX_EXPERTS = 1024;

/** route's native arguments (lib/backends/route_native.ts), with the logits' dtype the kernel also takes. */
export function prepare(a: RouteValidated): { args: CudaRouteArgs; result: () => RouteResult } {
  const { args, result } = prepareRoute(a);
  return { args: args.logits ? { ...args, logitsDtype: 'f32' } : args, result };
}

export const wiring: CudaWiring<'route'> = {
  native: 'cudaRoute',
  supports: (a) => a.method === 'external' || a.experts <= CUDA_ROUTE_MAX_EXPERTS,
  prepare,
};
