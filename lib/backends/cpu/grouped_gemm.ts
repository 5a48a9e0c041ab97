// grouped_gemm on the cpu backend: native/addon/grouped_gemm.cpp. Validation (lib/ops/grouped_gemm.ts) has
// resolved every tensor, size and default and allocated `out`; the addon writes it.

import type { GroupedGemmNativeArgs } from '../../../bindings';
import type { GroupedGemmResult, GroupedGemmValidated } from '../../ops/grouped_gemm.types';
import type { CpuWiring } from '../cpu';

function nativeArgs(v: GroupedGemmValidated): GroupedGemmNativeArgs {
  return {
    a: v.a.data,
    aDtype: v.a.dtype,
    w: v.w.data,
    wDtype: v.w.dtype,
    rows: v.rows,
    k: v.k,
    n: v.n,
    experts: v.experts,
    offsets: v.offsets,
    ...(v.bias ? { bias: v.bias } : {}),
    ...(v.addend ? { addend: v.addend } : {}),
    activation: v.activation,
    gluLayout: v.gluLayout,
    out: v.out,
    outDtype: v.outDtype,
  };
}

function result(v: GroupedGemmValidated): GroupedGemmResult {
  return { y: { data: v.out, shape: [v.rows, v.nOut], dtype: v.outDtype } as GroupedGemmResult['y'] };
}

export const wiring: CpuWiring<'groupedGemm'> = {
  natives: ['groupedGemm', 'groupedGemmAsync'],
  sync(addon, v) {
    addon.groupedGemm(nativeArgs(v));
    return result(v);
  },
  async async(addon, v) {
    await addon.groupedGemmAsync(nativeArgs(v));
    return result(v);
  },
};
