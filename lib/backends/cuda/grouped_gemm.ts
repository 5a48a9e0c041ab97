// grouped_gemm on the cuda backend: native/addon/cuda_grouped_gemm.cpp over host arrays; the kernel path
// (tensor cores for bf16 / f16, SIMT for f32 and mixed dtypes, the decode path for few rows per expert) is
// chosen natively. `out` was allocated by validation.

import type { GroupedGemmResult, GroupedGemmValidated } from '../../ops/grouped_gemm.types';
import type { CudaGroupedGemmArgs } from './natives';
import type { CudaWiring } from '../cuda';

export function prepare(a: GroupedGemmValidated): { args: CudaGroupedGemmArgs; result: () => GroupedGemmResult } {
  const args: CudaGroupedGemmArgs = {
    rows: a.rows, k: a.k, n: a.n, experts: a.experts,
    a: a.a.data, aDtype: a.a.dtype, w: a.w.data, wDtype: a.w.dtype, offsets: a.offsets,
    activation: a.activation, gluLayout: a.gluLayout, out: a.out, outDtype: a.outDtype,
  };
  if (a.bias) args.bias = a.bias;
  if (a.addend) args.addend = a.addend;
  const result = (): GroupedGemmResult => ({ y: { data: a.out, shape: [a.rows, a.nOut], dtype: a.outDtype } as GroupedGemmResult['y'] });
  return { args, result };
}

export const wiring: CudaWiring<'groupedGemm'> = {
  native: 'cudaGroupedGemm',
  supports: () => true,
  prepare,
};
