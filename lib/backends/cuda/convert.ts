// convert on the cuda backend: native/addon/cuda_convert.cpp over host arrays (bit-exact with lib/dtype.ts
// except that an f16 / bf16 NaN widened to f32 keeps its sign). `out` was allocated by validation.

import type { ConvertResult, ConvertValidated } from '../../ops/convert.types';
import type { CudaConvertArgs } from './natives';
import type { CudaWiring } from '../cuda';

export function prepare(a: ConvertValidated): { args: CudaConvertArgs; result: () => ConvertResult } {
  const args: CudaConvertArgs = { n: a.x.data.length, x: a.x.data, xDtype: a.x.dtype, out: a.out, outDtype: a.to };
  const result = (): ConvertResult => ({ y: { data: a.out, shape: [...a.x.shape], dtype: a.to } as ConvertResult['y'] });
  return { args, result };
}

export const wiring: CudaWiring<'convert'> = {
  native: 'cudaConvert',
  supports: () => true,
  prepare,
};
