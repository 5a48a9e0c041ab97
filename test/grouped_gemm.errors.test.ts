// grouped_gemm: every bad argument throws a TypeError / RangeError naming it, before any work.

import { groupedGemm, validateGroupedGemm } from '../lib/ops/grouped_gemm';
import { GroupedGemmArgs } from '../lib/ops/grouped_gemm.types';
import { expectArgError } from './util';

// rows 4, K 3, E 2, N 4.
const a = { data: new Float32Array(12).fill(0.5), shape: [4, 3], dtype: 'f32' as const };
const w = { data: new Float32Array(24).fill(0.25), shape: [2, 4, 3], dtype: 'f32' as const };
const offsets = Int32Array.of(0, 1, 4);
const ok: GroupedGemmArgs = { a, w, offsets };
const withArgs = (over: Record<string, unknown>): (() => unknown) => () => groupedGemm({ ...ok, ...over } as GroupedGemmArgs);

describe('grouped_gemm validation', () => {
  test('the valid base case works and resolves defaults', () => {
    const v = validateGroupedGemm(ok);
    expect([v.rows, v.k, v.n, v.experts, v.nOut]).toEqual([4, 3, 4, 2, 4]);
    expect([v.activation, v.gluLayout, v.outDtype]).toEqual(['none', 'halves', 'f32']);
    expect(v.out).toBeInstanceOf(Float32Array);
    expect(Array.from(groupedGemm(ok).y.data)).toEqual(new Array(16).fill(0.375));
    const half = validateGroupedGemm({ ...ok, a: { data: new Uint16Array(12), shape: [4, 3], dtype: 'bf16' } });
    expect(half.outDtype).toBe('bf16');
    expect(half.out).toBeInstanceOf(Uint16Array);
  });

  test.each([
    ['args', TypeError, () => groupedGemm(undefined as never)],
    ['a', TypeError, withArgs({ a: undefined })],
    ['a', TypeError, withArgs({ a: new Float32Array(12) })], // bare array: shape unknown
    ['a.dtype', TypeError, withArgs({ a: { data: new Int32Array(12), shape: [4, 3], dtype: 'i32' } })],
    ['a.dtype', TypeError, withArgs({ a: { data: new Uint16Array(12), shape: [4, 3] } })],
    ['a.shape', RangeError, withArgs({ a: { data: new Float32Array(12), shape: [12], dtype: 'f32' } })],
    ['a.shape', RangeError, withArgs({ a: { data: new Float32Array(12), shape: [NaN, 3], dtype: 'f32' } })],
    ['a.shape', RangeError, withArgs({ a: { data: new Float32Array(12), shape: [-4, -3], dtype: 'f32' } })],
    ['a.shape', RangeError, withArgs({ a: { data: new Float32Array(12), shape: [4.5, 3], dtype: 'f32' } })],
    ['a', RangeError, withArgs({ a: { data: new Float32Array(11), shape: [4, 3], dtype: 'f32' } })],
    ['a.data', TypeError, withArgs({ a: { data: new Float32Array(12), shape: [4, 3], dtype: 'f16' } })],
    ['w.shape', RangeError, withArgs({ w: { data: new Float32Array(16), shape: [2, 4, 2], dtype: 'f32' } })],
    ['w.shape', RangeError, withArgs({ w: { data: new Float32Array(24), shape: [8, 3], dtype: 'f32' } })],
    ['w.dtype', TypeError, withArgs({ w: { data: new Int32Array(24), shape: [2, 4, 3], dtype: 'int32' } })],
    ['w', RangeError, withArgs({ w: { data: new Float32Array(18), shape: [2, 3, 3], dtype: 'f32' }, activation: 'swiglu' })],
    ['w', RangeError, withArgs({ w: { data: new Float32Array(18), shape: [2, 3, 3], dtype: 'f32' }, activation: 'geglu' })],
    ['offsets', TypeError, withArgs({ offsets: undefined })],
    ['offsets', RangeError, withArgs({ offsets: Int32Array.of(0, 4) })],
    ['offsets.shape', RangeError, withArgs({ offsets: { data: Int32Array.of(0, 1, 4), shape: [1, 3], dtype: 'i32' } })],
    ['offsets.dtype', TypeError, withArgs({ offsets: Float32Array.of(0, 1, 4) })],
    ['offsets', TypeError, withArgs({ offsets: [0, 1, 4] })],
    ['offsets', RangeError, withArgs({ offsets: Int32Array.of(1, 1, 4) })],
    ['offsets', RangeError, withArgs({ offsets: Int32Array.of(0, 3, 2) })],
    ['offsets', RangeError, withArgs({ offsets: Int32Array.of(0, 5, 4) })],
    ['offsets', RangeError, withArgs({ offsets: Int32Array.of(0, 1, 3) })],
    ['offsets', RangeError, withArgs({ offsets: Int32Array.of(0, 1, 5) })],
    ['offsets', RangeError, withArgs({ offsets: Int32Array.of(0, -1, 4) })],
    ['bias', RangeError, withArgs({ bias: new Float32Array(4) })],
    ['bias.shape', RangeError, withArgs({ bias: { data: new Float32Array(8), shape: [4, 2], dtype: 'f32' } })],
    ['bias.dtype', TypeError, withArgs({ bias: { data: new Uint16Array(8), shape: [2, 4], dtype: 'bf16' } })],
    ['bias', TypeError, withArgs({ bias: 1 })],
    ['addend', RangeError, withArgs({ addend: new Float32Array(15) })],
    ['addend.shape', RangeError, withArgs({ addend: { data: new Float32Array(16), shape: [2, 8], dtype: 'f32' } })],
    ['addend.dtype', TypeError, withArgs({ addend: new Int32Array(16) })],
    ['activation', RangeError, withArgs({ activation: 'gelu_erf' })],
    ['activation', RangeError, withArgs({ activation: 'SiLU' })],
    ['activation', TypeError, withArgs({ activation: 3 })],
    ['gluLayout', RangeError, withArgs({ gluLayout: 'rows', activation: 'swiglu' })],
    ['gluLayout', TypeError, withArgs({ gluLayout: null })],
    ['outDtype', RangeError, withArgs({ outDtype: 'f64' })],
    ['outDtype', RangeError, withArgs({ outDtype: 'i32' })],
    ['out', TypeError, withArgs({ out: new Uint16Array(16) })],
    ['out', TypeError, withArgs({ out: new Float32Array(16), outDtype: 'bf16' })],
    ['out', TypeError, withArgs({ out: [0, 0] })],
    ['out', RangeError, withArgs({ out: new Float32Array(15) })],
    ['out', RangeError, withArgs({ out: new Float32Array(16), activation: 'swiglu' })],
    ['backend', RangeError, () => groupedGemm(ok, { backend: 'tpu' as never })],
  ] as const)("names '%s' (%p)", (arg, ctor, fn) => expectArgError(fn, ctor, arg));

  test('out sharing memory with an input is refused (it would be read after being written)', () => {
    const buf = new Float32Array(32);
    const aliasA = { data: buf.subarray(0, 12), shape: [4, 3], dtype: 'f32' as const };
    expectArgError(() => groupedGemm({ ...ok, a: aliasA, out: buf.subarray(8, 24) }), RangeError, 'out');
    const addend = new Float32Array(16);
    expectArgError(() => groupedGemm({ ...ok, addend, out: addend }), RangeError, 'out');
    expect(() => groupedGemm({ ...ok, a: aliasA, out: buf.subarray(12, 28) })).not.toThrow();
  });
});
