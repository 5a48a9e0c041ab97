// permute on the cuda backend: native/addon/cuda_permute.cpp over host arrays. The row count R comes from
// validation (lib/ops/permute.ts computed the layout on the host), so rowsCapacity = R exactly; offsets and
// tokensPerExpert are nevertheless recomputed on the device and compared by the conformance suite. Outputs
// are the caller's (args.out, cut to their exact lengths by validation) or come from allocOutput; the binding
// copies the results into them and rejects an async call whose array was detached meanwhile.

import type { FloatDType } from '../../dtype';
import type { Tensor } from '../../tensor';
import type { PermuteResult, PermuteValidated } from '../../ops/permute.types';
import { allocOutput } from '../alloc';
import type { CudaPermuteArgs } from './natives';
import type { CudaWiring } from '../cuda';

export function prepare(a: PermuteValidated): { args: CudaPermuteArgs; result: () => PermuteResult } {
  const { tokens: T, hidden: H, kmax: K, experts: E, rows: R } = a;
  const rows = a.out.rows ?? allocOutput(a.x.dtype, R * H);
  const offsets = a.out.offsets ?? allocOutput('i32', E + 1);
  const slotToRow = a.out.slotToRow ?? allocOutput('i32', T * K);
  const rowToToken = a.out.rowToToken ?? allocOutput('i32', R);
  const tokensPerExpert = a.out.tokensPerExpert ?? allocOutput('i32', E);
  const args: CudaPermuteArgs = {
    tokens: T, hidden: H, kmax: K, experts: E, totalExperts: a.totalExperts, align: a.align, scale: a.scale, rowsCapacity: R,
    x: a.x.data, xDtype: a.x.dtype, ids: a.ids.data, segmentOf: a.segmentOf,
    rows, offsets, slotToRow, rowToToken, tokensPerExpert,
  };
  const result = (): PermuteResult => ({
    rows: { data: rows, shape: [R, H], dtype: a.x.dtype } as Tensor<FloatDType>,
    offsets: { data: offsets, shape: [E + 1], dtype: 'i32' },
    slotToRow: { data: slotToRow, shape: [T, K], dtype: 'i32' },
    rowToToken: { data: rowToToken, shape: [R], dtype: 'i32' },
    tokensPerExpert: { data: tokensPerExpert, shape: [E], dtype: 'i32' },
  });
  return { args, result };
}

export const wiring: CudaWiring<'permute'> = {
  native: 'cudaPermute',
  supports: () => true,
  prepare,
};
