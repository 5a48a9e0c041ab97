// The `convert` op: argument validation and the public entry (lib/reference/convert.ts is the oracle).

import { FLOAT_DTYPES, FloatDType } from '../dtype';
import { Check } from '../errors';
import { isDetached, Tensor, toTensor } from '../tensor';
import { selectBackend } from '../backends';
import type { OpOptions } from '../backends/backend';
import type { ConvertArgs, ConvertResult, ConvertValidated } from './convert.types';

const OP = 'convert';

/** True when two views share at least one byte of the same buffer. */
export function overlaps(x: ArrayBufferView, y: ArrayBufferView): boolean {
  return x.buffer === y.buffer && x.byteLength > 0 && y.byteLength > 0
    && x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength;
}

/** Check every argument of convert; throws TypeError / RangeError naming the argument. Allocates `out`
 *  when the caller gave none. */
export function validateConvert(args: ConvertArgs): ConvertValidated {
  const c = new Check(OP);
  const o = c.object('args', args);
  // A bare Float32Array is a 1-D tensor; a bare Uint16Array is refused by toTensor (bf16 or f16 is ambiguous).
  const flat = ArrayBuffer.isView(o.x) ? [(o.x as unknown as { length: number }).length] : [];
  const x = toTensor(c, 'x', o.x, { dtypes: FLOAT_DTYPES, ...(flat.length ? { shape: flat } : {}) }) as Tensor<FloatDType>;
  const to = c.oneOf('to', o.to, FLOAT_DTYPES);
  const len = x.data.length;
  let out: Float32Array | Uint16Array;
  if (o.out !== undefined) {
    const wantF32 = to === 'f32';
    if (!(wantF32 ? o.out instanceof Float32Array : o.out instanceof Uint16Array)) {
      c.type('out', `a ${wantF32 ? 'Float32Array' : 'Uint16Array'} for to = '${to}'`, o.out);
    }
    out = o.out as Float32Array | Uint16Array;
    if (out.length !== len) c.range('out', `must have ${len} elements (as many as 'x'), got ${out.length}`);
    if (len === 0 && isDetached(out.buffer)) c.range('out', 'is a view of a detached ArrayBuffer');
    // Element i is read before it is written, so converting exactly in place is safe when the element
    // size is unchanged; any other overlap would overwrite inputs not yet read.
    const samePlace = out.buffer === x.data.buffer && out.byteOffset === x.data.byteOffset && out.byteLength === x.data.byteLength;
    if (overlaps(out, x.data) && !samePlace) c.range('out', "must not partly overlap 'x' (exactly in place is allowed for equal element sizes)");
  } else {
    out = to === 'f32' ? new Float32Array(len) : new Uint16Array(len);
  }
  return { x, to, out };
}

/**
 * y = convert(x, to): f32 -> bf16 / f16 rounds to nearest, ties to even (overflow to ±inf for f16,
 * subnormals kept, NaN stays a quiet NaN with its sign); bf16 / f16 -> f32 is exact; bf16 <-> f16 goes
 * through f32 (exact widening, then one rounding); the same dtype is a copy.
 * Shape [any] is kept. bf16 / f16 travel as Uint16Array bits. A preallocated `out` is fully overwritten.
 */
export function convert(args: ConvertArgs, opts: OpOptions = {}): ConvertResult {
  const v = validateConvert(args);
  return selectBackend(OP, opts.backend).convert(v);
}

/** The async twin of convert: the arguments are validated during the call (a bad argument rejects the
 *  promise), then native backends run the op off the JS thread. Leave the argument and `out` arrays alone
 *  until the promise settles. */
export async function convertAsync(args: ConvertArgs, opts: OpOptions = {}): Promise<ConvertResult> {
  const v = validateConvert(args);
  return selectBackend(OP, opts.backend).convertAsync(v);
}
