// route on every native backend and SIMD path vs the reference: ids, counts and the capacity outputs exact,
// scores and weights equal on x86-64 (the native code ports V8's exp and the reference's operation order,
// so they are bitwise; NaN matches NaN) and within 1e-6 norm-wise elsewhere. Case tables: every method
// (softmax_topk with / without renorm, topk_softmax, sigmoid_topk with bias / groups / scale,
// xmoe_threshold, top_p, external) over E in {1, 8, 64, 128, 256, 1000}, k in {1, 2, 8, E},
// T in {0, 1, 7, 255, 4097} (and 9001 at E = 8, which the pool splits); capacity with all three policies;
// prune; zeroGateExperts; kmax; ties, all -inf rows, NaN and +inf entries, every token to one expert;
// SPEC §10 A-D. The binding's own checks (the last line of defence) are exercised at the end.

import { route, routeAsync } from '../../lib/ops/route';
import type { DropPolicy, RouteArgs, RouteMethod, RouteResult } from '../../lib/ops/route.types';
import { loadNative } from '../../lib/native';
import { availableBackends } from '../../lib/backends';
import { Rng } from '../../lib/random';
import { expectClose } from '../util';
import { Case, conformance, Measure, Output } from './harness';

/** Bitwise on x86-64 (V8's arithmetic, ported); a last-bit allowance where the compilers may differ. */
const FTOL = process.arch === 'x64' ? 0 : 1e-6;

type Kind = 'normal' | 'ties' | 'equal' | 'neginf' | 'allneginf' | 'nan' | 'posinf' | 'mixed' | 'wide';
const KINDS: readonly Kind[] = ['normal', 'ties', 'equal', 'neginf', 'allneginf', 'nan', 'posinf', 'mixed', 'wide'];

const cache = new Map<string, Float32Array>();
const idsCache = new Map<string, Int32Array>();

/** Logits [T, E] with the edge the kind names; cached, so every run of a case sees the same input. */
function logitsData(kind: Kind, T: number, E: number, seed = 1): Float32Array {
  const key = `${kind}:${T}:${E}:${seed}`;
  let z = cache.get(key);
  if (z) return z;
  const rng = new Rng(seed * 7919 + T * 31 + E);
  z = new Float32Array(T * E);
  for (let t = 0; t < T; t++) {
    const rowConst = [0, -0, 3.5, -1][t % 4]!;
    const allNegInf = kind === 'allneginf' && t % 3 === 1;
    for (let e = 0; e < E; e++) {
      const v = rng.normal() * 2;
      let x = v;
      if (kind === 'ties') x = Math.round(v * 2) / 2;
      else if (kind === 'equal') x = rowConst;
      else if (kind === 'neginf') x = rng.next() < 0.25 ? -Infinity : v;
      else if (allNegInf) x = -Infinity;
      else if (kind === 'nan') x = rng.next() < 0.05 ? NaN : v;
      else if (kind === 'posinf') x = rng.next() < 0.05 ? Infinity : v;
      else if (kind === 'mixed') x = [0, -0, 1, -1, -Infinity, Infinity, NaN, v, v, v][rng.int(10)]!;
      else if (kind === 'wide') x = v * 200; // z - max reaches exp's rare lanes (|x| >= 704) and underflow
      z[t * E + e] = x;
    }
  }
  cache.set(key, z);
  return z;
}

const logits = (kind: Kind, T: number, E: number, seed = 1) => ({ data: logitsData(kind, T, E, seed), shape: [T, E], dtype: 'f32' as const });

function biasOf(E: number, seed: number, hot = -1): Float32Array {
  const rng = new Rng(seed);
  const b = rng.f32(E, -0.5, 0.5);
  if (hot >= 0) b[hot] = 100; // every token to one expert
  return b;
}

/** Caller-supplied ids [T, k]: distinct per row, about 20 % empty (-1); cached like the logits. */
function externalIds(T: number, E: number, k: number, seed: number): Int32Array {
  const key = `ids:${T}:${E}:${k}:${seed}`;
  const hit = idsCache.get(key);
  if (hit) return hit;
  const rng = new Rng(seed);
  const ids = new Int32Array(T * k);
  const perm = Array.from({ length: E }, (_, e) => e);
  for (let t = 0; t < T; t++) {
    for (let i = E - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    for (let j = 0; j < k; j++) ids[t * k + j] = rng.next() < 0.2 ? -1 : perm[j]!;
  }
  idsCache.set(key, ids);
  return ids;
}

const cases: Case<RouteArgs>[] = [];
const add = (name: string, args: () => RouteArgs): void => {
  cases.push({ name, args });
};
let kindIndex = 0;
const nextKind = (): Kind => KINDS[kindIndex++ % KINDS.length]!;
const uniq = (xs: number[]): number[] => [...new Set(xs)];

// ---- top-k methods over the E x k x T grid ----
const TOPK: readonly RouteMethod[] = ['softmax_topk', 'topk_softmax', 'sigmoid_topk'];
for (const method of TOPK) {
  add(`${method}, T = 0, E = 8, k = 2`, () => ({ logits: logits('normal', 0, 8), method, k: 2 }));
  for (const E of [1, 8, 64, 128, 256, 1000]) {
    for (const k of uniq([1, 2, 8, E].filter((x) => x <= E))) {
      for (const T of E === 1000 ? [1, 7, 33] : [1, 7, 255]) {
        const kind = nextKind();
        const renormalize = method === 'topk_softmax' ? undefined : (E + k + T) % 2 === 0;
        const r = renormalize === undefined ? {} : { renormalize };
        add(`${method}, E = ${E}, k = ${k}, T = ${T}, ${kind} logits${renormalize ? ', renorm' : ''}`,
          () => ({ logits: logits(kind, T, E), method, k, ...r }));
      }
    }
  }
  // 9001 rows at E = 8 are two tasks of the pool (grain 4096 rows); 4097 at E = 128 are sixteen.
  const big = method === 'softmax_topk' ? [[8, 2, 9001], [128, 8, 4097], [256, 8, 2049]] : [[8, 2, 9001], [128, 8, 4097]];
  for (const [E, k, T] of big as [number, number, number][]) {
    add(`${method}, E = ${E}, k = ${k}, T = ${T}, normal logits`, () => ({ logits: logits('normal', T, E), method, k }));
  }
}

// ---- threshold methods ----
for (const method of ['xmoe_threshold', 'top_p'] as const) {
  for (const E of [1, 8, 64, 128, 256, 1000]) {
    for (const threshold of [0.4, 0.9, 1]) {
      for (const T of E === 1000 ? [7, 33] : [7, 255]) {
        const kind = nextKind();
        add(`${method}, t = ${threshold}, E = ${E}, T = ${T}, ${kind} logits`, () => ({ logits: logits(kind, T, E), method, threshold }));
      }
    }
    add(`${method}, t = 0.9, E = ${E}, kmax = ${Math.min(E, 3)}, T = 255`,
      () => ({ logits: logits('normal', 255, E), method, threshold: 0.9, kmax: Math.min(E, 3) }));
  }
  const bigE = method === 'top_p' ? 128 : 64;
  add(`${method}, t = 0.5, E = ${bigE}, T = 4097, renorm`, () => ({ logits: logits('normal', 4097, bigE), method, threshold: 0.5, renormalize: true }));
  add(`${method}, T = 0`, () => ({ logits: logits('normal', 0, 8), method, threshold: 0.5 }));
}

// ---- bias, groups, scale (DeepSeek-V3 and variants) ----
for (const T of [7, 255, 2049]) {
  add(`deepseek-v3: sigmoid_topk, E = 256, k = 8, 8 groups keep 4, bias, scale 2.5, T = ${T}`, () => ({
    logits: logits('normal', T, 256), method: 'sigmoid_topk', k: 8, bias: biasOf(256, 3), groups: 8, topkGroups: 4, scale: 2.5,
  }));
}
for (const kind of ['normal', 'ties', 'nan', 'neginf'] as const) {
  add(`sigmoid_topk, E = 64, k = 6, 8 groups keep 3, top-3 group score, ${kind} logits, T = 255`, () => ({
    logits: logits(kind, 255, 64), method: 'sigmoid_topk', k: 6, groups: 8, topkGroups: 3, groupTopN: 3,
  }));
  add(`softmax_topk, E = 64, k = 4, 4 groups keep 2, bias, renorm, ${kind} logits, T = 255`, () => ({
    logits: logits(kind, 255, 64), k: 4, groups: 4, topkGroups: 2, bias: biasOf(64, 4), renormalize: true,
  }));
}
add('softmax_topk, E = 1000, k = 32, 10 groups keep 4, top-5 group score, T = 33', () => ({
  logits: logits('normal', 33, 1000), k: 32, groups: 10, topkGroups: 4, groupTopN: 5,
}));
add('sigmoid_topk, E = 128, k = 8, groups of one, T = 255', () => ({
  logits: logits('normal', 255, 128), method: 'sigmoid_topk', k: 8, groups: 128, topkGroups: 16,
}));
for (const method of TOPK) {
  add(`${method}, E = 64, k = 2, bias sends every token to expert 5, T = 255`, () => ({
    logits: logits('normal', 255, 64), method, k: 2, bias: biasOf(64, 5, 5),
  }));
  add(`${method}, E = 128, k = 8, bias, scale 16, T = 255`, () => ({
    logits: logits('ties', 255, 128), method, k: 8, bias: biasOf(128, 6), scale: 16,
  }));
}

// ---- kmax, zero gates, pruning ----
add('softmax_topk, E = 64, k = 2, kmax = 5, T = 255', () => ({ logits: logits('normal', 255, 64), k: 2, kmax: 5 }));
add('moe++: softmax_topk, E = 20, k = 2, zero expert 19, renorm, T = 255', () => ({
  logits: logits('ties', 255, 20), k: 2, zeroGateExperts: [19], renormalize: true,
}));
add('moe++: softmax_topk, E = 8, k = 1, zero experts 0 and 7, renorm, T = 255', () => ({
  logits: logits('normal', 255, 8), k: 1, zeroGateExperts: [0, 7], renormalize: true,
}));
add('xmoe_threshold, E = 64, t = 0.9, zero experts, T = 255', () => ({
  logits: logits('normal', 255, 64), method: 'xmoe_threshold', threshold: 0.9, zeroGateExperts: [1, 2, 3],
}));
function masks(T: number, seed: number): { protect: Uint8Array; dropAll: Uint8Array } {
  const rng = new Rng(seed);
  const protect = new Uint8Array(T);
  const dropAll = new Uint8Array(T);
  for (let t = 0; t < T; t++) {
    const v = rng.int(10);
    protect[t] = v === 0 ? 1 : 0;
    dropAll[t] = v === 1 ? 1 : 0;
  }
  return { protect, dropAll };
}
for (const beta of [0, 0.5, 1]) {
  add(`mc-moe: softmax_topk, E = 8, k = 2, prune beta ${beta} with protect / dropAll, renorm, T = 255`, () => ({
    logits: logits('normal', 255, 8), k: 2, renormalize: true, prune: { beta, ...masks(255, 9) },
  }));
}
add('softmax_topk, E = 128, k = 8, prune beta 0.3, T = 1025', () => ({ logits: logits('normal', 1025, 128), k: 8, prune: { beta: 0.3 } }));
add('top_p, E = 64, t = 0.9, prune beta 0.2 with masks, T = 255', () => ({
  logits: logits('ties', 255, 64), method: 'top_p', threshold: 0.9, prune: { beta: 0.2, ...masks(255, 10) },
}));
add('topk_softmax, E = 64, k = 8, prune beta 0.5, zero expert 3, T = 255', () => ({
  logits: logits('mixed', 255, 64), method: 'topk_softmax', k: 8, prune: { beta: 0.5 }, zeroGateExperts: [3],
}));

// ---- external ----
for (const E of [1, 8, 64, 1000]) {
  for (const k of uniq([1, 2, 8].map((x) => Math.min(x, E)))) {
    for (const T of [0, 7, 255]) {
      const withW = (E + k + T) % 2 === 0;
      const kmax = Math.min(k + 1, E);
      add(`external, E = ${E}, k = ${k}, T = ${T}${withW ? ', weights' : ''}, renorm, kmax = ${kmax}`, () => {
        const rng = new Rng(E * 100 + k);
        return {
          method: 'external', experts: E, ids: { data: externalIds(T, E, k, E + k + T), shape: [T, k], dtype: 'i32' },
          ...(withW ? { weights: { data: rng.f32(T * k, 0, 1), shape: [T, k], dtype: 'f32' } } : {}), renormalize: true, kmax,
        };
      });
    }
  }
}

// ---- capacity ----
const POLICIES: readonly DropPolicy[] = ['position', 'probs', 'rank_then_position'];
for (const policy of POLICIES) {
  add(`capacity ${policy}: softmax_topk, E = 8, k = 2, factor 1, T = 255`, () => ({
    logits: logits('normal', 255, 8), k: 2, capacity: { factor: 1, policy },
  }));
  add(`capacity ${policy}: switch top-1, E = 64, factor 1.25, min 8, T = 4097`, () => ({
    logits: logits('normal', 4097, 64), k: 1, capacity: { factor: 1.25, policy, minCapacity: 8 },
  }));
  add(`capacity ${policy}: gshard top-2, E = 16, factor 0.5, renormalize survivors, ties, T = 255`, () => ({
    logits: logits('ties', 255, 16), k: 2, renormalize: true, capacity: { factor: 0.5, policy, renormalizeSurvivors: true },
  }));
  add(`capacity ${policy}: xmoe_threshold t = 0.9, E = 64, kCapacity 1, T = 255`, () => ({
    logits: logits('normal', 255, 64), method: 'xmoe_threshold', threshold: 0.9, capacity: { factor: 1, policy, kCapacity: 1, minCapacity: 8 },
  }));
  add(`capacity ${policy}: external, E = 16, k = 2, weights, factor 0.5, T = 255`, () => ({
    method: 'external', experts: 16, ids: { data: externalIds(255, 16, 2, 11), shape: [255, 2], dtype: 'i32' },
    weights: { data: new Rng(12).f32(510, 0, 1), shape: [255, 2], dtype: 'f32' }, capacity: { factor: 0.5, policy },
  }));
  add(`capacity ${policy}: every token to expert 5 (bias), E = 64, k = 2, T = 255`, () => ({
    logits: logits('normal', 255, 64), k: 2, bias: biasOf(64, 13, 5), capacity: { factor: 1, policy },
  }));
  add(`capacity ${policy}: sigmoid_topk deepseek-v3, factor 1, renormalize survivors, T = 1025`, () => ({
    logits: logits('normal', 1025, 256), method: 'sigmoid_topk', k: 8, bias: biasOf(256, 3), groups: 8, topkGroups: 4, scale: 2.5,
    capacity: { factor: 1, policy, renormalizeSurvivors: true },
  }));
  add(`capacity ${policy}: softmax_topk, E = 8, k = 2, NaN and -inf rows, T = 255`, () => ({
    logits: logits('mixed', 255, 8), k: 2, capacity: { factor: 0.75, policy },
  }));
  add(`capacity ${policy}: T = 0`, () => ({ logits: logits('normal', 0, 8), k: 2, capacity: { factor: 1, policy } }));
}

// ---- SPEC §10 A-D (the reference reproduces the numbers in test/route.examples.test.ts) ----
const mat = (rows: number[][]) => ({ data: Float32Array.from(rows.flat()), shape: [rows.length, rows[0]!.length], dtype: 'f32' as const });
const SPEC_A = mat([[1, 2, 0.5, -1], [0, 0, 0, 0], [3, -2, 3, 1]]);
const SPEC_B = mat([[2, 1, 0, -1], [0, 0, 0, 0], [Math.log(0.5), Math.log(0.25), Math.log(0.125), Math.log(0.125)]]);
const SPEC_C = mat([[3, -3, 1.5, 0.1, -1, 2, 0.3, 0]]);
const SPEC_C_BIAS = Float32Array.from([0, 0.1, -0.3, 0, 0.2, 0, 0.4, 0]);
const SPEC_D = mat([[2, 0], [1, 0.5], [0, 1], [3, 0], [2.5, 0], [-1, 1]]);
add('SPEC §10 A: softmax_topk k = 2', () => ({ logits: SPEC_A, k: 2 }));
add('SPEC §10 A: softmax_topk k = 2, renorm', () => ({ logits: SPEC_A, k: 2, renormalize: true }));
add('SPEC §10 A: topk_softmax k = 2', () => ({ logits: SPEC_A, method: 'topk_softmax', k: 2 }));
for (const method of ['xmoe_threshold', 'top_p'] as const) {
  for (const threshold of [0.4, 0.5, 0.75, 0.9]) add(`SPEC §10 B: ${method} t = ${threshold}`, () => ({ logits: SPEC_B, method, threshold }));
}
add('SPEC §10 C: grouped sigmoid', () => ({
  logits: SPEC_C, method: 'sigmoid_topk', k: 2, bias: SPEC_C_BIAS, groups: 4, topkGroups: 2, scale: 2.5,
}));
add('SPEC §10 C: without groups', () => ({ logits: SPEC_C, method: 'sigmoid_topk', k: 2, bias: SPEC_C_BIAS }));
for (const policy of ['position', 'probs'] as const) {
  add(`SPEC §10 D: capacity ${policy}`, () => ({ logits: SPEC_D, k: 1, capacity: { factor: 1, policy } }));
}

const exact: Measure = { kind: 'exact' };
const floats: Measure = { kind: 'relNorm', tol: FTOL };
function outputs(r: RouteResult): Record<string, Output> {
  const o: Record<string, Output> = {
    ids: { data: r.ids.data, dtype: 'i32', measure: exact },
    weights: { data: r.weights.data, dtype: 'f32', measure: floats },
    counts: { data: r.counts.data, dtype: 'i32', measure: exact },
  };
  if (r.scores) o.scores = { data: r.scores.data, dtype: 'f32', measure: floats };
  if (r.capacity) {
    const c = r.capacity;
    Object.assign(o, {
      cap: { data: Int32Array.of(c.cap), dtype: 'i32', measure: exact },
      selectedIds: { data: c.selectedIds.data, dtype: 'i32', measure: exact },
      keep: { data: c.keep.data, dtype: 'i32', measure: exact },
      load: { data: c.load.data, dtype: 'i32', measure: exact },
      demand: { data: c.demand.data, dtype: 'i32', measure: exact },
    });
  }
  return o;
}

conformance<RouteArgs, RouteResult>({ op: 'route', cases, run: route, runAsync: routeAsync, outputs });

// ---- SPEC §10 numbers straight from the cpu backend, and the binding's own checks ----
const addon = loadNative();
const cpu = addon !== null && availableBackends().includes('cpu');
const onCpu = (a: RouteArgs): RouteResult => route(a, { backend: 'cpu' });

(cpu ? describe : describe.skip)('route on the cpu backend: SPEC §10 worked examples', () => {
  test('A: ids with the tie to the lower index; raw and renormalised weights', () => {
    expect(Array.from(onCpu({ logits: SPEC_A, k: 2 }).ids.data)).toEqual([1, 0, 0, 1, 0, 2]);
    expectClose(onCpu({ logits: SPEC_A, k: 2 }).weights.data, [0.609460, 0.224208, 0.25, 0.25, 0.466837, 0.466837], 1e-6);
    expectClose(onCpu({ logits: SPEC_A, k: 2, renormalize: true }).weights.data, [0.731059, 0.268941, 0.5, 0.5, 0.5, 0.5], 1e-6);
    expectClose(onCpu({ logits: SPEC_A, method: 'topk_softmax', k: 2 }).weights.data, [0.731059, 0.268941, 0.5, 0.5, 0.5, 0.5], 1e-6);
  });
  test('B1, B2: sets; at S == t exactly (p = 0.25 each) XMoE stops and top_p takes one more', () => {
    // Row 2 of SPEC_B (log p) cannot give B3's dyadic p through f32 logits; its boundary is the reference's.
    const sets = (r: RouteResult) => [0, 1].map((t) => Array.from(r.ids.data.subarray(t * 4, t * 4 + 4)).filter((e) => e >= 0));
    for (const method of ['xmoe_threshold', 'top_p'] as const) {
      expect(sets(onCpu({ logits: SPEC_B, method, threshold: 0.9 }))).toEqual([[0, 1, 2], [0, 1, 2, 3]]);
      expect(sets(onCpu({ logits: SPEC_B, method, threshold: 0.4 }))).toEqual([[0], [0, 1]]);
      expectClose(onCpu({ logits: SPEC_B, method, threshold: 0.9 }).weights.data.subarray(0, 3), [0.643914, 0.236883, 0.087144], 1e-6);
    }
    expect(sets(onCpu({ logits: SPEC_B, method: 'xmoe_threshold', threshold: 0.5 }))[1]).toEqual([0, 1]);
    expect(sets(onCpu({ logits: SPEC_B, method: 'top_p', threshold: 0.5 }))[1]).toEqual([0, 1, 2]);
  });
  test('C: groups 3 and 2 kept, idx [6, 5], w [0.986852, 1.513148]', () => {
    const r = onCpu({ logits: SPEC_C, method: 'sigmoid_topk', k: 2, bias: SPEC_C_BIAS, groups: 4, topkGroups: 2, scale: 2.5 });
    expect(Array.from(r.ids.data)).toEqual([6, 5]);
    expectClose(r.weights.data, [0.986852, 1.513148], 1e-6);
    expect(Array.from(onCpu({ logits: SPEC_C, method: 'sigmoid_topk', k: 2, bias: SPEC_C_BIAS }).ids.data)).toEqual([6, 0]);
    expect(Array.from(onCpu({ logits: SPEC_C, method: 'sigmoid_topk', k: 2 }).ids.data)).toEqual([0, 5]);
  });
  test('D: position keeps {0,1,2,3,5}, probs keeps {0,2,3,4,5}', () => {
    const kept = (policy: DropPolicy) => Array.from(onCpu({ logits: SPEC_D, k: 1, capacity: { factor: 1, policy } }).capacity!.keep.data);
    expect(kept('position')).toEqual([1, 1, 1, 1, 0, 1]);
    expect(kept('probs')).toEqual([1, 0, 1, 1, 1, 1]);
  });
});

(addon ? describe : describe.skip)('route binding: the last line of defence', () => {
  const T = 3, E = 4, K = 2;
  const base = () => ({
    method: 'softmax_topk' as const, tokens: T, experts: E, k: 2, kmax: K, logits: new Float32Array(T * E),
    scores: new Float32Array(T * E), ids: new Int32Array(T * K), weights: new Float32Array(T * K), counts: new Int32Array(T),
  });
  const call = (over: Record<string, unknown>) => () => addon!.route({ ...base(), ...over } as never);
  /** The error `fn` throws. The addon's errors come from the main realm, not jest's, so compare names. */
  const thrown = (fn: () => unknown): Error => {
    try {
      fn();
    } catch (e) {
      return e as Error;
    }
    throw new Error('did not throw');
  };
  test('accepts a well-formed call', () => {
    expect(call({})).not.toThrow();
  });
  test.each([
    ['logits', { logits: new Float32Array(T * E - 1) }, 'RangeError'],
    ['logits', { logits: new Int32Array(T * E) }, 'TypeError'],
    ['scores', { scores: undefined }, 'TypeError'],
    ['ids', { ids: new Int32Array(T * K + 1) }, 'RangeError'],
    ['k', { k: 5 }, 'RangeError'],
    ['kmax', { kmax: 1 }, 'RangeError'],
    ['method', { method: 'top_k' }, 'RangeError'],
    ['groups', { groups: 3, topkGroups: 1 }, 'RangeError'],
    ['renormalize', { method: 'topk_softmax', renormalize: false }, 'RangeError'],
    ['threshold', { method: 'top_p', k: 0, threshold: 0 }, 'RangeError'],
    ['zeroGate', { zeroGate: Uint8Array.of(0, 2, 0, 0) }, 'RangeError'],
    ['pruneProtect', { pruneBeta: 0.5, pruneProtect: new Uint8Array(T + 1) }, 'RangeError'],
    ['extIds', { method: 'external', scores: undefined, logits: undefined, extIds: Int32Array.of(0, 1, 2, 4, -1, 3) }, 'RangeError'],
    ['extIds', { method: 'external', scores: undefined, logits: undefined, extIds: Int32Array.of(0, 1, 2, -2, -1, 3) }, 'RangeError'],
    ['load', { cap: 2, policy: 'position', selectedIds: new Int32Array(T * K), keep: new Int32Array(T * K), load: new Int32Array(E - 1), demand: new Int32Array(E) }, 'RangeError'],
    ['policy', { cap: 2, policy: 'random' }, 'RangeError'],
  ])("rejects a bad '%s'", (field, over, type) => {
    const e = thrown(call(over));
    expect(e.name).toBe(type);
    expect(e.message).toMatch(new RegExp(`^route: '${field}'`));
  });
  test('rejects overlapping outputs and outputs over inputs', () => {
    const buf = new Float32Array(T * E * 2);
    expect(call({ scores: buf.subarray(0, T * E), logits: buf.subarray(T * E - 1, 2 * T * E - 1) })).toThrow(/^route: 'scores' must not overlap 'logits'/);
    const ids = new Int32Array(T * K * 2);
    expect(call({ ids: ids.subarray(0, T * K), counts: ids.subarray(T * K - 1, T * K - 1 + T) })).toThrow(/must not overlap/);
  });
  test('the async export checks the same way, synchronously', () => {
    expect(() => addon!.routeAsync({ ...base(), k: 5 } as never)).toThrow(/^route: 'k'/);
  });
});
