// Reference `router_stats` (SPEC §6): per-expert selection counts and score sums, and the per-token sums
// behind the z-loss and the entropy loss. Plain loops over tokens in order, float64 sums.

import type { RouterStats, RouterStatsValidated } from '../ops/router_stats.types';

/** log Σ_e exp(z_e), max-subtracted. NaN anywhere -> NaN; a +inf entry -> +inf; all -inf -> -inf (an
 *  empty row too, as log 0). */
export function logSumExp(z: Float32Array, start: number, len: number): number {
  let m = -Infinity;
  for (let e = 0; e < len; e++) {
    const v = z[start + e]!;
    if (Number.isNaN(v)) return NaN;
    if (v > m) m = v;
  }
  if (m === Infinity || m === -Infinity) return m;
  let s = 0;
  for (let e = 0; e < len; e++) s += Math.exp(z[start + e]! - m);
  return m + Math.log(s);
}

export function routerStatsReference(a: RouterStatsValidated): RouterStats {
  const { ids, scores, logits, tokens, kmax, experts, normalizeScores, tokenMask } = a;
  const counts = new Int32Array(experts);
  const top1Counts = new Int32Array(experts);
  const probSum64 = new Float64Array(experts);
  let used = 0;
  let selections = 0;
  let zSquareSum = 0;
  let entropySum = 0;
  for (let t = 0; t < tokens; t++) {
    if (tokenMask && tokenMask[t] === 0) continue;
    used++;
    for (let j = 0; j < kmax; j++) {
      const id = ids[t * kmax + j]!;
      if (id < 0) continue;
      counts[id]!++;
      selections++;
      if (j === 0) top1Counts[id]!++;
    }
    let denom = 1;
    if (normalizeScores) {
      let s = 0;
      for (let e = 0; e < experts; e++) s += scores[t * experts + e]!;
      denom = s + 1e-20;
    }
    for (let e = 0; e < experts; e++) {
      const p = scores[t * experts + e]! / denom;
      probSum64[e] = probSum64[e]! + p;
      // 0 · log 0 = 0 (the limit); a negative or NaN p makes the sum NaN, as it should.
      if (p !== 0) entropySum -= p * Math.log(p);
    }
    if (logits) {
      const l = logSumExp(logits, t * experts, experts);
      zSquareSum += l * l;
    }
  }
  const stats: RouterStats = {
    counts: { data: counts, shape: [experts], dtype: 'i32' },
    top1Counts: { data: top1Counts, shape: [experts], dtype: 'i32' },
    probSum: { data: Float32Array.from(probSum64), shape: [experts], dtype: 'f32' },
    tokens: used,
    selections,
    entropySum,
  };
  if (logits) stats.zSquareSum = zSquareSum;
  return stats;
}
