// unpermute on the cuda backend: native/addon/cuda_unpermute.cpp over host arrays. The kernel keeps the
// special-expert table (at most 256 ids) and the per-slot kinds in shared memory; larger tables run on the
// fallback backend.

import type { FloatDType } from '../../dtype';
import type { Tensor } from '../../tensor';
import type { UnpermuteResult, UnpermuteValidated } from '../../ops/unpermute.types';
import { allocOutput } from '../alloc';
import type { CudaUnpermuteArgs } from './natives';
import type { CudaWiring } from '../cuda';

/** native/cuda/unpermute.cuh kUnpermuteMaxSpecial, and the shared-memory bound on kmax (20 bytes a slot). */
export const CUDA_UNPERMUTE_MAX_SPECIAL = 256;
export const CUDA_UNPERMUTE_MAX_KMAX = Math.floor((48 * 1024 - 4096) / 20);

export function prepare(a: UnpermuteValidated): { args: CudaUnpermuteArgs; result: () => UnpermuteResult } {
  const { tokens: T, hidden: H } = a;
  const out = a.out ?? allocOutput(a.outDtype, T * H);
  const args: CudaUnpermuteArgs = {
    tokens: T, hidden: H, kmax: a.kmax, rows: a.rows, inputScale: a.inputScale,
    y: a.y.data, yDtype: a.y.dtype, ids: a.ids.data, weights: a.weights.data, slotToRow: a.slotToRow.data,
    out, outDtype: a.outDtype,
  };
  if (a.zeroExperts.length) args.zeroExperts = a.zeroExperts;
  if (a.copyExperts.length) args.copyExperts = a.copyExperts;
  if (a.constantIds.length) Object.assign(args, { constantIds: a.constantIds, wc: a.wc!.data, v: a.v!.data });
  if (a.x) Object.assign(args, { x: a.x.data, xDtype: a.x.dtype });
  if (a.shared) Object.assign(args, { shared: a.shared.data, sharedDtype: a.shared.dtype });
  if (a.residual) Object.assign(args, { residual: a.residual.data, residualDtype: a.residual.dtype });
  const result = (): UnpermuteResult => ({ out: { data: out, shape: [T, H], dtype: a.outDtype } as Tensor<FloatDType> });
  return { args, result };
}

export const wiring: CudaWiring<'unpermute'> = {
  native: 'cudaUnpermute',
  supports: (a) =>
    a.zeroExperts.length + a.copyExperts.length + a.constantIds.length <= CUDA_UNPERMUTE_MAX_SPECIAL && a.kmax <= CUDA_UNPERMUTE_MAX_KMAX,
  prepare,
};
