// unpermute on the cpu backend: native/addon/unpermute.cpp. Validation (lib/ops/unpermute.ts) has resolved
// every tensor and default; `out` is the caller's preallocated array or comes from allocOutput.

import type { UnpermuteNativeArgs } from '../../../bindings';
import type { FloatDType } from '../../dtype';
import type { Tensor } from '../../tensor';
import type { UnpermuteResult, UnpermuteValidated } from '../../ops/unpermute.types';
import { allocOutput } from '../alloc';
import type { CpuWiring } from '../cpu';

function nativeArgs(v: UnpermuteValidated, out: Float32Array | Uint16Array): UnpermuteNativeArgs {
  return {
    y: v.y.data,
    yDtype: v.y.dtype,
    rows: v.rows,
    tokens: v.tokens,
    hidden: v.hidden,
    kmax: v.kmax,
    ids: v.ids.data,
    weights: v.weights.data,
    slotToRow: v.slotToRow.data,
    zeroExperts: v.zeroExperts,
    copyExperts: v.copyExperts,
    constantIds: v.constantIds,
    ...(v.constantIds.length > 0 ? { wc: v.wc!.data, v: v.v!.data } : {}),
    ...(v.x ? { x: v.x.data, xDtype: v.x.dtype } : {}),
    inputScale: v.inputScale,
    ...(v.shared ? { shared: v.shared.data, sharedDtype: v.shared.dtype } : {}),
    ...(v.residual ? { residual: v.residual.data, residualDtype: v.residual.dtype } : {}),
    out,
    outDtype: v.outDtype,
  };
}

function result(v: UnpermuteValidated, out: Float32Array | Uint16Array): UnpermuteResult {
  return { out: { data: out, shape: [v.tokens, v.hidden], dtype: v.outDtype } as Tensor<FloatDType> };
}

export const wiring: CpuWiring<'unpermute'> = {
  natives: ['unpermute', 'unpermuteAsync'],
  sync(addon, v) {
    const out = v.out ?? allocOutput(v.outDtype, v.tokens * v.hidden);
    addon.unpermute(nativeArgs(v, out));
    return result(v, out);
  },
  async async(addon, v) {
    const out = v.out ?? allocOutput(v.outDtype, v.tokens * v.hidden);
    await addon.unpermuteAsync(nativeArgs(v, out));
    return result(v, out);
  },
};
