// Reference helpers of `route`: scores, the selection order, group limits and the threshold prefix rules
// (SPEC §0, §1, §2.1, §4). Plain loops; math in float64, rounded to f32 before anything is compared, so ties
// are decided on the f32 values that native kernels see.

/**
 * Selection order: NaN above every number (torch sort semantics), then larger first, then lower index.
 * Returns < 0 when (va, ia) goes first. -0 and +0 tie (then the lower index wins).
 */
export function byScore(va: number, ia: number, vb: number, ib: number): number {
  const na = va !== va;
  const nb = vb !== vb;
  if (na !== nb) return na ? -1 : 1;
  if (!na && va !== vb) return va > vb ? -1 : 1;
  return ia - ib;
}

/** Indices `idx` sorted by `v[i]` in selection order (a copy). */
export function sortBySelection(v: ArrayLike<number>, idx: readonly number[]): number[] {
  return [...idx].sort((a, b) => byScore(v[a]!, a, v[b]!, b));
}

/**
 * Row-wise softmax of z [rows, n] in float64 (max-subtracted), rounded to f32. A row with NaN or +inf, or
 * all -inf, becomes all NaN: Math.max propagates NaN, inf - inf and -inf - -inf are NaN.
 */
export function softmaxRows(z: Float32Array, rows: number, n: number): Float32Array {
  const p = new Float32Array(rows * n);
  const e = new Float64Array(n);
  for (let t = 0; t < rows; t++) {
    const o = t * n;
    let m = -Infinity;
    for (let i = 0; i < n; i++) m = Math.max(m, z[o + i]!);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      e[i] = Math.exp(z[o + i]! - m);
      sum += e[i]!;
    }
    for (let i = 0; i < n; i++) p[o + i] = e[i]! / sum;
  }
  return p;
}

/** Element-wise sigmoid in float64, rounded to f32 (NaN stays NaN, ±inf give 1 / 0). */
export function sigmoidAll(z: Float32Array): Float32Array {
  const s = new Float32Array(z.length);
  for (let i = 0; i < z.length; i++) s[i] = 1 / (1 + Math.exp(-z[i]!));
  return s;
}

/**
 * Group limit (SPEC §2.1 step 3) on one row of selection scores `cs` [E]: a group's score is the f32-rounded
 * sum of its top `topN` scores; the `keep` best groups survive (NaN first, ties to the lower group).
 * Returns the experts of the kept groups, in index order.
 */
export function allowedByGroups(cs: Float32Array, groups: number, keep: number, topN: number): number[] {
  const size = cs.length / groups;
  const gscore = new Float32Array(groups);
  for (let g = 0; g < groups; g++) {
    const members = Array.from({ length: size }, (_, i) => g * size + i);
    const top = sortBySelection(cs, members);
    let sum = 0;
    for (let j = 0; j < topN; j++) sum += cs[top[j]!]!;
    gscore[g] = sum;
  }
  const kept = sortBySelection(gscore, Array.from({ length: groups }, (_, g) => g)).slice(0, keep).sort((a, b) => a - b);
  const out: number[] = [];
  for (const g of kept) for (let i = 0; i < size; i++) out.push(g * size + i);
  return out;
}

/**
 * Threshold prefix (SPEC §4) over one row of f32 probabilities `p` [E]: sort descending (ties to the lower
 * index); slot 0 is always kept; slot j >= 1 is kept iff S_{j-1} < t ('xmoe_threshold') or S_{j-1} <= t
 * ('top_p'), S being the float64 prefix sum of the sorted f32 p. At most `kmax` slots. A NaN prefix makes
 * every comparison false, so NaN rows keep only their first pick.
 */
export function thresholdPicks(p: Float32Array, t: number, inclusive: boolean, kmax: number): number[] {
  const order = sortBySelection(p, Array.from({ length: p.length }, (_, i) => i));
  const picks = [order[0]!];
  let s = p[order[0]!]!;
  for (let j = 1; j < kmax; j++) {
    if (!(inclusive ? s <= t : s < t)) break;
    const e = order[j]!;
    picks.push(e);
    s += p[e]!;
  }
  return picks;
}
