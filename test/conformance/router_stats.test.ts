// router_stats on every native backend vs the reference: counts, top1Counts, tokens and selections
// exactly, probSum within 1e-6 norm-wise; then (outside the harness, whose outputs are f32 at best) the f64
// sums zSquareSum and entropySum within 1e-9 relative and bitwise equal for 1, 2 and 3 threads. Cases:
// T = 0, 1, 7, 255, 4097 (more than one 64-token chunk), E in {1, 8, 64, 128, 256}, k in {1, 2, 8},
// logits or not, normalizeScores, token masks, empty slots, every token to one expert, zero scores
// (0 · log 0), NaN scores and all -inf logit rows (NaN / +inf propagate).

import { routerStats, routerStatsAsync } from '../../lib/ops/router_stats';
import type { RouterStats, RouterStatsArgs } from '../../lib/ops/router_stats.types';
import { selectBackend } from '../../lib/backends';
import { loadNative } from '../../lib/native';
import { Rng } from '../../lib/random';
import { Case, conformance } from './harness';

interface Spec {
  T: number;
  E: number;
  k: number;
  logits?: boolean;
  normalize?: boolean;
  mask?: boolean;
  /** Every token's slots: expert `one` first, the rest empty. */
  one?: number;
  zeros?: boolean;
  /** A NaN score in token 1 and an all -inf logit row in token 2. */
  specials?: boolean;
}

function makeCase(s: Spec, seed: number): Case<RouterStatsArgs> {
  const parts = [`T = ${s.T}`, `E = ${s.E}`, `k = ${s.k}`];
  if (s.logits) parts.push('logits');
  if (s.normalize) parts.push('normalizeScores');
  if (s.mask) parts.push('token mask');
  if (s.one !== undefined) parts.push(`every token to expert ${s.one}`);
  if (s.zeros) parts.push('zero scores');
  if (s.specials) parts.push('NaN score, all -inf logits row');
  let cached: RouterStatsArgs | undefined;
  const build = (): RouterStatsArgs => {
    const rng = new Rng(seed);
    const { T, E, k } = s;
    const ids = new Int32Array(T * k).fill(-1);
    for (let t = 0; t < T; t++) {
      if (s.one !== undefined) {
        ids[t * k] = s.one;
        continue;
      }
      const perm = Array.from({ length: E }, (_, i) => i);
      for (let j = 0; j < k; j++) {
        const r = j + rng.int(E - j);
        [perm[j], perm[r]] = [perm[r]!, perm[j]!];
        if (rng.next() >= 0.1) ids[t * k + j] = perm[j]!;
      }
    }
    const logits = Float32Array.from({ length: T * E }, () => 3 * rng.normal());
    const scores = new Float32Array(T * E);
    for (let t = 0; t < T; t++) {
      // Softmax of the logits (as route's scores), or sigmoid when normalising (Megatron's case).
      const row = logits.subarray(t * E, (t + 1) * E);
      const m = Math.max(...row);
      const e = Array.from(row, (v) => (s.normalize ? 1 / (1 + Math.exp(-v)) : Math.exp(v - m)));
      const sum = s.normalize ? 1 : e.reduce((a, b) => a + b, 0);
      for (let i = 0; i < E; i++) scores[t * E + i] = s.zeros && (t + i) % 5 === 0 ? 0 : e[i]! / sum;
    }
    if (s.specials && T > 2) {
      scores[E] = NaN;
      logits.fill(-Infinity, 2 * E, 3 * E);
    }
    const a: RouterStatsArgs = {
      ids: { data: ids, shape: [T, k], dtype: 'i32' },
      scores: { data: scores, shape: [T, E], dtype: 'f32' },
    };
    if (s.logits) a.logits = { data: logits, shape: [T, E], dtype: 'f32' };
    if (s.normalize) a.normalizeScores = true;
    if (s.mask) a.tokenMask = Uint8Array.from({ length: T }, (_, t) => (t % 4 === 3 ? 0 : 1));
    return a;
  };
  return { name: parts.join(', '), args: () => (cached ??= build()) };
}

const specs: Spec[] = [
  { T: 0, E: 8, k: 2, logits: true },
  { T: 1, E: 1, k: 1, logits: true },
  { T: 7, E: 8, k: 2, logits: true, mask: true },
  { T: 255, E: 64, k: 8, logits: true, normalize: true },
  { T: 255, E: 128, k: 8, zeros: true, mask: true },
  { T: 4097, E: 128, k: 8, logits: true, mask: true },
  { T: 4097, E: 256, k: 2, logits: true, normalize: true, mask: true },
  { T: 4097, E: 8, k: 1 },
  { T: 255, E: 64, k: 8, logits: true, one: 17 },
  { T: 255, E: 8, k: 2, logits: true, specials: true },
  { T: 7, E: 256, k: 8, logits: true, specials: true, normalize: true },
];
const cases = specs.map((s, i) => makeCase(s, 3000 + i));

conformance<RouterStatsArgs, RouterStats>({
  op: 'router_stats',
  cases,
  run: routerStats,
  runAsync: routerStatsAsync,
  outputs: (r) => ({
    counts: { data: r.counts.data, dtype: 'i32', measure: { kind: 'exact' } },
    top1Counts: { data: r.top1Counts.data, dtype: 'i32', measure: { kind: 'exact' } },
    probSum: { data: r.probSum.data, dtype: 'f32', measure: { kind: 'relNorm', tol: 1e-6 } },
    totals: { data: Int32Array.of(r.tokens, r.selections), dtype: 'i32', measure: { kind: 'exact' } },
  }),
});

// The f64 sums, which the harness's f32 / i32 outputs cannot carry.
const addon = loadNative();
let cpuWhyNot: string | null = addon === null ? 'the native addon is not loaded' : null;
if (cpuWhyNot === null) {
  try {
    selectBackend('router_stats', 'cpu');
  } catch (e) {
    cpuWhyNot = (e as Error).message;
  }
}

const relClose = (got: number | undefined, want: number | undefined): boolean =>
  got === want || (Number.isNaN(got) && Number.isNaN(want)) ||
  (got !== undefined && want !== undefined && Math.abs(got - want) <= 1e-9 * Math.abs(want));

describe('router_stats f64 sums (cpu)', () => {
  if (cpuWhyNot !== null) {
    test.skip(`cpu backend: ${cpuWhyNot}`, () => undefined);
    return;
  }
  afterAll(() => addon!.setNumThreads(0));
  test.each(cases)('$name', (c) => {
    const want = routerStats(c.args(), { backend: 'reference' });
    let first: RouterStats | undefined;
    for (const n of [1, 2, 3]) {
      addon!.setNumThreads(n);
      const got = routerStats(c.args(), { backend: 'cpu' });
      expect(relClose(got.entropySum, want.entropySum)).toBe(true);
      expect(relClose(got.zSquareSum, want.zSquareSum)).toBe(true);
      expect(got.zSquareSum === undefined).toBe(want.zSquareSum === undefined);
      if (first) {
        expect(Object.is(got.entropySum, first.entropySum)).toBe(true);
        expect(Object.is(got.zSquareSum, first.zSquareSum)).toBe(true);
        expect(Array.from(got.probSum.data)).toEqual(Array.from(first.probSum.data));
      }
      first ??= got;
    }
  });
});
