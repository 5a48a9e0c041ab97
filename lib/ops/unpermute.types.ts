// Types of the `unpermute` op (combine): out_t = Σ_j w[t,j] · expert_{ids[t,j]}(u_t) + shared_t + residual_t.

import type { FloatDType } from '../dtype';
import type { Tensor, TensorLike } from '../tensor';

export interface ConstantExperts {
  /** Expert ids of the constant experts, in order. */
  ids: readonly number[];
  /** Wc [nConst, 2, hidden] (f32): (a1, a2) = softmax(Wc_j u). */
  wc: TensorLike | Float32Array;
  /** v [nConst, hidden] (f32): Cst_j(u) = a1·u + a2·v_j. */
  v: TensorLike | Float32Array;
}

export interface UnpermuteArgs {
  /** Expert outputs Y [rows, hidden] from the FFN experts (f32, bf16 or f16), in permute's row order. */
  y: TensorLike;
  /** Routing ids [tokens, kmax]; -1 = empty. */
  ids: TensorLike | Int32Array;
  /** Routing weights [tokens, kmax] (f32). */
  weights: TensorLike | Float32Array;
  /** From permute: [tokens, kmax] row of each slot, -1 when the slot has no FFN row. */
  slotToRow: TensorLike | Int32Array;
  /** Zero experts: contribute nothing (their gate still counts where the router says so). */
  zeroExperts?: readonly number[];
  /** Copy experts: Cp(u) = u. */
  copyExperts?: readonly number[];
  /** Constant experts (MoE++). */
  constantExperts?: ConstantExperts;
  /** Expert input u [tokens, hidden] (the layer input x, before `inputScale`); required with copy or
   *  constant experts. */
  x?: TensorLike;
  /** u = inputScale · x for copy and constant experts (MoE++ scales by k). Default 1. */
  inputScale?: number;
  /** Shared-expert output [tokens, hidden], added with weight 1. */
  shared?: TensorLike;
  /** Residual [tokens, hidden], added last. */
  residual?: TensorLike;
  /** Output dtype; default the dtype of y. */
  outDtype?: FloatDType;
  /** Optional preallocated output [tokens, hidden] of `outDtype`. */
  out?: Float32Array | Uint16Array;
}

export interface UnpermuteResult {
  /** [tokens, hidden]. Slots summed in slot order in f32 (f64 in the reference), then shared, then residual. */
  out: Tensor<FloatDType>;
}

/** What a backend receives: resolved tensors and defaults (no checks left). */
export interface UnpermuteValidated {
  /** [rows, hidden] float. */
  y: Tensor<FloatDType>;
  /** [tokens, kmax] int32, values >= -1. */
  ids: Tensor<'i32'>;
  /** [tokens, kmax] f32 (finite or NaN). */
  weights: Tensor<'f32'>;
  /** [tokens, kmax] int32 in [-1, rows); every row index at most once; a row's slot has an FFN id. */
  slotToRow: Tensor<'i32'>;
  tokens: number;
  hidden: number;
  kmax: number;
  rows: number;
  /** Disjoint lists of non-negative expert ids. */
  zeroExperts: Int32Array;
  copyExperts: Int32Array;
  /** Constant experts: ids [nConst], wc [nConst, 2, hidden] f32, v [nConst, hidden] f32 (nConst may be 0). */
  constantIds: Int32Array;
  wc: Tensor<'f32'> | null;
  v: Tensor<'f32'> | null;
  /** [tokens, hidden]; present whenever copy or constant experts are. */
  x: Tensor<FloatDType> | null;
  inputScale: number;
  shared: Tensor<FloatDType> | null;
  residual: Tensor<FloatDType> | null;
  outDtype: FloatDType;
  /** Preallocated output of length tokens * hidden and the array type of outDtype, or null (allocate). */
  out: Float32Array | Uint16Array | null;
}
