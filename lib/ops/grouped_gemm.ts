// The `grouped_gemm` op: argument validation and the public entry. The math lives in the backends
// (lib/reference/grouped_gemm.ts is the oracle).

import { FLOAT_DTYPES, FloatDType } from '../dtype';
import { Check } from '../errors';
import { isDetached, Tensor, toTensor } from '../tensor';
import { selectBackend } from '../backends';
import type { OpOptions } from '../backends/backend';
import { overlaps } from './convert';
import {
  ACTIVATIONS,
  Activation,
  GluLayout,
  GroupedGemmArgs,
  GroupedGemmResult,
  GroupedGemmValidated,
} from './grouped_gemm.types';

const OP = 'grouped_gemm';
const INT32_MAX = 2147483647;

function isGlu(act: Activation): boolean {
  return act === 'swiglu' || act === 'geglu';
}

/** Check every argument of grouped_gemm and resolve defaults; throws TypeError / RangeError naming the
 *  argument. Allocates `out` when the caller gave none. */
export function validateGroupedGemm(args: GroupedGemmArgs): GroupedGemmValidated {
  const c = new Check(OP);
  const o = c.object('args', args);
  const a = toTensor(c, 'a', o.a, { dtypes: FLOAT_DTYPES, shape: [-1, -1], dims: ['rows', 'k'] }) as Tensor<FloatDType>;
  const w = toTensor(c, 'w', o.w, { dtypes: FLOAT_DTYPES, shape: [-1, -1, -1], dims: ['experts', 'n', 'k'] }) as Tensor<FloatDType>;
  const rows = a.shape[0]!;
  const k = a.shape[1]!;
  const experts = w.shape[0]!;
  const n = w.shape[1]!;
  if (w.shape[2] !== k) {
    c.range('w.shape', `dimension 2 (k) must equal a's k = ${k}, got [${w.shape.join(', ')}]`);
  }
  if (rows > INT32_MAX) c.range('a.shape', `rows must be at most ${INT32_MAX} (offsets are int32), got ${rows}`);
  // Larger dimensions can only come with zero elements; the native binding takes every size as an int32.
  if (k > INT32_MAX) c.range('a.shape', `k must be at most ${INT32_MAX}, got ${k}`);
  if (experts > INT32_MAX || n > INT32_MAX) c.range('w.shape', `must have dimensions of at most ${INT32_MAX}, got [${w.shape.join(', ')}]`);

  const activation: Activation = o.activation === undefined ? 'none' : c.oneOf('activation', o.activation, ACTIVATIONS);
  const gluLayout: GluLayout = o.gluLayout === undefined ? 'halves' : c.oneOf('gluLayout', o.gluLayout, ['halves', 'interleaved'] as const);
  if (isGlu(activation) && n % 2 !== 0) {
    c.range('w', `must have an even number of output columns n for '${activation}' (gate and up halves), got n = ${n}`);
  }
  const nOut = isGlu(activation) ? n / 2 : n;
  const outDtype: FloatDType = o.outDtype === undefined ? a.dtype : c.oneOf('outDtype', o.outDtype, FLOAT_DTYPES);

  let offsets: Int32Array;
  if (o.offsets === undefined) {
    if (experts !== 1) c.type('offsets', `an int32 tensor [experts + 1] = [${experts + 1}] (only one expert may omit it)`, undefined);
    offsets = Int32Array.of(0, rows);
  } else {
    offsets = toTensor(c, 'offsets', o.offsets, { dtypes: ['i32'], shape: [experts + 1], dims: ['experts + 1'] }).data as Int32Array;
    if (offsets[0] !== 0) c.range('offsets', `must start at 0, got offsets[0] = ${offsets[0]}`);
    for (let e = 0; e < experts; e++) {
      if (offsets[e + 1]! < offsets[e]!) {
        c.range('offsets', `must be non-decreasing, got offsets[${e}] = ${offsets[e]} > offsets[${e + 1}] = ${offsets[e + 1]}`);
      }
    }
    if (offsets[experts] !== rows) c.range('offsets', `must end at rows = ${rows}, got offsets[${experts}] = ${offsets[experts]}`);
  }

  const bias = o.bias === undefined ? undefined
    : (toTensor(c, 'bias', o.bias, { dtypes: ['f32'], shape: [experts, n], dims: ['experts', 'n'] }).data as Float32Array);
  const addend = o.addend === undefined ? undefined
    : (toTensor(c, 'addend', o.addend, { dtypes: ['f32'], shape: [rows, n], dims: ['rows', 'n'] }).data as Float32Array);

  const len = rows * nOut;
  let out: Float32Array | Uint16Array;
  if (o.out !== undefined) {
    const wantF32 = outDtype === 'f32';
    const ok = wantF32 ? o.out instanceof Float32Array : o.out instanceof Uint16Array;
    if (!ok) c.type('out', `a ${wantF32 ? 'Float32Array' : 'Uint16Array'} for outDtype '${outDtype}'`, o.out);
    out = o.out as Float32Array | Uint16Array;
    if (out.length !== len) c.range('out', `must have rows × ${isGlu(activation) ? 'n / 2' : 'n'} = ${rows} × ${nOut} = ${len} elements, got ${out.length}`);
    if (len === 0 && isDetached(out.buffer)) c.range('out', 'is a view of a detached ArrayBuffer');
    // The output is written while inputs are still being read: any shared bytes would corrupt the result.
    for (const [name, t] of [['a', a.data], ['w', w.data], ['offsets', offsets], ['bias', bias], ['addend', addend]] as const) {
      if (t !== undefined && overlaps(out, t)) c.range('out', `must not share memory with '${name}'`);
    }
  } else {
    try {
      out = outDtype === 'f32' ? new Float32Array(len) : new Uint16Array(len);
    } catch {
      return c.range('out', `cannot be allocated: rows × nOut = ${rows} × ${nOut} = ${len} elements is too many for one typed array`);
    }
  }
  return { a, w, offsets, bias, addend, activation, gluLayout, outDtype, rows, k, n, experts, nOut, out };
}

/**
 * Y[r, :] = act( A[r, :] · W[e]ᵀ + bias[e, :] + addend[r, :] ) for every row r of expert e
 * (offsets[e] <= r < offsets[e+1]).
 *
 * Shapes: A [rows, k], W [experts, n, k] ([out, in], the checkpoint layout), offsets [experts + 1] int32
 * (offsets[0] = 0, non-decreasing, offsets[experts] = rows; may be omitted for one expert, a dense GEMM),
 * bias [experts, n] f32, addend [rows, n] f32, Y [rows, n] or [rows, n / 2] for swiglu / geglu.
 * A and W may each be f32, bf16 or f16 (half types as Uint16Array bits); Y is `outDtype` (default A's).
 * Accumulation is at least f32 (the reference uses f64); each Y element is rounded at the end only (RNE;
 * half outputs via the f32 value, as native epilogues hold it).
 * Activations: none, relu, gelu (erf), gelu_tanh, silu, tanh, sigmoid, and the GLUs swiglu = silu(gate)·up,
 * geglu = gelu(gate)·up with the gate / up split named by `gluLayout`: 'halves' (default: gate = columns
 * 0..n/2-1, up = n/2..n-1) or 'interleaved' (gate = even columns, up = odd). k = 0 gives act(bias + addend);
 * empty experts and rows = 0 are allowed. A preallocated `out` is fully overwritten.
 */
export function groupedGemm(args: GroupedGemmArgs, opts: OpOptions = {}): GroupedGemmResult {
  const v = validateGroupedGemm(args);
  return selectBackend(OP, opts.backend).groupedGemm(v);
}

/** The async twin of groupedGemm: the arguments are validated during the call (a bad argument rejects the
 *  promise), then native backends run the op off the JS thread. Leave the argument and `out` arrays alone
 *  until the promise settles. */
export async function groupedGemmAsync(args: GroupedGemmArgs, opts: OpOptions = {}): Promise<GroupedGemmResult> {
  const v = validateGroupedGemm(args);
  return selectBackend(OP, opts.backend).groupedGemmAsync(v);
}
