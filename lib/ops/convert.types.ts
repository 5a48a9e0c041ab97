// Types of the `convert` op: f32 <-> bf16 / f16, round to nearest even, NaN stays NaN.

import type { FloatDType } from '../dtype';
import type { Tensor, TensorLike } from '../tensor';

export interface ConvertArgs {
  x: TensorLike;
  to: FloatDType;
  /** Optional preallocated output of the target dtype and the same length. */
  out?: Float32Array | Uint16Array;
}
export interface ConvertResult { y: Tensor<FloatDType> }
