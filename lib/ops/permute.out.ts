// Caller-provided outputs of `permute` (args.out): checked here, cut to their exact lengths, and the two
// outputs that validation itself computes (offsets, tokensPerExpert) copied into them by the backends.

import type { FloatDType } from '../dtype';
import type { Check } from '../errors';
import { isDetached } from '../tensor';
import { overlaps } from './convert';
import type { PermuteOutViews, PermuteValidated } from './permute.types';

export const OUT_NAMES = ['rows', 'offsets', 'slotToRow', 'rowToToken', 'tokensPerExpert'] as const;
type OutName = (typeof OUT_NAMES)[number];

export const NO_OUT: PermuteOutViews = { rows: null, offsets: null, slotToRow: null, rowToToken: null, tokensPerExpert: null };

/** Elements each output needs for this call. */
export type OutLengths = Record<OutName, number>;

/** A typed array of class `name`, also from another realm (a worker's or a vm context's arrays). */
function isArrayOf(v: unknown, name: 'Float32Array' | 'Uint16Array' | 'Int32Array'): boolean {
  const ctor = name === 'Float32Array' ? Float32Array : name === 'Uint16Array' ? Uint16Array : Int32Array;
  return v instanceof ctor || (ArrayBuffer.isView(v) && Object.prototype.toString.call(v) === `[object ${name}]`);
}

/**
 * Checks `args.out` and returns views of exactly `need` elements onto the given arrays (the array itself when
 * its length is exact). `inputs` are the arrays the op reads while it writes the outputs.
 */
export function validatePermuteOut(c: Check, v: unknown, dtype: FloatDType, need: OutLengths,
  inputs: readonly (readonly [string, ArrayBufferView | undefined])[]): PermuteOutViews {
  // A bare typed array (as unpermute's `out` is) would otherwise read as an object with no outputs.
  if (ArrayBuffer.isView(v)) c.type('out', 'an object {rows?, offsets?, slotToRow?, rowToToken?, tokensPerExpert?}', v);
  const o = c.object('out', v);
  for (const k of Object.keys(o)) {
    // A misspelt name would silently allocate instead of writing where the caller expects.
    if (o[k] !== undefined && !(OUT_NAMES as readonly string[]).includes(k)) {
      c.range('out', `has no output '${k}' (permute's outputs: ${OUT_NAMES.join(', ')})`);
    }
  }
  const views: PermuteOutViews = { ...NO_OUT };
  const given: [string, ArrayBufferView][] = [];
  for (const name of OUT_NAMES) {
    const a = o[name];
    if (a === undefined) continue;
    const arg = `out.${name}`;
    const cls = name !== 'rows' ? 'Int32Array' : dtype === 'f32' ? 'Float32Array' : 'Uint16Array';
    if (!isArrayOf(a, cls)) c.type(arg, `a ${cls}${name === 'rows' ? ` for x of dtype '${dtype}'` : ''}`, a);
    const arr = a as Float32Array | Uint16Array | Int32Array;
    if (isDetached(arr.buffer)) c.range(arg, 'is a view of a detached ArrayBuffer');
    const n = need[name];
    if (arr.length < n) {
      const what = name === 'rows' ? 'R × hidden' : name === 'rowToToken' ? 'R' : name === 'slotToRow' ? 'tokens × kmax'
        : name === 'offsets' ? 'experts + 1' : 'experts';
      c.range(arg, `must have at least ${what} = ${n} elements, got ${arr.length} (permuteCapacity gives the worst case)`);
    }
    // The gather writes outputs while it reads the inputs (and offsets / rows while writing the others). The
    // whole array is checked, not only its first n elements, so acceptance never depends on the routing.
    for (const [input, t] of inputs) {
      if (t !== undefined && overlaps(arr, t)) c.range(arg, `must not share memory with '${input}'`);
    }
    for (const [other, t] of given) {
      if (overlaps(arr, t)) c.range(arg, `must not share memory with '${other}'`);
    }
    given.push([arg, arr]);
    (views as unknown as Record<OutName, ArrayBufferView>)[name] = arr.length === n ? arr : arr.subarray(0, n);
  }
  return views;
}

/** The first caller output detached or resized since validation (its view no longer has its length), or null. */
export function lostOutput(v: PermuteValidated): string | null {
  const need: OutLengths = {
    rows: v.rows * v.hidden, offsets: v.experts + 1, slotToRow: v.tokens * v.kmax, rowToToken: v.rows, tokensPerExpert: v.experts,
  };
  for (const name of OUT_NAMES) {
    const view = v.out[name];
    if (view !== null && view.length !== need[name]) return `out.${name}`;
  }
  return null;
}

/** Throws unless every caller output is still whole: an async call whose output was transferred away while
 *  it was pending must reject, never report a result that is not there (as the native bindings do). */
export function assertOutputsKept(v: PermuteValidated, when: 'before the op ran' | 'while the op ran'): void {
  const lost = lostOutput(v);
  if (lost !== null) throw new Error(`permute: '${lost}' was detached or resized ${when}; its result is lost`);
}

/** offsets and tokensPerExpert (computed by validation): copied into the caller's arrays, or fresh copies. */
export function layoutOutputs(v: PermuteValidated): { offsets: Int32Array; tokensPerExpert: Int32Array } {
  const put = (dst: Int32Array | null, src: Int32Array): Int32Array => {
    if (dst === null) return src.slice();
    dst.set(src);
    return dst;
  };
  return { offsets: put(v.out.offsets, v.offsets), tokensPerExpert: put(v.out.tokensPerExpert, v.tokensPerExpert) };
}
