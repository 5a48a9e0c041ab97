// Every bad `route` argument throws a TypeError / RangeError naming it, before any work.

import { route } from '../lib/ops/route';
import type { RouteArgs } from '../lib/ops/route.types';
import { expectArgError } from './util';

const T = 3;
const E = 6;
const logits = { data: new Float32Array(T * E), shape: [T, E], dtype: 'f32' as const };
const ids = { data: Int32Array.from([0, 1, 2, -1, 5, 4]), shape: [T, 2], dtype: 'i32' as const };
const base = { logits, k: 2 };
const ext = { method: 'external' as const, ids, experts: E };

type Case = [string, unknown, typeof TypeError | typeof RangeError, string];
const bad = (a: unknown) => a;

const cases: Case[] = [
  ['args is null', null, TypeError, 'args'],
  ['args is a number', 3, TypeError, 'args'],
  ['unknown option', { ...base, topk: 2 }, RangeError, 'topk'],
  ['unknown method', { ...base, method: 'softmax' }, RangeError, 'method'],
  ['method not a string', { ...base, method: 1 }, TypeError, 'method'],
  // logits
  ['logits missing', { k: 2 }, TypeError, 'logits'],
  ['logits bare array', { k: 2, logits: new Float32Array(6) }, TypeError, 'logits'],
  ['logits plain array', { k: 2, logits: [[0, 1]] }, TypeError, 'logits'],
  ['logits int32', { k: 1, logits: { data: new Int32Array(4), shape: [2, 2] } }, TypeError, 'logits.dtype'],
  ['logits u16 without dtype', { k: 1, logits: { data: new Uint16Array(4), shape: [2, 2] } }, TypeError, 'logits.dtype'],
  ['logits dtype vs array', { k: 1, logits: { data: new Float32Array(4), shape: [2, 2], dtype: 'bf16' } }, TypeError, 'logits.data'],
  ['logits 1-D', { k: 1, logits: { data: new Float32Array(4), shape: [4] } }, RangeError, 'logits.shape'],
  ['logits 3-D', { k: 1, logits: { data: new Float32Array(4), shape: [1, 2, 2] } }, RangeError, 'logits.shape'],
  ['logits E = 0', { k: 1, logits: { data: new Float32Array(0), shape: [3, 0] } }, RangeError, 'logits.shape'],
  ['logits length mismatch', { k: 1, logits: { data: new Float32Array(5), shape: [2, 2] } }, RangeError, 'logits'],
  ['logits fractional shape', { k: 1, logits: { data: new Float32Array(4), shape: [1.5, 2] } }, RangeError, 'logits.shape'],
  ['logits negative shape', { k: 1, logits: { data: new Float32Array(4), shape: [-2, -2] } }, RangeError, 'logits.shape'],
  ['logits NaN shape', { k: 1, logits: { data: new Float32Array(4), shape: [NaN, 2] } }, RangeError, 'logits.shape'],
  // k
  ['k missing', { logits }, TypeError, 'k'],
  ['k string', { logits, k: '2' }, TypeError, 'k'],
  ['k 0', { logits, k: 0 }, RangeError, 'k'],
  ['k > E', { logits, k: E + 1 }, RangeError, 'k'],
  ['k fractional', { logits, k: 1.5 }, RangeError, 'k'],
  ['k NaN', { logits, k: NaN }, RangeError, 'k'],
  ['k negative', { logits, k: -1 }, RangeError, 'k'],
  ['k with a threshold method', { logits, method: 'top_p', threshold: 0.5, k: 2 }, RangeError, 'k'],
  // threshold
  ['threshold missing', { logits, method: 'xmoe_threshold' }, TypeError, 'threshold'],
  ['threshold 0', { logits, method: 'xmoe_threshold', threshold: 0 }, RangeError, 'threshold'],
  ['threshold > 1', { logits, method: 'top_p', threshold: 1.1 }, RangeError, 'threshold'],
  ['threshold negative', { logits, method: 'top_p', threshold: -0.1 }, RangeError, 'threshold'],
  ['threshold NaN', { logits, method: 'top_p', threshold: NaN }, RangeError, 'threshold'],
  ['threshold with softmax_topk', { ...base, threshold: 0.5 }, RangeError, 'threshold'],
  // kmax, renormalize, scale
  ['kmax < k', { ...base, kmax: 1 }, RangeError, 'kmax'],
  ['kmax > E', { ...base, kmax: E + 1 }, RangeError, 'kmax'],
  ['kmax 0 (threshold)', { logits, method: 'top_p', threshold: 0.5, kmax: 0 }, RangeError, 'kmax'],
  ['kmax fractional', { ...base, kmax: 2.5 }, RangeError, 'kmax'],
  ['renormalize not boolean', { ...base, renormalize: 'true' }, TypeError, 'renormalize'],
  ['renormalize false with topk_softmax', { ...base, method: 'topk_softmax', renormalize: false }, RangeError, 'renormalize'],
  ['scale 0', { ...base, scale: 0 }, RangeError, 'scale'],
  ['scale negative', { ...base, scale: -1 }, RangeError, 'scale'],
  ['scale NaN', { ...base, scale: NaN }, RangeError, 'scale'],
  ['scale inf', { ...base, scale: Infinity }, RangeError, 'scale'],
  // bias
  ['bias wrong length', { ...base, bias: new Float32Array(E - 1) }, RangeError, 'bias'],
  ['bias NaN', { ...base, bias: new Float32Array(E).fill(NaN) }, RangeError, 'bias'],
  ['bias inf', { ...base, bias: new Float32Array(E).fill(Infinity) }, RangeError, 'bias'],
  ['bias int32', { ...base, bias: new Int32Array(E) }, TypeError, 'bias.dtype'],
  ['bias plain array', { ...base, bias: [0, 0, 0, 0, 0, 0] }, TypeError, 'bias'],
  ['bias 2-D', { ...base, bias: { data: new Float32Array(E), shape: [1, E] } }, RangeError, 'bias.shape'],
  ['bias with a threshold method', { logits, method: 'xmoe_threshold', threshold: 0.9, bias: new Float32Array(E) }, RangeError, 'bias'],
  // groups
  ['groups not dividing E', { ...base, groups: 4, topkGroups: 2 }, RangeError, 'groups'],
  ['groups 0', { ...base, groups: 0 }, RangeError, 'groups'],
  ['groups > E', { ...base, groups: 12, topkGroups: 1 }, RangeError, 'groups'],
  ['topkGroups missing', { ...base, groups: 3 }, TypeError, 'topkGroups'],
  ['topkGroups > groups', { ...base, groups: 3, topkGroups: 4 }, RangeError, 'topkGroups'],
  ['topkGroups 0', { ...base, groups: 3, topkGroups: 0 }, RangeError, 'topkGroups'],
  ['topkGroups without groups', { ...base, topkGroups: 2 }, RangeError, 'topkGroups'],
  ['groupTopN > group size', { ...base, groups: 3, topkGroups: 2, groupTopN: 3 }, RangeError, 'groupTopN'],
  ['groupTopN without groups', { ...base, groupTopN: 1 }, RangeError, 'groupTopN'],
  ['k > topkGroups * group size', { logits, k: 3, groups: 3, topkGroups: 1 }, RangeError, 'k'],
  ['groups with topk_softmax', { ...base, method: 'topk_softmax', groups: 3, topkGroups: 2 }, RangeError, 'groups'],
  // zeroGateExperts
  ['zeroGateExperts out of range', { ...base, zeroGateExperts: [E] }, RangeError, 'zeroGateExperts[0]'],
  ['zeroGateExperts negative', { ...base, zeroGateExperts: [1, -1] }, RangeError, 'zeroGateExperts[1]'],
  ['zeroGateExperts fractional', { ...base, zeroGateExperts: [1.5] }, RangeError, 'zeroGateExperts[0]'],
  ['zeroGateExperts not an array', { ...base, zeroGateExperts: 5 }, TypeError, 'zeroGateExperts'],
  ['zeroGateExperts with external', { ...ext, zeroGateExperts: [1] }, RangeError, 'zeroGateExperts'],
  // capacity
  ['capacity not an object', { ...base, capacity: 1.25 }, TypeError, 'capacity'],
  ['capacity.factor missing', { ...base, capacity: {} }, TypeError, 'capacity.factor'],
  ['capacity.factor 0', { ...base, capacity: { factor: 0 } }, RangeError, 'capacity.factor'],
  ['capacity.factor negative', { ...base, capacity: { factor: -1 } }, RangeError, 'capacity.factor'],
  ['capacity.factor NaN', { ...base, capacity: { factor: NaN } }, RangeError, 'capacity.factor'],
  ['capacity.factor inf', { ...base, capacity: { factor: Infinity } }, RangeError, 'capacity.factor'],
  ['capacity.policy unknown', { ...base, capacity: { factor: 1, policy: 'random' } }, RangeError, 'capacity.policy'],
  ['capacity.minCapacity negative', { ...base, capacity: { factor: 1, minCapacity: -1 } }, RangeError, 'capacity.minCapacity'],
  ['capacity.minCapacity fractional', { ...base, capacity: { factor: 1, minCapacity: 1.5 } }, RangeError, 'capacity.minCapacity'],
  ['capacity.kCapacity 0', { ...base, capacity: { factor: 1, kCapacity: 0 } }, RangeError, 'capacity.kCapacity'],
  ['capacity.renormalizeSurvivors', { ...base, capacity: { factor: 1, renormalizeSurvivors: 1 } }, TypeError, 'capacity.renormalizeSurvivors'],
  ['capacity unknown key', { ...base, capacity: { factor: 1, cap: 3 } }, RangeError, 'capacity.cap'],
  // prune
  ['prune not an object', { ...base, prune: 0.5 }, TypeError, 'prune'],
  ['prune.beta missing', { ...base, prune: {} }, TypeError, 'prune.beta'],
  ['prune.beta > 1', { ...base, prune: { beta: 1.5 } }, RangeError, 'prune.beta'],
  ['prune.beta negative', { ...base, prune: { beta: -0.1 } }, RangeError, 'prune.beta'],
  ['prune.beta NaN', { ...base, prune: { beta: NaN } }, RangeError, 'prune.beta'],
  ['prune.protect length', { ...base, prune: { beta: 0.5, protect: new Uint8Array(T + 1) } }, RangeError, 'prune.protect'],
  ['prune.protect type', { ...base, prune: { beta: 0.5, protect: new Int8Array(T) } }, TypeError, 'prune.protect'],
  ['prune.protect value', { ...base, prune: { beta: 0.5, protect: Uint8Array.from([0, 2, 0]) } }, RangeError, 'prune.protect'],
  ['prune.dropAll length', { ...base, prune: { beta: 0.5, dropAll: new Uint8Array(1) } }, RangeError, 'prune.dropAll'],
  ['prune protect and dropAll overlap', { ...base, prune: { beta: 0.5, protect: Uint8Array.from([1, 0, 0]), dropAll: Uint8Array.from([1, 0, 0]) } }, RangeError, 'prune.dropAll'],
  ['prune unknown key', { ...base, prune: { beta: 0.5, tau: 0.1 } }, RangeError, 'prune.tau'],
  ['prune with external', { ...ext, prune: { beta: 0.5 } }, RangeError, 'prune'],
  // external
  ['external: experts missing', { method: 'external', ids }, TypeError, 'experts'],
  ['external: experts 0', { method: 'external', ids, experts: 0 }, RangeError, 'experts'],
  ['external: experts fractional', { method: 'external', ids, experts: 2.5 }, RangeError, 'experts'],
  ['external: ids missing', { method: 'external', experts: E }, TypeError, 'ids'],
  ['external: id >= experts', { method: 'external', ids, experts: 5 }, RangeError, 'ids'],
  ['external: id < -1', { ...ext, ids: { data: Int32Array.from([-2]), shape: [1, 1] } }, RangeError, 'ids'],
  ['external: duplicate id in a row', { ...ext, ids: { data: Int32Array.from([3, 3]), shape: [1, 2] } }, RangeError, 'ids'],
  ['external: ids float', { ...ext, ids: { data: new Float32Array(2), shape: [1, 2] } }, TypeError, 'ids.dtype'],
  ['external: ids 1-D', { ...ext, ids: { data: new Int32Array(2), shape: [2] } }, RangeError, 'ids.shape'],
  ['external: ids width 0', { ...ext, ids: { data: new Int32Array(0), shape: [2, 0] } }, RangeError, 'ids.shape'],
  ['external: bare ids without k', { ...ext, ids: new Int32Array(4) }, TypeError, 'ids'],
  ['external: bare ids not a multiple of k', { ...ext, ids: new Int32Array(5), k: 2 }, RangeError, 'ids'],
  ['external: k != ids width', { ...ext, k: 3 }, RangeError, 'k'],
  ['external: weights shape', { ...ext, weights: new Float32Array(5) }, RangeError, 'weights'],
  ['external: weights int', { ...ext, weights: { data: new Int32Array(6), shape: [T, 2] } }, TypeError, 'weights.dtype'],
  ['external: logits given', { ...ext, logits }, RangeError, 'logits'],
  ['external: threshold given', { ...ext, threshold: 0.5 }, RangeError, 'threshold'],
  ['external: kmax < width', { ...ext, kmax: 1 }, RangeError, 'kmax'],
  ['ids with softmax_topk', { ...base, ids }, RangeError, 'ids'],
  ['weights with softmax_topk', { ...base, weights: new Float32Array(6) }, RangeError, 'weights'],
  ['experts != logits experts', { ...base, experts: E + 1 }, RangeError, 'experts'],
];

describe('route argument errors', () => {
  test.each(cases)('%s', (_name, args, ctor, arg) => {
    expectArgError(() => route(bad(args) as RouteArgs, { backend: 'reference' }), ctor, arg);
  });

  test('messages start with the op id', () => {
    expect(() => route({ logits, k: 9 })).toThrow(/^route: 'k' must be an integer in \[1, 6\], got 9$/);
    expect(() => route({ ...base, threshold: 0.5 })).toThrow(/^route: 'threshold' does not apply to method 'softmax_topk'/);
  });

  test('unknown backend', () => {
    expectArgError(() => route(base, { backend: 'gpu' as never }), RangeError, 'backend');
  });

  test('undefined-valued options count as absent', () => {
    expect(() => route({ ...base, threshold: undefined, bias: undefined, capacity: undefined })).not.toThrow();
  });
});
