// unpermute: every bad argument throws a TypeError / RangeError naming it, before any work.

import { unpermute, UnpermuteArgs, validateUnpermute } from '../lib/ops/unpermute';
import { expectArgError } from './util';

const H = 2;
const y = { data: new Float32Array(3 * H), shape: [3, H], dtype: 'f32' };
const ids = { data: Int32Array.from([0, 4, 1, 5, 0, 6]), shape: [3, 2], dtype: 'i32' };
const weights = { data: Float32Array.from([0.5, 0.5, 1, 0, 0.2, 0.8]), shape: [3, 2], dtype: 'f32' };
const slotToRow = { data: Int32Array.from([0, -1, 2, -1, 1, -1]), shape: [3, 2], dtype: 'i32' };
const x = { data: new Float32Array(3 * H), shape: [3, H], dtype: 'f32' };
const constantExperts = { ids: [6], wc: new Float32Array(2 * H), v: new Float32Array(H) };
const good: UnpermuteArgs = { y, ids, weights, slotToRow, zeroExperts: [5], copyExperts: [4], constantExperts, x };
const bad = (patch: Record<string, unknown>) => () => unpermute({ ...good, ...patch } as UnpermuteArgs);
const slots = (name: string, v: number[]) => bad({ [name]: { data: name === 'weights' ? Float32Array.from(v) : Int32Array.from(v), shape: [3, 2] } });

describe('unpermute: argument errors', () => {
  test('the good arguments pass', () => {
    const v = validateUnpermute(good);
    expect([v.tokens, v.kmax, v.hidden, v.rows]).toEqual([3, 2, H, 3]);
  });

  test('args and y', () => {
    expectArgError(() => unpermute(undefined as unknown as UnpermuteArgs), TypeError, 'args');
    expectArgError(bad({ y: undefined }), TypeError, 'y');
    expectArgError(bad({ y: new Float32Array(6) }), TypeError, 'y');
    expectArgError(bad({ y: { data: new Int32Array(6), shape: [3, 2] } }), TypeError, 'y.dtype');
    expectArgError(bad({ y: { data: new Float32Array(6), shape: [6] } }), RangeError, 'y.shape');
    expectArgError(bad({ y: { data: new Float32Array(5), shape: [3, 2] } }), RangeError, 'y');
  });

  test('ids, weights, slotToRow: kinds and shapes', () => {
    expectArgError(bad({ ids: undefined }), TypeError, 'ids');
    expectArgError(bad({ ids: { data: new Float32Array(6), shape: [3, 2] } }), TypeError, 'ids.dtype');
    expectArgError(bad({ ids: { data: new Int32Array(8), shape: [4, 2] } }), RangeError, 'weights.shape'); // ids sets [4, 2]
    expectArgError(bad({ weights: { data: new Float32Array(4), shape: [2, 2] } }), RangeError, 'weights.shape');
    expectArgError(bad({ weights: { data: new Int32Array(6), shape: [3, 2] } }), TypeError, 'weights.dtype');
    expectArgError(bad({ weights: undefined }), TypeError, 'weights');
    expectArgError(bad({ weights: new Float32Array(5) }), RangeError, 'weights');
    expectArgError(bad({ weights: new Int32Array(6) }), TypeError, 'weights.dtype');
    expectArgError(bad({ slotToRow: { data: new Int32Array(6), shape: [6, 1] } }), RangeError, 'slotToRow.shape');
    expectArgError(bad({ slotToRow: Float32Array.from([0, -1, 2, -1, 1, -1]) }), TypeError, 'slotToRow.dtype');
    expectArgError(bad({ slotToRow: [0, -1, 2, -1, 1, -1] }), TypeError, 'slotToRow');
    // Only bare arrays and no [tokens, hidden] tensor: the token count is unknown.
    const bare = { y, ids: ids.data, weights: weights.data, slotToRow: slotToRow.data };
    expectArgError(() => unpermute(bare), TypeError, 'ids');
    expect(() => unpermute({ ...bare, residual: x })).not.toThrow();
    expectArgError(() => unpermute({ ...bare, residual: x, ids: Int32Array.from([0, 1, 2, 3, 4]) }), RangeError, 'ids');
  });

  test('slot values', () => {
    expectArgError(slots('ids', [0, 4, 1, 5, 0, -2]), RangeError, 'ids');
    expectArgError(slots('weights', [0.5, Infinity, 1, 0, 0.2, 0.8]), RangeError, 'weights');
    expectArgError(slots('weights', [0.5, 0.5, 1, 0, -Infinity, 0.8]), RangeError, 'weights');
    expect(slots('weights', [0.5, 0.5, NaN, 0, 0.2, 0.8])).not.toThrow(); // NaN rows of the router propagate
    expectArgError(slots('slotToRow', [0, -1, 3, -1, 1, -1]), RangeError, 'slotToRow'); // == rows
    expectArgError(slots('slotToRow', [0, -2, 2, -1, 1, -1]), RangeError, 'slotToRow');
    expectArgError(slots('slotToRow', [0, -1, 2, -1, 0, -1]), RangeError, 'slotToRow'); // row 0 twice
    expectArgError(slots('slotToRow', [0, 1, 2, -1, -1, -1]), RangeError, 'slotToRow'); // a row for the copy expert
    expectArgError(slots('slotToRow', [0, -1, 2, 1, -1, -1]), RangeError, 'slotToRow'); // a row for the zero expert
    expectArgError(slots('slotToRow', [0, -1, 2, -1, -1, 1]), RangeError, 'slotToRow'); // a row for a constant expert
    expectArgError(bad({ ids: { data: Int32Array.from([-1, 4, 1, 5, 0, 6]), shape: [3, 2] } }), RangeError, 'slotToRow'); // row for id -1
  });

  test('special expert lists', () => {
    expectArgError(bad({ zeroExperts: [-1] }), RangeError, 'zeroExperts[0]');
    expectArgError(bad({ zeroExperts: [1.5] }), RangeError, 'zeroExperts[0]');
    expectArgError(bad({ zeroExperts: 5 }), TypeError, 'zeroExperts');
    expectArgError(bad({ copyExperts: [4, '7'] }), TypeError, 'copyExperts[1]');
    expectArgError(bad({ copyExperts: [5] }), RangeError, 'copyExperts'); // also a zero expert
    expectArgError(bad({ copyExperts: [4, 4] }), RangeError, 'copyExperts'); // twice
    expectArgError(bad({ constantExperts: { ...constantExperts, ids: [4] } }), RangeError, 'constantExperts.ids');
    expectArgError(bad({ constantExperts: [] }), TypeError, 'constantExperts');
    expectArgError(bad({ constantExperts: { ...constantExperts, ids: 6 } }), TypeError, 'constantExperts.ids');
    expectArgError(bad({ constantExperts: { ...constantExperts, wc: new Float32Array(3) } }), RangeError, 'constantExperts.wc');
    expectArgError(bad({ constantExperts: { ...constantExperts, wc: { data: new Float32Array(4), shape: [1, 4] } } }), RangeError, 'constantExperts.wc.shape');
    expectArgError(bad({ constantExperts: { ...constantExperts, v: undefined } }), TypeError, 'constantExperts.v');
    expectArgError(bad({ constantExperts: { ...constantExperts, v: { data: new Uint16Array(2), shape: [1, 2], dtype: 'bf16' } } }), TypeError, 'constantExperts.v.dtype');
  });

  test('x, inputScale, shared, residual', () => {
    expectArgError(bad({ x: undefined }), TypeError, 'x'); // copy / constant experts need it
    expect(() => unpermute({ ...good, x: undefined, copyExperts: undefined, constantExperts: undefined })).not.toThrow();
    expectArgError(bad({ x: { data: new Float32Array(4), shape: [2, 2] } }), RangeError, 'x.shape');
    expectArgError(bad({ x: { data: new Float32Array(9), shape: [3, 3] } }), RangeError, 'x.shape');
    for (const v of [NaN, Infinity]) expectArgError(bad({ inputScale: v }), RangeError, 'inputScale');
    expectArgError(bad({ inputScale: '2' }), TypeError, 'inputScale');
    expectArgError(bad({ shared: { data: new Float32Array(4), shape: [2, 2] } }), RangeError, 'shared.shape');
    expectArgError(bad({ shared: new Float32Array(5) }), RangeError, 'shared'); // bare: shape [tokens, hidden] known
    expectArgError(bad({ shared: 'none' }), TypeError, 'shared');
    expectArgError(bad({ residual: { data: new Int32Array(6), shape: [3, 2] } }), TypeError, 'residual.dtype');
  });

  test('outDtype and out', () => {
    expectArgError(bad({ outDtype: 'f64' }), RangeError, 'outDtype');
    expectArgError(bad({ outDtype: 32 }), TypeError, 'outDtype');
    expectArgError(bad({ out: new Float32Array(5) }), RangeError, 'out');
    expectArgError(bad({ out: new Uint16Array(6) }), TypeError, 'out'); // f32 output expected
    expectArgError(bad({ out: new Float32Array(6), outDtype: 'bf16' }), TypeError, 'out');
    expectArgError(bad({ out: [0, 0, 0, 0, 0, 0] }), TypeError, 'out');
    expect(() => unpermute({ ...good, out: new Uint16Array(6), outDtype: 'f16' })).not.toThrow();
  });

  test('backend and the op prefix', () => {
    expectArgError(() => unpermute(good, { backend: 'tpu' as never }), RangeError, 'backend');
    expect(bad({ inputScale: NaN })).toThrow(/^unpermute: 'inputScale'/);
  });
});
