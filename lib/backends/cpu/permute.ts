// permute on the cpu backend: native/addon/permute.cpp. Validation (lib/ops/permute.ts) has resolved the
// segment table and computed the layout (offsets, row count); the outputs come from allocOutput and the
// addon writes every element of them.

import type { PermuteNativeArgs } from '../../../bindings';
import type { FloatDType } from '../../dtype';
import type { Tensor } from '../../tensor';
import type { PermuteResult, PermuteValidated } from '../../ops/permute.types';
import { allocOutput } from '../alloc';
import type { CpuWiring } from '../cpu';

interface Outputs {
  rows: Float32Array | Uint16Array;
  slotToRow: Int32Array;
  rowToToken: Int32Array;
}

function outputs(v: PermuteValidated): Outputs {
  return {
    rows: allocOutput(v.x.dtype, v.rows * v.hidden),
    slotToRow: allocOutput('i32', v.tokens * v.kmax),
    rowToToken: allocOutput('i32', v.rows),
  };
}

function nativeArgs(v: PermuteValidated, o: Outputs): PermuteNativeArgs {
  return {
    x: v.x.data,
    xDtype: v.x.dtype,
    tokens: v.tokens,
    hidden: v.hidden,
    kmax: v.kmax,
    ids: v.ids.data,
    experts: v.experts,
    totalExperts: v.totalExperts,
    segmentOf: v.segmentOf,
    offsets: v.offsets,
    rowCount: v.rows,
    scale: v.scale,
    ...o,
  };
}

function result(v: PermuteValidated, o: Outputs): PermuteResult {
  return {
    rows: { data: o.rows, shape: [v.rows, v.hidden], dtype: v.x.dtype } as Tensor<FloatDType>,
    offsets: { data: v.offsets.slice(), shape: [v.experts + 1], dtype: 'i32' },
    slotToRow: { data: o.slotToRow, shape: [v.tokens, v.kmax], dtype: 'i32' },
    rowToToken: { data: o.rowToToken, shape: [v.rows], dtype: 'i32' },
    tokensPerExpert: { data: v.tokensPerExpert.slice(), shape: [v.experts], dtype: 'i32' },
  };
}

export const wiring: CpuWiring<'permute'> = {
  natives: ['permute', 'permuteAsync'],
  sync(addon, v) {
    const o = outputs(v);
    addon.permute(nativeArgs(v, o));
    return result(v, o);
  },
  async async(addon, v) {
    const o = outputs(v);
    await addon.permuteAsync(nativeArgs(v, o));
    return result(v, o);
  },
};
