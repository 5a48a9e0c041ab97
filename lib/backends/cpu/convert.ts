// convert on the cpu backend: native/addon/convert.cpp (x and the preallocated out, both as typed arrays
// with their dtypes). Validation (lib/ops/convert.ts) has already allocated `out`.

import type { ConvertNativeArgs } from '../../../bindings';
import type { ConvertResult, ConvertValidated } from '../../ops/convert.types';
import type { CpuWiring } from '../cpu';

function nativeArgs(a: ConvertValidated): ConvertNativeArgs {
  return { x: a.x.data, xDtype: a.x.dtype, out: a.out, outDtype: a.to };
}

function result(a: ConvertValidated): ConvertResult {
  return { y: { data: a.out, shape: [...a.x.shape], dtype: a.to } as ConvertResult['y'] };
}

export const wiring: CpuWiring<'convert'> = {
  natives: ['convert', 'convertAsync'],
  sync(addon, a) {
    addon.convert(nativeArgs(a));
    return result(a);
  },
  async async(addon, a) {
    await addon.convertAsync(nativeArgs(a));
    return result(a);
  },
};
