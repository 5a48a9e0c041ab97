// Host tensors: a typed array, a shape and a dtype. Nothing more.
//
// Anything shaped like {data, shape | dims, dtype | type} converts without copying: our own tensors,
// onnxruntime-node `Tensor`s ({data, dims, type: 'float32' | 'float16' | 'bfloat16' | 'int32'}), and plain
// objects built around a tfjs `dataSync()` result. A bare Float32Array / Int32Array is accepted where an op
// knows the shape from its other arguments (the op passes `shape`).

import { ArrayFor, DType, bf16ToF32, f16ToF32 } from './dtype';
import { Check, describe } from './errors';

export interface Tensor<D extends DType = DType> {
  readonly data: ArrayFor<D>;
  readonly shape: readonly number[];
  readonly dtype: D;
}

/** What every op accepts where it takes a tensor. */
export type TensorLike =
  | Tensor
  | { readonly data: ArrayBufferView; readonly shape?: readonly number[]; readonly dims?: readonly number[]; readonly dtype?: string; readonly type?: string };

export type FloatTensor = Tensor<'f32'> | Tensor<'bf16'> | Tensor<'f16'>;

const TYPE_ALIASES: Record<string, DType> = {
  f32: 'f32', float32: 'f32',
  bf16: 'bf16', bfloat16: 'bf16',
  f16: 'f16', float16: 'f16',
  i32: 'i32', int32: 'i32',
};

function arrayDType(a: ArrayBufferView): DType | 'u16' | undefined {
  if (a instanceof Float32Array || Object.prototype.toString.call(a) === '[object Float32Array]') return 'f32';
  if (a instanceof Int32Array || Object.prototype.toString.call(a) === '[object Int32Array]') return 'i32';
  if (a instanceof Uint16Array || Object.prototype.toString.call(a) === '[object Uint16Array]') return 'u16';
  return undefined;
}

/** True for a detached (transferred) ArrayBuffer; only an empty buffer can be one. */
export function isDetached(b: ArrayBufferLike): boolean {
  if (b.byteLength !== 0) return false;
  try {
    new Uint8Array(b);
    return false;
  } catch {
    return true;
  }
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Allocate a zero-filled tensor. */
export function zeros<D extends DType>(dtype: D, shape: readonly number[]): Tensor<D> {
  const n = numel(shape);
  const data = (dtype === 'f32' ? new Float32Array(n) : dtype === 'i32' ? new Int32Array(n) : new Uint16Array(n)) as ArrayFor<D>;
  return { data, shape: [...shape], dtype };
}

/**
 * Make a tensor from a typed array. `dtype` defaults from the array type (Float32Array -> 'f32',
 * Int32Array -> 'i32'); a Uint16Array needs 'bf16' or 'f16'. Throws if the length does not match the shape.
 */
export function tensor<D extends DType>(data: ArrayFor<D>, shape: readonly number[], dtype?: D): Tensor<D> {
  return toTensor(new Check('tensor'), 'data', { data, shape, dtype }) as Tensor<D>;
}

export interface ToTensorOptions {
  /** Allowed dtypes (default: all). */
  dtypes?: readonly DType[];
  /** Shape to use when `v` is a bare typed array, or to require of a tensor (-1 = any size). */
  shape?: readonly number[];
  /** Names of the dimensions, for messages (e.g. ['tokens', 'hidden']). */
  dims?: readonly string[];
}

/** Validate `v` as a tensor argument named `arg` of op `c.op`; return it as a Tensor (no copy). */
export function toTensor(c: Check, arg: string, v: unknown, opt: ToTensorOptions = {}): Tensor {
  let data: ArrayBufferView;
  let shape: readonly number[] | undefined;
  let declared: string | undefined;
  if (ArrayBuffer.isView(v)) {
    data = v;
    shape = opt.shape?.some((d) => d < 0) ? undefined : opt.shape;
    if (shape === undefined) c.type(arg, 'a tensor {data, shape, dtype} (a bare typed array needs a known shape)', v);
  } else if (typeof v === 'object' && v !== null && ArrayBuffer.isView((v as { data?: unknown }).data)) {
    const o = v as { data: ArrayBufferView; shape?: unknown; dims?: unknown; dtype?: unknown; type?: unknown };
    data = o.data;
    const s = o.shape ?? o.dims;
    if (!Array.isArray(s) && !ArrayBuffer.isView(s)) c.type(`${arg}.shape`, 'an array of dimensions', s);
    shape = Array.from(s as ArrayLike<number>, Number);
    const t = o.dtype ?? o.type;
    if (t !== undefined) {
      if (typeof t !== 'string' || TYPE_ALIASES[t] === undefined) c.type(`${arg}.dtype`, "one of 'f32', 'bf16', 'f16', 'i32'", t);
      declared = t;
    }
  } else {
    return c.type(arg, 'a tensor {data, shape, dtype} or a typed array', v);
  }
  const held = arrayDType(data);
  if (held === undefined) c.type(`${arg}.data`, 'a Float32Array, Uint16Array (bf16 / f16 bits) or Int32Array', data);
  let dtype: DType;
  if (declared !== undefined) {
    dtype = TYPE_ALIASES[declared]!;
    const needs = dtype === 'f32' ? 'f32' : dtype === 'i32' ? 'i32' : 'u16';
    if (held !== needs) c.type(`${arg}.data`, `a ${needs === 'u16' ? 'Uint16Array' : needs === 'f32' ? 'Float32Array' : 'Int32Array'} for dtype '${dtype}'`, data);
  } else if (held === 'u16') {
    return c.type(`${arg}.dtype`, "'bf16' or 'f16' (a Uint16Array holds 16-bit floats of either kind)", undefined);
  } else {
    dtype = held;
  }
  if (opt.dtypes && !opt.dtypes.includes(dtype)) {
    c.type(`${arg}.dtype`, `one of ${opt.dtypes.map((d) => `'${d}'`).join(', ')}`, dtype);
  }
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) c.range(`${arg}.shape`, `must hold non-negative integers, got [${shape.join(', ')}]`);
  }
  const n = numel(shape);
  const len = (data as unknown as { length: number }).length;
  if (len !== n) {
    c.range(arg, `has ${len} elements but its shape [${shape.join(', ')}] needs ${n}${len === 0 && data.buffer.byteLength === 0 ? ' (is its buffer detached?)' : ''}`);
  }
  // An empty view of a detached buffer has the right length, but every typed-array method throws on it.
  if (len === 0 && isDetached(data.buffer)) c.range(arg, 'is a view of a detached ArrayBuffer');
  if (opt.shape) {
    const names = opt.dims ?? [];
    if (shape.length !== opt.shape.length) {
      c.range(`${arg}.shape`, `must have ${opt.shape.length} dimensions${names.length ? ` [${names.join(', ')}]` : ''}, got [${shape.join(', ')}]`);
    }
    opt.shape.forEach((want, i) => {
      if (want >= 0 && shape![i] !== want) {
        c.range(`${arg}.shape`, `dimension ${i}${names[i] ? ` (${names[i]})` : ''} must be ${want}, got [${shape!.join(', ')}]`);
      }
    });
  }
  return { data: data as ArrayFor<DType>, shape, dtype } as Tensor;
}

/** The elements of a float tensor as f32 values (a view for f32, a decoded copy for bf16 / f16). */
export function toF32(t: Tensor): Float32Array {
  if (t.dtype === 'f32') return t.data as Float32Array;
  if (t.dtype === 'i32') return Float32Array.from(t.data as Int32Array);
  const src = t.data as Uint16Array;
  const out = new Float32Array(src.length);
  const dec = t.dtype === 'bf16' ? bf16ToF32 : f16ToF32;
  for (let i = 0; i < src.length; i++) out[i] = dec(src[i]!);
  return out;
}

export { describe };
