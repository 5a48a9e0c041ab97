// Mutations every op shares: wrong kinds of values, bad sizes, lengths that do not match shapes, detached
// buffers, aliasing. Each returns what must happen (see Expect in core.ts).

import type { Expect, Gen, Mutation } from './core';
import { detach } from './arena';

type Args = Record<string, unknown>;

/** Values of the wrong kind for any argument (none is undefined: that would mean "absent"). */
const WRONG_KINDS: unknown[] = ['x', 42, null, true, [1, 2, 3], { a: 1 }, () => 0, Symbol('s'), 10n];

/** The data view of a tensor argument, bare or {data, shape}. */
export function dataOf(v: unknown): ArrayBufferView | undefined {
  if (ArrayBuffer.isView(v)) return v;
  const d = (v as { data?: unknown } | undefined)?.data;
  return ArrayBuffer.isView(d) ? d : undefined;
}

/** Reads a dotted path ('capacity.factor') of an args object. */
function get(args: Args, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Args | undefined)?.[k], args);
}

function set(args: Args, path: string, v: unknown): void {
  const keys = path.split('.');
  const last = keys.pop()!;
  const o = keys.reduce<unknown>((x, k) => (x as Args)[k], args) as Args;
  o[last] = v;
}

const rootOf = (path: string): string => path.split('.')[0]!;

/** Plain objects: the right kind for option bags (capacity, prune, constantExperts). */
export const plainObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The argument replaced by a value of the wrong kind: a TypeError naming it. */
export function wrongKind<S>(path: string, when?: (s: S) => boolean, exclude?: (v: unknown) => boolean): Mutation<S> {
  return {
    name: `${path}: wrong kind of value`,
    ...(when ? { when } : {}),
    apply: (args, _s, g) => {
      // A value of the kind the argument holds now (a number for a size) is not a wrong kind.
      const now = typeof get(args, path);
      const choices = WRONG_KINDS.filter((v) => (!exclude || !exclude(v)) && (now === 'object' || now === 'undefined' || typeof v !== now));
      set(args, path, g.pick(choices));
      return { must: 'TypeError', names: [rootOf(path)] };
    },
  };
}

/** A tensor's data replaced by an array of another element type (same length). */
export function wrongArrayType<S>(path: string, when?: (s: S) => boolean): Mutation<S> {
  return {
    name: `${path}: wrong typed array`,
    ...(when ? { when } : {}),
    apply: (args, _s, g) => {
      const v = get(args, path);
      const d = dataOf(v) as unknown as { length: number; constructor: { name: string } } | undefined;
      if (!d) return {};
      const ctors = [Float64Array, Uint8Array, Int8Array, Uint32Array, Int16Array, Float32Array, Uint16Array, Int32Array]
        .filter((C) => C.name !== d.constructor.name);
      const C = g.pick(ctors);
      const w = new C(d.length);
      set(args, path, ArrayBuffer.isView(v) ? w : { ...(v as object), data: w });
      // Some substitutions are legal elsewhere (a Uint16Array where an f32 tensor is named bf16...): any
      // outcome is fine as long as it is checked; a type the API never accepts must be a TypeError.
      const never = ['Float64Array', 'Uint8Array', 'Int8Array', 'Uint32Array', 'Int16Array'].includes(C.name);
      return never ? { must: 'TypeError', names: [rootOf(path)] } : { names: [rootOf(path)] };
    },
  };
}

/** A tensor's shape made inconsistent with its length, or invalid (NaN, negative, fractional, huge). */
export function badShape<S>(path: string, when?: (s: S) => boolean): Mutation<S> {
  return {
    name: `${path}: bad shape`,
    ...(when ? { when } : {}),
    apply: (args, _s, g) => {
      const v = get(args, path) as { shape?: number[]; dims?: number[] } | undefined;
      if (!v || ArrayBuffer.isView(v) || !Array.isArray(v.shape)) return {};
      const shape = [...v.shape];
      const i = g.rng.int(shape.length + 1);
      const bad = g.pick([NaN, -1, 1.5, Infinity, 2 ** 53, 2 ** 31, 2 ** 32 + 1, -0.5, shape[i] === undefined ? 3 : shape[i]! + 1]);
      if (i === shape.length) shape.push(bad === shape[i] ? 2 : bad);
      else shape[i] = bad;
      set(args, path, { ...v, shape });
      // Another argument may be named: the shape fixes sizes (tokens, hidden) the others are checked against.
      return {};
    },
  };
}

/** The buffer under a tensor argument detached (transferred away) before the call. */
export function detached<S>(path: string, when?: (s: S) => boolean): Mutation<S> {
  return {
    name: `${path}: detached buffer`,
    ...(when ? { when } : {}),
    apply: (args) => {
      const v = get(args, path);
      const d = dataOf(v);
      if (!d) return {};
      const empty = d.byteLength === 0;
      detach(d);
      // Other arguments may share the buffer; they are detached too and may be named instead. A bare
      // detached array is an empty array (length 0): refused only where another argument fixes its length.
      return empty || ArrayBuffer.isView(v) ? {} : { must: 'RangeError' };
    },
  };
}

/** A numeric argument replaced by a bad size or value. `valid(v)` says which values the API accepts. */
export function badNumber<S>(path: string, valid: (v: number, s: S) => boolean, when?: (s: S) => boolean, extra: number[] = [],
  exclude?: (v: number) => boolean): Mutation<S> {
  const values = [NaN, -1, 0, -0, 0.5, 1.5, Infinity, -Infinity, 2 ** 31, 2 ** 31 - 1, 2 ** 32, 2 ** 53, 1e300, 1 << 20, ...extra]
    .filter((v) => !exclude?.(v));
  return {
    name: `${path}: bad number`,
    ...(when ? { when } : {}),
    apply: (args, s, g) => {
      const v = g.pick(values);
      set(args, path, v);
      return valid(v, s) ? { names: [rootOf(path)] } : { must: 'RangeError', names: [rootOf(path)] };
    },
  };
}

/** An enum argument replaced by an unknown string: a RangeError naming it. */
export function badEnum<S>(path: string, when?: (s: S) => boolean): Mutation<S> {
  return {
    name: `${path}: unknown enum value`,
    ...(when ? { when } : {}),
    apply: (args, _s, g) => {
      set(args, path, g.pick(['', 'none ', 'F32', 'auto?', 'unknown', '__proto__', 'constructor']));
      return { must: 'RangeError', names: [rootOf(path)] };
    },
  };
}

/** The whole args object of the wrong kind. */
export function argsNotObject<S>(): Mutation<S> {
  return {
    name: 'args: not an object',
    apply: (_args, _s, g) => ({ must: 'TypeError', names: ['args'], replaceArgs: g.pick([null, 3, 'args', [1], true]) }),
  };
}

/** Sets `path` to a typed array that overlaps `target`'s memory (exactly, or shifted by some elements). */
export function aliasOut(g: Gen, args: Args, path: string, target: ArrayBufferView, length: number, ctor: 'f32' | 'u16'): 'exact' | 'partial' {
  const C = ctor === 'f32' ? Float32Array : Uint16Array;
  const size = C.BYTES_PER_ELEMENT;
  const room = (target.buffer.byteLength - target.byteOffset) / size;
  const exact = target.byteLength === length * size && target.byteOffset % size === 0 && g.rng.int(2) === 0;
  let offset = exact ? target.byteOffset : target.byteOffset + size * (1 + g.rng.int(3));
  if (offset % size !== 0 || (offset - target.byteOffset) / size + length > room) offset = target.byteOffset - (target.byteOffset % size);
  const v = new C(target.buffer as ArrayBuffer, offset, Math.min(length, Math.floor((target.buffer.byteLength - offset) / size)));
  set(args, path, g.arena.output(v));
  return v.byteOffset === target.byteOffset && v.byteLength === target.byteLength ? 'exact' : 'partial';
}

/** `m`, whose errors may also name `names` (a config size that makes a weight's shape wrong, say). */
export function alsoNames<S>(m: Mutation<S>, names: string[]): Mutation<S> {
  return {
    ...m,
    apply: (args, s, g) => {
      const e = m.apply(args, s, g);
      return e.names ? { ...e, names: [...e.names, ...names] } : e;
    },
  };
}

export type { Expect };
