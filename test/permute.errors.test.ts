// permute: every bad argument throws a TypeError / RangeError naming it, before any work.

import { permute, PermuteArgs, validatePermute } from '../lib/ops/permute';
import { expectArgError } from './util';

const x = { data: new Float32Array(6), shape: [3, 2], dtype: 'f32' };
const ids = { data: Int32Array.from([0, 1, 2, -1, 1, 3]), shape: [3, 2], dtype: 'i32' };
const good: PermuteArgs = { x, ids, experts: 3, totalExperts: 4 };
const bad = (patch: Record<string, unknown>) => () => permute({ ...good, ...patch } as PermuteArgs);

describe('permute: argument errors', () => {
  test('the good arguments pass', () => {
    expect(validatePermute(good).rows).toBe(4);
  });

  test('args', () => {
    expectArgError(() => permute(null as unknown as PermuteArgs), TypeError, 'args');
    expectArgError(() => permute([] as unknown as PermuteArgs), TypeError, 'args');
  });

  test('x', () => {
    expectArgError(bad({ x: undefined }), TypeError, 'x');
    expectArgError(bad({ x: new Float32Array(6) }), TypeError, 'x'); // bare: shape unknown
    expectArgError(bad({ x: { data: new Int32Array(6), shape: [3, 2] } }), TypeError, 'x.dtype');
    expectArgError(bad({ x: { data: new Uint16Array(6), shape: [3, 2] } }), TypeError, 'x.dtype');
    expectArgError(bad({ x: { data: new Float32Array(6), shape: [3, 2], dtype: 'bf16' } }), TypeError, 'x.data');
    expectArgError(bad({ x: { data: new Float32Array(6), shape: [6] } }), RangeError, 'x.shape');
    expectArgError(bad({ x: { data: new Float32Array(5), shape: [3, 2] } }), RangeError, 'x');
    expectArgError(bad({ x: { data: new Float32Array(6), shape: [3, 2.5] } }), RangeError, 'x.shape');
    expectArgError(bad({ x: { data: new Float64Array(6), shape: [3, 2] } }), TypeError, 'x.data');
  });

  test('ids: kind, shape and length', () => {
    expectArgError(bad({ ids: undefined }), TypeError, 'ids');
    expectArgError(bad({ ids: [0, 1, 2, -1, 1, 3] }), TypeError, 'ids');
    expectArgError(bad({ ids: Float32Array.from([0, 1, 2, -1, 1, 3]) }), TypeError, 'ids');
    expectArgError(bad({ ids: Int32Array.from([0, 1, 2, -1, 1]) }), RangeError, 'ids'); // not a multiple of T
    expectArgError(bad({ ids: { data: new Int32Array(8), shape: [4, 2] } }), RangeError, 'ids.shape');
    expectArgError(bad({ ids: { data: new Int32Array(6), shape: [6] } }), RangeError, 'ids.shape');
    expectArgError(bad({ ids: { data: new Float32Array(6), shape: [3, 2] } }), TypeError, 'ids.dtype');
    expectArgError(() => permute({ ...good, x: { data: new Float32Array(0), shape: [0, 2] }, ids: Int32Array.from([1]) }), RangeError, 'ids');
  });

  test('ids: values', () => {
    const withIds = (v: number[]) => bad({ ids: { data: Int32Array.from(v), shape: [3, 2] } });
    expectArgError(withIds([0, 1, 2, -1, 1, 4]), RangeError, 'ids'); // == totalExperts
    expectArgError(withIds([0, 1, 2, -2, 1, 3]), RangeError, 'ids');
    expectArgError(withIds([0, 1, 2, -1, 1, 2 ** 31 - 1]), RangeError, 'ids');
    expectArgError(withIds([0, 1, 2, -1, 3, 3]), RangeError, 'ids'); // a repeated expert, even zero-computation
    expect(() => permute({ ...good, ids: { data: Int32Array.from([0, 1, -1, -1, 1, 0]), shape: [3, 2] } })).not.toThrow();
  });

  test('experts and totalExperts', () => {
    for (const e of [0, -1, 1.5, NaN, Infinity, 2 ** 21]) expectArgError(bad({ experts: e }), RangeError, 'experts');
    expectArgError(bad({ experts: '3' }), TypeError, 'experts');
    expectArgError(bad({ experts: undefined }), TypeError, 'experts');
    expectArgError(bad({ totalExperts: 2 }), RangeError, 'totalExperts'); // < experts
    expectArgError(bad({ totalExperts: 4.5 }), RangeError, 'totalExperts');
    expectArgError(bad({ totalExperts: null }), TypeError, 'totalExperts');
    expectArgError(bad({ totalExperts: undefined }), RangeError, 'ids'); // id 3 is now out of range
  });

  test('expertMap', () => {
    expectArgError(bad({ expertMap: [0, 1, 2] }), RangeError, 'expertMap'); // length != totalExperts
    expectArgError(bad({ expertMap: [0, 1, 3, -1] }), RangeError, 'expertMap[2]'); // >= experts
    expectArgError(bad({ expertMap: [0, -2, 1, -1] }), RangeError, 'expertMap[1]');
    expectArgError(bad({ expertMap: [0, 0.5, 1, -1] }), RangeError, 'expertMap[1]');
    expectArgError(bad({ expertMap: [0, '1', 1, -1] }), TypeError, 'expertMap[1]');
    expectArgError(bad({ expertMap: Float32Array.from([0, 1, 2, -1]) }), TypeError, 'expertMap');
    expectArgError(bad({ expertMap: 'identity' }), TypeError, 'expertMap');
    expectArgError(bad({ expertMap: [0, 1, 2], totalExperts: undefined }), RangeError, 'ids'); // totalExperts = 3
  });

  test('align and scale', () => {
    for (const v of [0, -4, 1.5, NaN, 2 ** 16 + 1]) expectArgError(bad({ align: v }), RangeError, 'align');
    expectArgError(bad({ align: '4' }), TypeError, 'align');
    for (const v of [NaN, Infinity, -Infinity]) expectArgError(bad({ scale: v }), RangeError, 'scale');
    expectArgError(bad({ scale: '2' }), TypeError, 'scale');
  });

  test('backend', () => {
    expectArgError(() => permute(good, { backend: 'gpu' as never }), RangeError, 'backend');
  });

  test('errors name the op', () => {
    expect(bad({ align: 0 })).toThrow(/^permute: 'align'/);
  });
});
