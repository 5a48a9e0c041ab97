// The one place backends allocate output arrays. Tests swap the allocator for a poisoning one (guard words
// around each output, every element pre-filled with a signalling-NaN pattern) to prove that kernels write
// every element and nothing outside their outputs (test/conformance/harness.ts).

import type { ArrayFor, DType } from '../dtype';
import { bytesPerElement } from '../dtype';

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

/** allocOutput's signature, for the allocator of one call (slabAllocator). */
export type Alloc = <D extends DType>(dtype: D, length: number) => ArrayFor<D>;

/** Installs `a` (null: the default) and returns the allocator it replaces. */
export function setAllocator(a: Allocator | null): Allocator {
  const previous = current;
  current = a ?? defaultAllocator;
  return previous;
}

/** A slab holds at most this many bytes: one array of a slab keeps all of it alive. */
const SLAB_MAX_BYTES = 64 * 1024;
const SLAB_ALIGN = 64;

const aligned = (bytes: number): number => Math.ceil(bytes / SLAB_ALIGN) * SLAB_ALIGN;

/**
 * The allocator of one call whose outputs are planned up front as (dtype, length) pairs: under the default
 * allocator they are views into one zero-filled ArrayBuffer, each on a 64-byte boundary, handed out in the
 * order asked for; anything past the plan, a plan over 64 KiB, or a test allocator (which must see every
 * output) gets allocOutput's arrays. Why, for a T = 1 layer forward's ten small outputs (Zen 4 VM, caches
 * flushed): each fresh ArrayBuffer cost ~10 us, a view into one ~0.3 us; and a typed array of 64 bytes or
 * less lives on the V8 heap, where the addon's first look at it (napi_get_typedarray_info) moves it off the
 * heap, a buffer allocation of its own: ids, weights and counts on the heap made the native call 14-34 us
 * slower (median of paired calls). The arrays are disjoint; they share a `.buffer`.
 */
export function slabAllocator(plan: readonly (readonly [DType, number])[]): Alloc {
  if (current !== defaultAllocator) return allocOutput;
  let bytes = 0;
  for (const [dtype, length] of plan) bytes += aligned(length * bytesPerElement(dtype));
  if (bytes > SLAB_MAX_BYTES) return allocOutput;
  const buffer = new ArrayBuffer(bytes);
  let offset = 0;
  const carve: Allocator = (dtype, length) => {
    const size = length * bytesPerElement(dtype);
    if (offset + size > bytes) return defaultAllocator(dtype, length);
    const at = offset;
    offset += aligned(size);
    return dtype === 'f32' ? new Float32Array(buffer, at, length) : dtype === 'i32' ? new Int32Array(buffer, at, length) : new Uint16Array(buffer, at, length);
  };
  return carve as Alloc;
}
