// The `route` op: router logits -> padded per-token expert picks and weights (SPEC §0–§4, §5.3, §7, §8).
// This file validates every argument and resolves every default; the math lives in lib/reference/route.ts.

import type { OpOptions } from '../backends/backend';
import { selectBackend } from '../backends';
import { Check } from '../errors';
import { Tensor, toF32, toTensor } from '../tensor';
import { MAX_EXPERTS } from './permute';
import type { DropPolicy, RouteArgs, RouteMethod, RouteResult, RouteValidated } from './route.types';

export type { CapacityOptions, DropPolicy, PruneOptions, RouteArgs, RouteMethod, RouteResult, RouteValidated } from './route.types';

const c: Check = new Check('route'); // typed, so calls returning never narrow
const I32_MAX = 2147483647;

export const ROUTE_METHODS: readonly RouteMethod[] = ['softmax_topk', 'topk_softmax', 'sigmoid_topk', 'xmoe_threshold', 'top_p', 'external'];
export const DROP_POLICIES: readonly DropPolicy[] = ['position', 'probs', 'rank_then_position'];

const TOPK: readonly RouteMethod[] = ['softmax_topk', 'topk_softmax', 'sigmoid_topk'];
const THRESHOLD: readonly RouteMethod[] = ['xmoe_threshold', 'top_p'];
const SCORED: readonly RouteMethod[] = [...TOPK, ...THRESHOLD];

/** Which methods each argument applies to. A present argument outside its list is a RangeError rather than
 *  silently ignored: a caller who sets `threshold` on a top-k router wants to know it did nothing. */
const APPLIES: Record<keyof RouteArgs, readonly RouteMethod[]> = {
  logits: SCORED,
  method: ROUTE_METHODS,
  k: [...TOPK, 'external'],
  renormalize: ROUTE_METHODS,
  bias: TOPK,
  groups: ['softmax_topk', 'sigmoid_topk'],
  topkGroups: ['softmax_topk', 'sigmoid_topk'],
  groupTopN: ['softmax_topk', 'sigmoid_topk'],
  scale: ROUTE_METHODS,
  threshold: THRESHOLD,
  kmax: ROUTE_METHODS,
  zeroGateExperts: SCORED,
  capacity: ROUTE_METHODS,
  prune: SCORED,
  ids: ['external'],
  weights: ['external'],
  experts: ROUTE_METHODS,
};

function noUnknownKeys(arg: string, o: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(o)) {
    if (o[key] !== undefined && !known.includes(key)) {
      c.range(`${arg}${key}`, `is not an option of route${arg ? ` ${arg.slice(0, -1)}` : ''} (known: ${known.join(', ')})`);
    }
  }
}

/** A 0/1 byte mask of length `n`. */
function mask(arg: string, v: unknown, n: number): Uint8Array {
  if (!(v instanceof Uint8Array)) c.type(arg, 'a Uint8Array', v);
  if (v.length !== n) c.range(arg, `must have length ${n} (tokens), got ${v.length}`);
  for (let i = 0; i < n; i++) if (v[i]! > 1) c.range(arg, `must hold only 0 and 1, got ${v[i]} at ${i}`);
  return v;
}

/** A float vector of length `n` with finite entries (a bare Float32Array or a 1-D tensor). */
function finiteVector(arg: string, v: unknown, n: number, dim: string): Float32Array {
  const t = toTensor(c, arg, v, { dtypes: ['f32', 'bf16', 'f16'], shape: [n], dims: [dim] });
  const a = toF32(t);
  for (let i = 0; i < n; i++) if (!Number.isFinite(a[i]!)) c.range(arg, `must be finite, got ${a[i]} at ${i}`);
  return a;
}

function validateExternal(a: Record<string, unknown>): { ids: Tensor<'i32'>; weights: Float32Array | null; T: number; E: number; k: number } {
  const E = c.int('experts', a.experts, 1, MAX_EXPERTS); // [experts] outputs (capacity load) are allocated
  let ids: Tensor<'i32'>;
  if (ArrayBuffer.isView(a.ids) && a.k !== undefined) {
    // A bare Int32Array takes its shape from k: [length / k, k].
    const k = c.int('k', a.k, 1, I32_MAX);
    const len = (a.ids as unknown as { length: number }).length;
    if (len % k !== 0) c.range('ids', `has ${len} elements, not a multiple of k = ${k}`);
    ids = toTensor(c, 'ids', a.ids, { dtypes: ['i32'], shape: [len / k, k], dims: ['tokens', 'k'] }) as Tensor<'i32'>;
  } else {
    ids = toTensor(c, 'ids', a.ids, { dtypes: ['i32'], shape: [-1, -1], dims: ['tokens', 'k'] }) as Tensor<'i32'>;
  }
  const [T, k] = ids.shape as [number, number];
  if (k < 1) c.range('ids.shape', `must have at least one slot per token, got [${T}, ${k}]`);
  if (T > I32_MAX || k > I32_MAX) c.range('ids.shape', `must have fewer than 2^31 tokens and slots, got [${T}, ${k}]`);
  if (a.k !== undefined && c.int('k', a.k, 1, I32_MAX) !== k) c.range('k', `must equal the ids width ${k}, got ${a.k}`);
  const d = ids.data;
  const seen = new Int32Array(E).fill(-1); // seen[e] = last token that used e: distinctness without clearing
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < k; j++) {
      const e = d[t * k + j]!;
      if (e < -1 || e >= E) c.range('ids', `must hold expert ids in [-1, ${E}), got ${e} at [${t}, ${j}]`);
      if (e >= 0) {
        if (seen[e] === t) c.range('ids', `must be distinct within a row (except -1), got ${e} twice in row ${t}`);
        seen[e] = t;
      }
    }
  }
  let weights: Float32Array | null = null;
  if (a.weights !== undefined) {
    const w = toTensor(c, 'weights', a.weights, { dtypes: ['f32', 'bf16', 'f16'], shape: [T, k], dims: ['tokens', 'k'] });
    weights = toF32(w);
  }
  return { ids, weights, T, E, k };
}

/**
 * Validate `route` arguments (every tensor, shape, option and its applicability to the method) and resolve
 * the defaults. Throws TypeError for the wrong kind of value, RangeError for a bad value, naming the argument.
 */
export function validateRoute(args: RouteArgs): RouteValidated {
  const a = c.object('args', args);
  noUnknownKeys('', a, Object.keys(APPLIES));
  const method = a.method === undefined ? 'softmax_topk' : c.oneOf('method', a.method, ROUTE_METHODS);
  for (const key of Object.keys(APPLIES) as (keyof RouteArgs)[]) {
    if (a[key] !== undefined && !APPLIES[key].includes(method)) {
      c.range(key, `does not apply to method '${method}' (it is used by ${APPLIES[key].map((m) => `'${m}'`).join(', ')})`);
    }
  }
  const isTopk = TOPK.includes(method);
  const isThreshold = THRESHOLD.includes(method);

  let T: number, E: number, k: number;
  let logits: Tensor<'f32'> | null = null;
  let ids: Tensor<'i32'> | null = null;
  let weights: Float32Array | null = null;
  if (method === 'external') {
    ({ ids, weights, T, E, k } = validateExternal(a));
  } else {
    const z = toTensor(c, 'logits', a.logits, { dtypes: ['f32', 'bf16', 'f16'], shape: [-1, -1], dims: ['tokens', 'experts'] });
    [T, E] = z.shape as [number, number];
    if (E < 1) c.range('logits.shape', `must have at least one expert, got [${T}, ${E}]`);
    if (E > MAX_EXPERTS || T > I32_MAX) c.range('logits.shape', `must have fewer than 2^31 tokens and at most ${MAX_EXPERTS} experts, got [${T}, ${E}]`);
    logits = { data: toF32(z), shape: [T, E], dtype: 'f32' };
    if (a.experts !== undefined && c.int('experts', a.experts, 1, MAX_EXPERTS) !== E) {
      c.range('experts', `must equal the experts dimension of logits (${E}), got ${a.experts}`);
    }
    k = isTopk ? c.int('k', a.k, 1, E) : 0;
  }

  let kmax = isThreshold ? E : k;
  if (a.kmax !== undefined) {
    kmax = isThreshold ? c.int('kmax', a.kmax, 1, E) : c.int('kmax', a.kmax, k, Math.max(k, E));
  }

  let renormalize = method === 'sigmoid_topk' || method === 'topk_softmax';
  if (a.renormalize !== undefined) {
    renormalize = c.bool('renormalize', a.renormalize);
    if (method === 'topk_softmax' && !renormalize) {
      c.range('renormalize', "cannot be false for method 'topk_softmax' (its weights are a softmax over the k picks)");
    }
  }

  const bias = a.bias === undefined ? null : finiteVector('bias', a.bias, E, 'experts');

  let groups = 1, topkGroups = 1, groupTopN = 1;
  if (a.groups !== undefined) {
    groups = c.int('groups', a.groups, 1, E);
    if (E % groups !== 0) c.range('groups', `must divide the number of experts ${E}, got ${groups}`);
    const size = E / groups;
    if (groups > 1 && a.topkGroups === undefined) c.type('topkGroups', "an integer in [1, groups] (required with 'groups')", undefined);
    topkGroups = a.topkGroups === undefined ? 1 : c.int('topkGroups', a.topkGroups, 1, groups);
    groupTopN = a.groupTopN === undefined ? Math.min(bias ? 2 : 1, size) : c.int('groupTopN', a.groupTopN, 1, size);
    if (k > topkGroups * size) {
      c.range('k', `must be at most topkGroups * experts / groups = ${topkGroups * size} with group-limited routing, got ${k}`);
    }
  } else {
    if (a.topkGroups !== undefined) c.range('topkGroups', "needs 'groups'");
    if (a.groupTopN !== undefined) c.range('groupTopN', "needs 'groups'");
  }

  const scale = a.scale === undefined ? 1 : c.num('scale', a.scale, 0, Infinity, true);
  const threshold = isThreshold ? c.num('threshold', a.threshold, 0, 1, true, false) : 0;

  let zeroGate: Uint8Array | null = null;
  if (a.zeroGateExperts !== undefined) {
    const z = a.zeroGateExperts;
    if (!Array.isArray(z) && !(z instanceof Int32Array)) c.type('zeroGateExperts', 'an array of expert ids', z);
    zeroGate = new Uint8Array(E);
    Array.from(z as ArrayLike<unknown>).forEach((e, i) => {
      zeroGate![c.int(`zeroGateExperts[${i}]`, e, 0, E - 1)] = 1;
    });
  }

  let capacity: RouteValidated['capacity'] = null;
  if (a.capacity !== undefined) {
    const o = c.object('capacity', a.capacity);
    noUnknownKeys('capacity.', o, ['factor', 'policy', 'minCapacity', 'kCapacity', 'renormalizeSurvivors']);
    const factor = c.num('capacity.factor', o.factor, 0, Infinity, true);
    const policy = o.policy === undefined ? 'position' : c.oneOf('capacity.policy', o.policy, DROP_POLICIES);
    const minCapacity = o.minCapacity === undefined ? 0 : c.int('capacity.minCapacity', o.minCapacity, 0, I32_MAX);
    const kCapacity = o.kCapacity === undefined ? kmax : c.int('capacity.kCapacity', o.kCapacity, 1, Math.max(kmax, E));
    const renormalizeSurvivors = o.renormalizeSurvivors === undefined ? false : c.bool('capacity.renormalizeSurvivors', o.renormalizeSurvivors);
    // float64 then ceil (SPEC §3); saturating keeps it an int32 for native code, and an expert never
    // receives more than T assignments, so a saturated cap drops nothing either way.
    const cap = Math.min(I32_MAX, Math.max(minCapacity, Math.ceil((kCapacity * T * factor) / E)));
    capacity = { factor, policy, minCapacity, kCapacity, renormalizeSurvivors, cap };
  }

  let prune: RouteValidated['prune'] = null;
  if (a.prune !== undefined) {
    const o = c.object('prune', a.prune);
    noUnknownKeys('prune.', o, ['beta', 'protect', 'dropAll']);
    const beta = c.num('prune.beta', o.beta, 0, 1);
    const protect = o.protect === undefined ? null : mask('prune.protect', o.protect, T);
    const dropAll = o.dropAll === undefined ? null : mask('prune.dropAll', o.dropAll, T);
    if (protect && dropAll) {
      for (let t = 0; t < T; t++) {
        if (protect[t] && dropAll[t]) c.range('prune.dropAll', `and 'prune.protect' both hold token ${t}; a token is either protected or dropped`);
      }
    }
    prune = { beta, protect, dropAll };
  }

  return { method, tokens: T, experts: E, logits, k, kmax, renormalize, bias, groups, topkGroups, groupTopN, scale, threshold, zeroGate, capacity, prune, ids, weights };
}

/**
 * Route tokens to experts: `p = softmax(z)` (or `s = sigmoid(z)`), select per token, weigh the picks.
 *
 * Input `logits` z is [tokens, experts] (f32, bf16 or f16; routing math is f32). Output `ids` [tokens, kmax]
 * int32 holds the picks in slot order, by selection score descending, ties to the lower expert id, NaN
 * above every number; `weights` [tokens, kmax] f32; empty slots are id -1 with weight 0 (variable k,
 * pruned or dropped by capacity); `counts` [tokens] the non-empty slots; `scores` [tokens, experts] p or s.
 *
 * Per token: selection scores (p, s or z, plus the selection-only `bias`) -> optional group limit (keep the
 * `topkGroups` groups with the largest sum of their top `groupTopN` scores) -> top-k, or for the threshold
 * methods the sorted prefix (XMoE: keep j iff j = 0 or S_{j-1} < t; top_p: iff S_{j-1} <= t; prefix sums
 * of the f32 p in float64; capped at kmax) -> raw weights (p or s; softmax over the picked logits for
 * 'topk_softmax') -> `prune` (slot j >= 1 goes iff w_j < beta * w_0; survivors move to the front) ->
 * `zeroGateExperts` gates set to 0 -> `renormalize` (w / (Σw + 1e-20)). Then over all tokens, `capacity`
 * drops assignments beyond cap = max(minCapacity, ceil(kCapacity·T·factor/E)) per expert ('position' and
 * 'rank_then_position': all rank-0 picks in token order, then rank-1, ...; 'probs': largest weight first,
 * ties to the lower token), leaving -1 / 0 in place, and optionally renormalises each token's survivors.
 * Last, weights are multiplied by `scale`. With softmax scores, rows holding NaN or +inf, or all -inf, give
 * NaN weights (ids stay in range and distinct); the threshold methods keep only the first pick of such rows.
 *
 * 'external' takes `ids` [tokens, k] (and `weights`, default 1) from the caller (hash, frozen or
 * task-level routers) and applies renormalize, capacity and scale.
 */
export function route(args: RouteArgs, opts: OpOptions = {}): RouteResult {
  const v = validateRoute(args);
  return selectBackend('route', opts.backend).route(v);
}

/** The async twin of route: the arguments are validated during the call (a bad argument rejects the
 *  promise), then native backends run the op off the JS thread. Leave the argument and `out` arrays alone
 *  until the promise settles. */
export async function routeAsync(args: RouteArgs, opts: OpOptions = {}): Promise<RouteResult> {
  const v = validateRoute(args);
  return selectBackend('route', opts.backend).routeAsync(v);
}
