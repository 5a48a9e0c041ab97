// Types of the `grouped_gemm` op: per-expert Y_e = act(A_e · W_e^T + bias_e + addend) over row segments.

import type { FloatDType } from '../dtype';
import type { Tensor, TensorLike } from '../tensor';

/**
 * Fused epilogues. `gelu` is the erf form, `gelu_tanh` the tanh approximation. `swiglu` / `geglu` split the
 * N outputs into gate and up halves (see GluLayout) and return act(gate) * up, so the output has N / 2
 * columns. `tanh` and `sigmoid` serve the MoE++ two-layer router and gates.
 */
export type Activation = 'none' | 'relu' | 'gelu' | 'gelu_tanh' | 'silu' | 'swiglu' | 'geglu' | 'tanh' | 'sigmoid';
export const ACTIVATIONS: readonly Activation[] = ['none', 'relu', 'gelu', 'gelu_tanh', 'silu', 'swiglu', 'geglu', 'tanh', 'sigmoid'];

/** `halves`: columns 0..N/2-1 are the gate, N/2..N-1 the up projection (vLLM silu_and_mul, MoE++).
 *  `interleaved`: even columns gate, odd columns up. */
export type GluLayout = 'halves' | 'interleaved';

export interface GroupedGemmArgs {
  /** Input rows A [rows, K] (f32, bf16 or f16). */
  a: TensorLike;
  /** Weights W [experts, N, K] ([out, in], the checkpoint layout) (f32, bf16 or f16). A dense GEMM is one expert. */
  w: TensorLike;
  /** [experts + 1] int32: rows of expert e are offsets[e] .. offsets[e+1]-1; offsets[0] = 0,
   *  non-decreasing, offsets[experts] = rows. Default for one expert: [0, rows]. */
  offsets?: TensorLike | Int32Array;
  /** Per-expert bias [experts, N] (f32). */
  bias?: TensorLike | Float32Array;
  /** Per-row addend [rows, N] (f32), added before the activation (the gating residual z = r + Wres·z'). */
  addend?: TensorLike | Float32Array;
  /** Default 'none'. */
  activation?: Activation;
  /** Required wording for swiglu / geglu; default 'halves'. */
  gluLayout?: GluLayout;
  /** Output dtype; default: the dtype of `a`. */
  outDtype?: FloatDType;
  /** Optional preallocated output [rows, N or N/2] of `outDtype`. */
  out?: Float32Array | Uint16Array;
}

export interface GroupedGemmResult {
  /** [rows, N] or [rows, N/2] for swiglu / geglu. */
  y: Tensor<FloatDType>;
}

/** Arguments after validation (lib/ops/grouped_gemm.ts): resolved tensors, sizes and defaults. Backends
 *  read these without checks; `out` is always allocated (kernels never allocate their outputs). */
export interface GroupedGemmValidated {
  /** A [rows, k]. */
  a: Tensor<FloatDType>;
  /** W [experts, n, k]. */
  w: Tensor<FloatDType>;
  /** [experts + 1], offsets[0] = 0, non-decreasing, offsets[experts] = rows. */
  offsets: Int32Array;
  /** [experts, n] or undefined. */
  bias?: Float32Array;
  /** [rows, n] or undefined. */
  addend?: Float32Array;
  activation: Activation;
  gluLayout: GluLayout;
  outDtype: FloatDType;
  rows: number;
  k: number;
  /** Columns of the product (before GLU halving). */
  n: number;
  experts: number;
  /** Columns of the output: n, or n / 2 for swiglu / geglu. */
  nOut: number;
  /** [rows, nOut] of outDtype: the caller's `out` or a fresh array. Every element is written. */
  out: Float32Array | Uint16Array;
}
