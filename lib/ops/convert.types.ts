// Types of the `convert` op: f32 <-> bf16 / f16, round to nearest even, NaN stays NaN.

import type { FloatDType } from '../dtype';
import type { Tensor, TensorLike } from '../tensor';

export interface ConvertArgs {
  /** Any shape; a bare Float32Array is a 1-D f32 tensor (a bare Uint16Array needs its dtype named). */
  x: TensorLike | Float32Array;
  to: FloatDType;
  /** Optional preallocated output of the target dtype and the same length. */
  out?: Float32Array | Uint16Array;
}
export interface ConvertResult { y: Tensor<FloatDType> }

/** Arguments after validation (lib/ops/convert.ts). `out` is always allocated (the caller's or fresh). */
export interface ConvertValidated {
  x: Tensor<FloatDType>;
  to: FloatDType;
  /** Same length as x.data, of the array type of `to`. Every element is written. */
  out: Float32Array | Uint16Array;
}
