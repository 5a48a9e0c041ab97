// The `unpermute` op (combine): weighted sum of each token's expert outputs in slot order, with the
// zero-computation experts of MoE++ (zero / copy / constant) resolved here, plus shared expert and residual.

import { FLOAT_DTYPES, FloatDType } from '../dtype';
import { Check } from '../errors';
import { MAX_TYPED_ARRAY_LENGTH } from '../limits';
import { isDetached, Tensor, toTensor } from '../tensor';
import { selectBackend } from '../backends';
import type { OpOptions } from '../backends/backend';
import { overlaps } from './convert';
import { intList, slotTensor } from './permute';
import type { UnpermuteArgs, UnpermuteResult, UnpermuteValidated } from './unpermute.types';

export type { ConstantExperts, UnpermuteArgs, UnpermuteResult, UnpermuteValidated } from './unpermute.types';

const MAX_ID = 2 ** 31 - 1;
const SLOT_DIMS = ['tokens', 'kmax'];

type FloatTensor = Tensor<FloatDType>;

/** Check every argument of `unpermute` and resolve defaults; throws before any work. */
export function validateUnpermute(args: UnpermuteArgs): UnpermuteValidated {
  const c = new Check('unpermute');
  const a = c.object('args', args);
  const y = toTensor(c, 'y', a.y, { dtypes: FLOAT_DTYPES, shape: [-1, -1], dims: ['rows', 'hidden'] }) as FloatTensor;
  const [rows, hidden] = y.shape as [number, number];
  // Dimensions past int32 come only with zero elements; the native binding takes every size as an int32.
  if (rows > MAX_ID || hidden > MAX_ID) c.range('y.shape', `must have dimensions of at most ${MAX_ID}, got [${y.shape.join(', ')}]`);
  const tokenRows = (arg: string, v: unknown, tokens: number): FloatTensor =>
    toTensor(c, arg, v, { dtypes: FLOAT_DTYPES, shape: [tokens, hidden], dims: ['tokens', 'hidden'] }) as FloatTensor;

  // [tokens, kmax] comes from the first routing tensor that carries a shape; bare arrays take it from
  // there, or the token count from x / shared / residual.
  let tokens = -1;
  let kmax = -1;
  for (const name of ['ids', 'weights', 'slotToRow'] as const) {
    const v = a[name];
    if (v !== undefined && !ArrayBuffer.isView(v)) {
      const t = toTensor(c, name, v, { dtypes: [name === 'weights' ? 'f32' : 'i32'], shape: [-1, -1], dims: SLOT_DIMS });
      [tokens, kmax] = t.shape as [number, number];
      break;
    }
  }
  if (tokens < 0) {
    for (const name of ['x', 'shared', 'residual'] as const) {
      if (a[name] !== undefined) {
        tokens = tokenRows(name, a[name], -1).shape[0]!;
        break;
      }
    }
  }
  if (tokens < 0) {
    c.type('ids', 'a tensor {data, shape, dtype} (a bare Int32Array needs x, shared or residual for the token count)', a.ids);
  }
  const ids = slotTensor(c, 'ids', a.ids, 'i32', tokens, kmax);
  kmax = ids.shape[1]!;
  if (tokens > MAX_ID || kmax > MAX_ID) c.range('ids.shape', `must have dimensions of at most ${MAX_ID}, got [${ids.shape.join(', ')}]`);
  const weights = slotTensor(c, 'weights', a.weights, 'f32', tokens, kmax);
  const slotToRow = slotTensor(c, 'slotToRow', a.slotToRow, 'i32', tokens, kmax);

  // Special experts: disjoint lists of non-negative ids.
  const zeroExperts = a.zeroExperts === undefined ? new Int32Array(0) : intList(c, 'zeroExperts', a.zeroExperts, 0, MAX_ID);
  const copyExperts = a.copyExperts === undefined ? new Int32Array(0) : intList(c, 'copyExperts', a.copyExperts, 0, MAX_ID);
  let constantIds: Int32Array = new Int32Array(0);
  let wc: Tensor<'f32'> | null = null;
  let v: Tensor<'f32'> | null = null;
  if (a.constantExperts !== undefined) {
    const ce = c.object('constantExperts', a.constantExperts);
    constantIds = intList(c, 'constantExperts.ids', ce.ids, 0, MAX_ID);
    const n = constantIds.length;
    wc = toTensor(c, 'constantExperts.wc', ce.wc, { dtypes: ['f32'], shape: [n, 2, hidden], dims: ['constants', '2', 'hidden'] }) as Tensor<'f32'>;
    v = toTensor(c, 'constantExperts.v', ce.v, { dtypes: ['f32'], shape: [n, hidden], dims: ['constants', 'hidden'] }) as Tensor<'f32'>;
  }
  const special = new Map<number, string>();
  for (const [name, list] of [['zeroExperts', zeroExperts], ['copyExperts', copyExperts], ['constantExperts.ids', constantIds]] as const) {
    for (const id of list) {
      const seen = special.get(id);
      if (seen !== undefined) c.range(name, `contains expert ${id}, which is already listed in '${seen}'`);
      special.set(id, name);
    }
  }

  const needsX = copyExperts.length > 0 || constantIds.length > 0;
  const x = needsX || a.x !== undefined ? tokenRows('x', a.x, tokens) : null;
  const inputScale = a.inputScale === undefined ? 1 : c.num('inputScale', a.inputScale);
  const shared = a.shared === undefined ? null : tokenRows('shared', a.shared, tokens);
  const residual = a.residual === undefined ? null : tokenRows('residual', a.residual, tokens);
  const outDtype = a.outDtype === undefined ? y.dtype : c.oneOf('outDtype', a.outDtype, FLOAT_DTYPES);
  let out: Float32Array | Uint16Array | null = null;
  if (a.out === undefined && tokens * hidden > MAX_TYPED_ARRAY_LENGTH) {
    // The backends allocate out [tokens, hidden]; sizes past what one typed array holds are refused here.
    c.range('out', `cannot be allocated: tokens × hidden = ${tokens} × ${hidden} = ${tokens * hidden} elements, more than one typed array holds (${MAX_TYPED_ARRAY_LENGTH})`);
  }
  if (a.out !== undefined) {
    const isF32 = a.out instanceof Float32Array;
    if (outDtype === 'f32' ? !isF32 : !(a.out instanceof Uint16Array)) {
      c.type('out', `a ${outDtype === 'f32' ? 'Float32Array' : 'Uint16Array'} for outDtype '${outDtype}'`, a.out);
    }
    out = a.out as Float32Array | Uint16Array;
    if (out.length !== tokens * hidden) c.range('out', `must have tokens * hidden = ${tokens * hidden} elements, got ${out.length}`);
    if (out.length === 0 && isDetached(out.buffer)) c.range('out', 'is a view of a detached ArrayBuffer');
    // `out` is written while inputs are still read (rows of y in any order): it may be exactly the memory of
    // shared or residual (each element is read just before it is written) and must share no byte with
    // anything else, as the native binding requires.
    const inputs = [['y', y.data], ['ids', ids.data], ['weights', weights.data], ['slotToRow', slotToRow.data], ['x', x?.data],
      ['constantExperts.wc', wc?.data], ['constantExperts.v', v?.data], ['shared', shared?.data], ['residual', residual?.data]] as const;
    for (const [name, t] of inputs) {
      if (t === undefined || !overlaps(out, t)) continue;
      const inPlace = name === 'shared' || name === 'residual';
      if (inPlace && t.byteOffset === out.byteOffset && t.byteLength === out.byteLength) continue;
      c.range('out', `must not share memory with '${name}'${inPlace ? ' (exactly the same memory is allowed)' : ''}`);
    }
  }

  // Slot contents: ids >= -1; weights finite or NaN (a NaN router row propagates); each row read once,
  // and only by a slot of an FFN expert (a second reader would count the row twice).
  const rowUsed = new Uint8Array(rows);
  for (let i = 0; i < tokens * kmax; i++) {
    const at = `[${Math.floor(i / kmax)}, ${i % kmax}]`;
    const id = ids.data[i]!;
    if (id < -1) c.range('ids', `must hold -1 or expert ids >= 0, got ${id} at ${at}`);
    const w = weights.data[i]!;
    if (w === Infinity || w === -Infinity) c.range('weights', `must be finite (or NaN), got ${w} at ${at}`);
    const r = slotToRow.data[i]!;
    if (r < -1 || r >= rows) c.range('slotToRow', `must hold -1 or rows in [0, ${rows}), got ${r} at ${at}`);
    if (r < 0) continue;
    if (rowUsed[r]) c.range('slotToRow', `uses row ${r} twice (at ${at}); each row belongs to one slot`);
    rowUsed[r] = 1;
    if (id < 0 || special.has(id)) {
      c.range('slotToRow', `maps slot ${at} to row ${r}, but its id ${id} is ${id < 0 ? 'empty' : `in '${special.get(id)}'`}`);
    }
  }
  return {
    y, ids, weights, slotToRow, tokens, hidden, kmax, rows, zeroExperts, copyExperts, constantIds, wc, v,
    x, inputScale, shared, residual, outDtype, out,
  };
}

/**
 * out_t = Σ_j w[t,j] · E_{ids[t,j]}(u_t) + shared_t + residual_t, slots summed in slot order (SPEC §0, §2.3, §5).
 *
 * y [rows, hidden] holds the FFN experts' outputs in permute's row order; slot (t, j) with
 * slotToRow[t,j] = r >= 0 contributes w[t,j] · y[r]. Slots without a row: zero experts and id -1 add
 * nothing (whatever their weight), copy experts add w · u_t, constant expert c adds
 * w · (a1 · u_t + a2 · v_c) with (a1, a2) = softmax(Wc_c u_t), where u = inputScale · x (MoE++ scales by k).
 * An FFN expert with no row (another rank's expert under expert parallelism) adds nothing.
 * ids, weights, slotToRow [tokens, kmax]; x, shared, residual, out [tokens, hidden]. Accumulation is
 * f32 or wider; the result is rounded once to outDtype (default y's dtype). Every element of `out` is written.
 */
export function unpermute(args: UnpermuteArgs, opts: OpOptions = {}): UnpermuteResult {
  const v = validateUnpermute(args);
  return selectBackend('unpermute', opts.backend).unpermute(v);
}

/** The async twin of unpermute: the arguments are validated during the call (a bad argument rejects the
 *  promise), then native backends run the op off the JS thread. Leave the argument and `out` arrays alone
 *  until the promise settles. */
export async function unpermuteAsync(args: UnpermuteArgs, opts: OpOptions = {}): Promise<UnpermuteResult> {
  const v = validateUnpermute(args);
  return selectBackend('unpermute', opts.backend).unpermuteAsync(v);
}
