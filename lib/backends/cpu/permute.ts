// permute on the cpu backend: native/addon/permute.cpp. Validation (lib/ops/permute.ts) has resolved the
// segment table and computed the layout (offsets, row count); the outputs are the caller's (args.out, cut to
// their exact lengths by validation) or come from allocOutput, and the addon writes every element of them.
// offsets and tokensPerExpert come from validation's layout and are copied here.

import type { PermuteNativeArgs } from '../../../bindings';
import type { FloatDType } from '../../dtype';
import type { Tensor } from '../../tensor';
import type { PermuteResult, PermuteValidated } from '../../ops/permute.types';
import { assertOutputsKept, layoutOutputs } from '../../ops/permute.out';
import { allocOutput } from '../alloc';
import type { CpuWiring } from '../cpu';

interface Outputs {
  rows: Float32Array | Uint16Array;
  slotToRow: Int32Array;
  rowToToken: Int32Array;
}

function outputs(v: PermuteValidated): Outputs {
  return {
    rows: v.out.rows ?? allocOutput(v.x.dtype, v.rows * v.hidden),
    slotToRow: v.out.slotToRow ?? allocOutput('i32', v.tokens * v.kmax),
    rowToToken: v.out.rowToToken ?? allocOutput('i32', v.rows),
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

function result(v: PermuteValidated, o: Outputs, layout: ReturnType<typeof layoutOutputs>): PermuteResult {
  return {
    rows: { data: o.rows, shape: [v.rows, v.hidden], dtype: v.x.dtype } as Tensor<FloatDType>,
    offsets: { data: layout.offsets, shape: [v.experts + 1], dtype: 'i32' },
    slotToRow: { data: o.slotToRow, shape: [v.tokens, v.kmax], dtype: 'i32' },
    rowToToken: { data: o.rowToToken, shape: [v.rows], dtype: 'i32' },
    tokensPerExpert: { data: layout.tokensPerExpert, shape: [v.experts], dtype: 'i32' },
  };
}

export const wiring: CpuWiring<'permute'> = {
  natives: ['permute', 'permuteAsync'],
  sync(addon, v) {
    const o = outputs(v);
    addon.permute(nativeArgs(v, o));
    return result(v, o, layoutOutputs(v));
  },
  async async(addon, v) {
    const o = outputs(v);
    // Copied before the call: the binding never sees these two, so after it their arrays are checked here
    // the way the binding checks its own (a transfer while the call was pending rejects it).
    const layout = layoutOutputs(v);
    await addon.permuteAsync(nativeArgs(v, o));
    assertOutputsKept(v, 'while the op ran');
    return result(v, o, layout);
  },
};
