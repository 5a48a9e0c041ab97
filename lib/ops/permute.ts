// The `permute` op (dispatch): a stable counting sort of the FFN-routed slots by expert, gathering each
// slot's token row into its expert's contiguous segment. Validation and the row layout live here, so
// every backend receives preallocated sizes and never checks user input.

import { FLOAT_DTYPES } from '../dtype';
import { Check } from '../errors';
import { Tensor, toTensor } from '../tensor';
import { selectBackend } from '../backends';
import type { OpOptions } from '../backends/backend';
import { NO_OUT, validatePermuteOut } from './permute.out';
import type { PermuteArgs, PermuteCapacity, PermuteResult, PermuteValidated } from './permute.types';

export type { PermuteArgs, PermuteCapacity, PermuteOut, PermuteResult, PermuteValidated } from './permute.types';

/** Expert ids (FFN + zero-computation) are bounded so the duplicate check's stamp table stays small. */
export const MAX_EXPERTS = 1 << 20;
/** Row indices are int32 (slotToRow, rowToToken, offsets). */
const MAX_ROWS = 2 ** 31 - 1;
const MAX_ALIGN = 1 << 16;

/**
 * A [tokens, kmax] routing tensor (`ids`, `weights`, `slotToRow`): a shaped tensor, or a bare typed array
 * whose shape comes from `tokens` (and `kmax` when already known, -1 = derive it as length / tokens).
 */
export function slotTensor<D extends 'i32' | 'f32'>(c: Check, arg: string, v: unknown, dtype: D, tokens: number, kmax: number): Tensor<D> {
  if (ArrayBuffer.isView(v) && kmax < 0) {
    const ok = dtype === 'i32' ? v instanceof Int32Array : v instanceof Float32Array;
    if (!ok) c.type(arg, `${dtype === 'i32' ? 'an Int32Array' : 'a Float32Array'} or a tensor {data, shape, dtype}`, v);
    const n = (v as Int32Array | Float32Array).length;
    if (tokens === 0 ? n !== 0 : n % tokens !== 0) {
      c.range(arg, `has ${n} elements, which is not tokens (${tokens}) times a slot count; pass a tensor {data, shape}`);
    }
    kmax = tokens === 0 ? 0 : n / tokens;
  }
  return toTensor(c, arg, v, { dtypes: [dtype], shape: [tokens, kmax], dims: ['tokens', 'kmax'] }) as Tensor<D>;
}

/** A list of integers (Int32Array or number[]) with every value in [min, max]. */
export function intList(c: Check, arg: string, v: unknown, min: number, max: number): Int32Array {
  if (!(v instanceof Int32Array) && !Array.isArray(v)) c.type(arg, 'an Int32Array or an array of integers', v);
  const list = v as ArrayLike<unknown>;
  const out = new Int32Array(list.length);
  for (let i = 0; i < list.length; i++) out[i] = c.int(`${arg}[${i}]`, list[i], min, max);
  return out;
}

/**
 * Segment sizes of a routing: real rows per segment, the (padded) exclusive prefix sum and the total.
 * An empty segment gets 0 rows, not `align`. Exported so callers can size buffers before permuting.
 */
export function permuteLayout(ids: Int32Array, segmentOf: Int32Array, experts: number, align: number): {
  tokensPerExpert: Int32Array; offsets: Int32Array; rows: number;
} {
  const tokensPerExpert = new Int32Array(experts);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id < 0) continue;
    const s = segmentOf[id]!;
    if (s >= 0) tokensPerExpert[s]!++;
  }
  const offsets = new Int32Array(experts + 1);
  let total = 0; // float64: checked against int32 before it is stored
  for (let e = 0; e < experts; e++) {
    total += Math.ceil(tokensPerExpert[e]! / align) * align;
    if (total > MAX_ROWS) new Check('permute').range('align', `pads the output to more than ${MAX_ROWS} rows`);
    offsets[e + 1] = total;
  }
  return { tokensPerExpert, offsets, rows: total };
}

/**
 * Element counts of permute's outputs for the worst routing of `tokens` × `kmax` slots, so `out` arrays can
 * be allocated once and reused for every call of that size: every slot gathered (R <= tokens·kmax), and each
 * non-empty segment (at most min(experts, tokens·kmax) of them) padded by at most align − 1 rows.
 * permute refuses R > 2^31 − 1 whatever the capacity. Arrays longer than one call needs are fine: the result
 * is a view of their first elements.
 */
export function permuteCapacity(args: { tokens: number; hidden: number; kmax: number; experts: number; align?: number }): PermuteCapacity {
  const c = new Check('permuteCapacity');
  const a = c.object('args', args);
  const tokens = c.int('tokens', a.tokens, 0, MAX_ROWS);
  const hidden = c.int('hidden', a.hidden, 0, MAX_ROWS);
  const kmax = c.int('kmax', a.kmax, 0, MAX_ROWS);
  const experts = c.int('experts', a.experts, 1, MAX_EXPERTS);
  const align = a.align === undefined ? 1 : c.int('align', a.align, 1, MAX_ALIGN);
  const slots = tokens * kmax;
  const maxRows = slots + Math.min(experts, slots) * (align - 1);
  return { maxRows, rows: maxRows * hidden, offsets: experts + 1, slotToRow: slots, rowToToken: maxRows, tokensPerExpert: experts };
}

/** Check every argument of `permute` and resolve defaults, the segment table and the output sizes. */
export function validatePermute(args: PermuteArgs): PermuteValidated {
  const c = new Check('permute');
  const a = c.object('args', args);
  const x = toTensor(c, 'x', a.x, { dtypes: FLOAT_DTYPES, shape: [-1, -1], dims: ['tokens', 'hidden'] }) as PermuteValidated['x'];
  const [tokens, hidden] = x.shape as [number, number];
  // Dimensions past int32 (possible only with zero elements) would be looped over and fail in the binding.
  if (tokens > MAX_ROWS || hidden > MAX_ROWS) c.range('x.shape', `must have dimensions below 2^31, got [${x.shape.join(', ')}]`);
  const ids = slotTensor(c, 'ids', a.ids, 'i32', tokens, -1);
  const kmax = ids.shape[1]!;
  if (kmax > MAX_ROWS) c.range('ids.shape', `must have dimensions below 2^31, got [${ids.shape.join(', ')}]`);

  const experts = c.int('experts', a.experts, 1, MAX_EXPERTS);
  let totalExperts: number;
  let segmentOf: Int32Array;
  if (a.expertMap !== undefined) {
    const map = intList(c, 'expertMap', a.expertMap, -1, experts - 1);
    totalExperts = a.totalExperts === undefined ? map.length : c.int('totalExperts', a.totalExperts, experts, MAX_EXPERTS);
    if (map.length !== totalExperts) c.range('expertMap', `must have totalExperts (${totalExperts}) entries, got ${map.length}`);
    segmentOf = map;
  } else {
    totalExperts = a.totalExperts === undefined ? experts : c.int('totalExperts', a.totalExperts, experts, MAX_EXPERTS);
    segmentOf = new Int32Array(totalExperts).fill(-1);
    for (let e = 0; e < experts; e++) segmentOf[e] = e; // ids in [experts, totalExperts) are zero-computation
  }
  const align = a.align === undefined ? 1 : c.int('align', a.align, 1, MAX_ALIGN);
  const scale = a.scale === undefined ? 1 : c.num('scale', a.scale);

  // Ids in range and no expert twice in a row (a repeat would gather the token twice into one segment).
  const d = ids.data;
  const lastRow = new Int32Array(totalExperts).fill(-1);
  for (let i = 0; i < d.length; i++) { // over the elements, not tokens × kmax: kmax may be 0
    const t = Math.floor(i / kmax);
    const id = d[i]!;
    if (id < -1 || id >= totalExperts) {
      c.range('ids', `must hold -1 or expert ids in [0, ${totalExperts}), got ${id} at [${t}, ${i % kmax}]`);
    }
    if (id < 0) continue;
    if (lastRow[id] === t) c.range('ids', `repeats expert ${id} in token ${t} (a token picks each expert at most once)`);
    lastRow[id] = t;
  }
  const layout = permuteLayout(d, segmentOf, experts, align);
  const out = a.out === undefined ? NO_OUT : validatePermuteOut(c, a.out, x.dtype, {
    rows: layout.rows * hidden, offsets: experts + 1, slotToRow: tokens * kmax, rowToToken: layout.rows, tokensPerExpert: experts,
  }, [['x', x.data], ['ids', d], ['expertMap', ArrayBuffer.isView(a.expertMap) ? a.expertMap : undefined]]);
  return { x, ids, tokens, hidden, kmax, experts, totalExperts, segmentOf, align, scale, ...layout, out };
}

/**
 * rows[r] = scale · x[rowToToken[r]]: gather every FFN-routed slot's token row into its expert's segment.
 *
 * x [tokens, hidden] (f32 / bf16 / f16), ids [tokens, kmax] int32 (-1 = empty) ->
 * rows [R, hidden] (dtype of x), offsets [experts + 1], slotToRow [tokens, kmax], rowToToken [R],
 * tokensPerExpert [experts]. Segment e holds rows offsets[e] .. offsets[e+1]-1 in the stable order
 * (slot rank, token): all rank-0 picks of e in token order, then rank-1 picks, ... (SPEC §3). Ids in
 * [experts, totalExperts) (zero / copy / constant experts) and ids that `expertMap` sends to -1 are not
 * gathered (slotToRow -1). With `align`, each non-empty segment is padded with zero rows (token -1) to a
 * multiple of `align`. With scale = 1 rows are bit copies of x; otherwise scale · x rounded to x's dtype.
 * `out` may give any of the five output arrays, each at least as long as its output (see PermuteOut,
 * permuteCapacity); the result's tensors are then views of exactly the right length onto them, every element
 * of which is written (padding rows too) and nothing past it. Inputs are never modified.
 */
export function permute(args: PermuteArgs, opts: OpOptions = {}): PermuteResult {
  const v = validatePermute(args);
  return selectBackend('permute', opts.backend).permute(v);
}

/** The async twin of permute: the arguments are validated during the call (a bad argument rejects the
 *  promise), then native backends run the op off the JS thread. Leave the argument and `out` arrays alone
 *  until the promise settles. */
export async function permuteAsync(args: PermuteArgs, opts: OpOptions = {}): Promise<PermuteResult> {
  const v = validatePermute(args);
  return selectBackend('permute', opts.backend).permuteAsync(v);
}
