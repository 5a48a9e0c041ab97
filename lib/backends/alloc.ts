// The one place backends allocate output arrays. Tests swap the allocator for a poisoning one (guard words
// around each output, every element pre-filled with a signalling-NaN pattern) to prove that kernels write
// every element and nothing outside their outputs (test/conformance/harness.ts).

import type { ArrayFor, DType } from '../dtype';

export type OutputArray = Float32Array | Uint16Array | Int32Array;
export type Allocator = (dtype: DType, length: number) => OutputArray;

/** Zero-filled arrays of the type that holds `dtype`. */
export const defaultAllocator: Allocator = (dtype, length) =>
  dtype === 'f32' ? new Float32Array(length) : dtype === 'i32' ? new Int32Array(length) : new Uint16Array(length);

let current: Allocator = defaultAllocator;

/** A fresh output of `length` elements of `dtype`, from the current allocator. Its contents are unspecified:
 *  the op must write every element. */
export function allocOutput<D extends DType>(dtype: D, length: number): ArrayFor<D> {
  return current(dtype, length) as ArrayFor<D>;
}

/** Installs `a` (null: the default) and returns the allocator it replaces. */
export function setAllocator(a: Allocator | null): Allocator {
  const previous = current;
  current = a ?? defaultAllocator;
  return previous;
}
