// Types of the `permute` op (dispatch: gather each FFN-routed slot's token row into per-expert segments).

import type { FloatDType } from '../dtype';
import type { Tensor, TensorLike } from '../tensor';

export interface PermuteArgs {
  /** Token rows x [tokens, hidden] (f32, bf16 or f16). */
  x: TensorLike;
  /** Routing ids [tokens, kmax] int32; -1 = empty slot. */
  ids: TensorLike | Int32Array;
  /** Number of FFN experts whose rows are gathered, E. Ids in [E, totalExperts) are zero-computation
   *  experts (zero / copy / constant): they are skipped here and resolved by `unpermute`. */
  experts: number;
  /** Total number of expert ids (FFN + zero-computation); ids must be < totalExperts. Default `experts`. */
  totalExperts?: number;
  /** Expert parallelism: global id -> local FFN id (-1 = not on this rank), length totalExperts. When
   *  given, `experts` is the number of local experts and each id goes to segment expertMap[id]. */
  expertMap?: Int32Array | readonly number[];
  /** Pad every expert's segment to a multiple of this many rows (tile size). Padding rows are zero and
   *  map to token -1. Default 1 (no padding). */
  align?: number;
  /** Multiply gathered rows by this factor (MoE++ input scaling u = k·x). Default 1. */
  scale?: number;
  /** Caller-provided output arrays, any subset (the others are allocated). */
  out?: PermuteOut;
}

/**
 * Caller-provided outputs of `permute`. The row count R is data-dependent, so each array needs *at least*
 * its output's length (rows: R × hidden, of x's array type; rowToToken: R; slotToRow: tokens × kmax;
 * offsets: experts + 1; tokensPerExpert: experts): size them once with `permuteCapacity` (the worst case
 * over every routing) and reuse them. The result's arrays are the caller's own array when its length is
 * exact, else a view of its first N elements; elements past N are never touched. No array may share memory with
 * x, ids, expertMap or another output (the whole array counts, not just the first N elements, so whether a
 * call is accepted does not depend on the routing).
 */
export interface PermuteOut {
  /** Float32Array for f32 x, Uint16Array for bf16 / f16 x; at least R × hidden elements. */
  rows?: Float32Array | Uint16Array;
  /** At least experts + 1 elements. */
  offsets?: Int32Array;
  /** At least tokens × kmax elements. */
  slotToRow?: Int32Array;
  /** At least R elements. */
  rowToToken?: Int32Array;
  /** At least experts elements. */
  tokensPerExpert?: Int32Array;
}

/** Element counts of permute's outputs, from `permuteCapacity` (worst case over every routing). */
export interface PermuteCapacity {
  /** The most rows any routing can produce: tokens·kmax + min(experts, tokens·kmax)·(align − 1). */
  maxRows: number;
  /** maxRows × hidden. */
  rows: number;
  /** experts + 1. */
  offsets: number;
  /** tokens × kmax. */
  slotToRow: number;
  /** maxRows. */
  rowToToken: number;
  /** experts. */
  tokensPerExpert: number;
}

/** The caller's outputs resolved by validation: views of exactly the needed length, or null (allocate). */
export interface PermuteOutViews {
  rows: Float32Array | Uint16Array | null;
  offsets: Int32Array | null;
  slotToRow: Int32Array | null;
  rowToToken: Int32Array | null;
  tokensPerExpert: Int32Array | null;
}

export interface PermuteResult {
  /** [rows, hidden], dtype of x: row r is token rowToToken[r] (times `scale`); rows of expert e are
   *  offsets[e] .. offsets[e+1]-1, in the stable order (slot rank, token): all rank-0 picks of the expert
   *  in token order, then rank-1 picks, ... (SPEC §3). */
  rows: Tensor<FloatDType>;
  /** [experts + 1] int32 exclusive prefix sum of the (padded) segment sizes; offsets[experts] = rows. */
  offsets: Tensor<'i32'>;
  /** [tokens, kmax] int32: the row of each slot, -1 for slots that are not gathered. */
  slotToRow: Tensor<'i32'>;
  /** [rows] int32: the token of each row, -1 for padding rows. */
  rowToToken: Tensor<'i32'>;
  /** [experts] int32: real (unpadded) rows per expert. */
  tokensPerExpert: Tensor<'i32'>;
}

/** What a backend receives: resolved tensors, the segment table and the preallocated sizes (no checks left). */
export interface PermuteValidated {
  /** [tokens, hidden] float. */
  x: Tensor<FloatDType>;
  /** [tokens, kmax] int32, values in [-1, totalExperts), no id twice in a row. */
  ids: Tensor<'i32'>;
  tokens: number;
  hidden: number;
  kmax: number;
  /** Number of segments (local FFN experts). */
  experts: number;
  totalExperts: number;
  /** [totalExperts] global id -> segment in [0, experts), or -1 (zero-computation expert or not local).
   *  Resolved from `expertMap`, or the identity on [0, experts) and -1 above. */
  segmentOf: Int32Array;
  align: number;
  scale: number;
  /** [experts] real rows per segment. */
  tokensPerExpert: Int32Array;
  /** [experts + 1] exclusive prefix sum of the padded segment sizes. */
  offsets: Int32Array;
  /** Total rows R = offsets[experts]. */
  rows: number;
  /** Caller-provided outputs, already cut to their exact lengths; backends write into the non-null ones. */
  out: PermuteOutViews;
}
