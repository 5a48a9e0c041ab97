// Reference of `route` (SPEC §0–§4, §5.3, §7, §8): the oracle every backend is compared with.
// Order per token: scores -> selection -> raw weights -> prune -> zero gates -> renormalise; then capacity
// over all tokens; then scale. Gates stay float64 until the final f32 store.

import type { RouteResult, RouteValidated } from '../ops/route.types';
import { applyCapacity } from './route_capacity';
import { allowedByGroups, sigmoidAll, softmaxRows, sortBySelection, thresholdPicks } from './route_select';

/** The picks of token t in slot order (score methods). */
function selectRow(v: RouteValidated, t: number, z: Float32Array, scores: Float32Array): number[] {
  const E = v.experts;
  const row = scores.subarray(t * E, (t + 1) * E);
  if (v.method === 'xmoe_threshold' || v.method === 'top_p') {
    return thresholdPicks(row, v.threshold, v.method === 'top_p', v.kmax);
  }
  // Selection scores: p, s, or the logits themselves for 'topk_softmax', plus the bias, rounded to f32.
  const base = v.method === 'topk_softmax' ? z.subarray(t * E, (t + 1) * E) : row;
  const cs = new Float32Array(E);
  for (let e = 0; e < E; e++) cs[e] = base[e]! + (v.bias ? v.bias[e]! : 0);
  // Experts outside the kept groups are left out altogether, which is what -inf masking means (SPEC §2.1).
  const allowed = v.groups > 1 ? allowedByGroups(cs, v.groups, v.topkGroups, v.groupTopN) : Array.from({ length: E }, (_, e) => e);
  return sortBySelection(cs, allowed).slice(0, v.k);
}

/** Raw weights of the picks: the score (p or s), or for 'topk_softmax' exp(z - max z) over the picks
 *  (renormalised later, which makes it the softmax over the picks). float64. */
function rawWeights(v: RouteValidated, t: number, picks: number[], z: Float32Array, scores: Float32Array): number[] {
  const E = v.experts;
  if (v.method !== 'topk_softmax') return picks.map((e) => scores[t * E + e]!);
  let m = -Infinity;
  for (const e of picks) m = Math.max(m, z[t * E + e]!);
  return picks.map((e) => Math.exp(z[t * E + e]! - m));
}

/** MC-MoE ODP (SPEC §8): keep slot 0 and every slot j >= 1 unless w_j < beta * w_0; dropAll loses all.
 *  Survivors keep their order and move to the front, so padding stays trailing. */
function pruneRow(v: RouteValidated, t: number, picks: number[], raw: number[]): void {
  const pr = v.prune!;
  if (pr.dropAll && pr.dropAll[t]) {
    picks.length = 0;
    raw.length = 0;
    return;
  }
  if ((pr.protect && pr.protect[t]) || picks.length === 0) return;
  let n = 1;
  for (let j = 1; j < picks.length; j++) {
    if (raw[j]! < pr.beta * raw[0]!) continue;
    picks[n] = picks[j]!;
    raw[n] = raw[j]!;
    n++;
  }
  picks.length = n;
  raw.length = n;
}

export function routeReference(v: RouteValidated): RouteResult {
  const T = v.tokens;
  const E = v.experts;
  const K = v.kmax;
  const ids = new Int32Array(T * K).fill(-1);
  const gates = new Float64Array(T * K);
  let scores: Float32Array | undefined;

  if (v.method === 'external') {
    const src = v.ids!.data;
    const k = v.k;
    for (let t = 0; t < T; t++) {
      let sum = 0;
      for (let j = 0; j < k; j++) {
        const e = src[t * k + j]!;
        ids[t * K + j] = e;
        // Empty slots carry weight 0 whatever the caller's weights say (RouteResult contract).
        gates[t * K + j] = e < 0 ? 0 : v.weights ? v.weights[t * k + j]! : 1;
        sum += gates[t * K + j]!;
      }
      if (v.renormalize) for (let j = 0; j < k; j++) gates[t * K + j] = gates[t * K + j]! / (sum + 1e-20);
    }
  } else {
    const z = v.logits!.data;
    scores = v.method === 'sigmoid_topk' ? sigmoidAll(z) : softmaxRows(z, T, E);
    for (let t = 0; t < T; t++) {
      const picks = selectRow(v, t, z, scores);
      const raw = rawWeights(v, t, picks, z, scores);
      if (v.prune) pruneRow(v, t, picks, raw);
      const g = raw.map((w, j) => (v.zeroGate && v.zeroGate[picks[j]!] ? 0 : w));
      if (v.renormalize) {
        let sum = 0;
        for (const w of g) sum += w;
        for (let j = 0; j < g.length; j++) g[j] = g[j]! / (sum + 1e-20);
      }
      for (let j = 0; j < picks.length; j++) {
        ids[t * K + j] = picks[j]!;
        gates[t * K + j] = g[j]!;
      }
    }
  }

  const capacity = v.capacity ? applyCapacity(v.capacity, T, K, E, ids, gates) : undefined;

  const weights = new Float32Array(T * K);
  const counts = new Int32Array(T);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < K; j++) {
      if (ids[t * K + j]! < 0) continue;
      weights[t * K + j] = gates[t * K + j]! * v.scale;
      counts[t]!++;
    }
  }
  const result: RouteResult = {
    ids: { data: ids, shape: [T, K], dtype: 'i32' },
    weights: { data: weights, shape: [T, K], dtype: 'f32' },
    counts: { data: counts, shape: [T], dtype: 'i32' },
  };
  if (scores) result.scores = { data: scores, shape: [T, E], dtype: 'f32' };
  if (capacity) result.capacity = capacity;
  return result;
}
