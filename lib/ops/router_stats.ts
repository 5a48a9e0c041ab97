// The `router_stats` op: argument validation and the public entry (lib/reference/router_stats.ts is the
// oracle). The loss itself is `auxLoss` (lib/ops/aux_loss.ts), so counts can be all-reduced in between.

import { FLOAT_DTYPES } from '../dtype';
import { Check } from '../errors';
import { Tensor, toF32, toTensor } from '../tensor';
import { selectBackend } from '../backends';
import type { OpOptions } from '../backends/backend';
import { MAX_EXPERTS } from './permute';
import type { RouterStats, RouterStatsArgs, RouterStatsValidated } from './router_stats.types';

const OP = 'router_stats';

/** Check every argument of router_stats and resolve defaults; throws TypeError / RangeError naming the
 *  argument. Shapes: ids [tokens, kmax], scores and logits [tokens, experts], tokenMask [tokens]. A bare
 *  typed array takes its shape from the other of ids / scores (at least one must carry a shape). */
export function validateRouterStats(args: RouterStatsArgs): RouterStatsValidated {
  const c = new Check(OP);
  const o = c.object('args', args);
  const idsBare = ArrayBuffer.isView(o.ids);
  const scoresBare = ArrayBuffer.isView(o.scores);
  let ids: Tensor;
  let scores: Tensor;
  if (!idsBare || scoresBare) {
    ids = toTensor(c, 'ids', o.ids, { dtypes: ['i32'], shape: [-1, -1], dims: ['tokens', 'kmax'] });
    const t = ids.shape[0]!;
    const len = scoresBare ? (o.scores as unknown as { length: number }).length : 0;
    if (scoresBare && (t === 0 ? len !== 0 : len % t !== 0)) {
      c.range('scores', `has ${len} elements, not a multiple of tokens = ${t} (from 'ids')`);
    }
    if (scoresBare && t === 0) c.type('scores', "a tensor with a shape when 'ids' has no tokens (experts is unknown)", o.scores);
    scores = toTensor(c, 'scores', o.scores, {
      dtypes: FLOAT_DTYPES, shape: scoresBare ? [t, len / t] : [t, -1], dims: ['tokens', 'experts'],
    });
  } else {
    scores = toTensor(c, 'scores', o.scores, { dtypes: FLOAT_DTYPES, shape: [-1, -1], dims: ['tokens', 'experts'] });
    const t = scores.shape[0]!;
    const len = (o.ids as unknown as { length: number }).length;
    if (t === 0 ? len !== 0 : len % t !== 0) c.range('ids', `has ${len} elements, not a multiple of tokens = ${t} (from 'scores')`);
    ids = toTensor(c, 'ids', o.ids, { dtypes: ['i32'], shape: [t, t === 0 ? 0 : len / t], dims: ['tokens', 'kmax'] });
  }
  const tokens = ids.shape[0]!;
  const kmax = ids.shape[1]!;
  const experts = scores.shape[1]!;
  // At least one expert, so every token has real score elements: a zero-width [2^40, 0] would be looped over.
  // At most MAX_EXPERTS (as permute): the [experts] outputs are allocated before any work.
  if (experts < 1 || experts > MAX_EXPERTS) c.range('scores.shape', `must have 1 to ${MAX_EXPERTS} experts, got [${scores.shape.join(', ')}]`);
  // Past int32 only with zero elements; the native binding takes every size as an int32.
  if (tokens > 2147483647 || kmax > 2147483647) c.range('ids.shape', `must have dimensions below 2^31, got [${ids.shape.join(', ')}]`);
  const idData = ids.data as Int32Array;
  // Ids index per-expert arrays in native code: one out of range would write outside them.
  for (let i = 0; i < idData.length; i++) {
    const id = idData[i]!;
    if (id < -1 || id >= experts) {
      c.range('ids', `must hold expert ids in [-1, ${experts}) (-1 = empty slot), got ${id} at token ${Math.floor(i / kmax)}, slot ${i % kmax}`);
    }
  }

  const logits = o.logits === undefined ? undefined
    : toF32(toTensor(c, 'logits', o.logits, { dtypes: FLOAT_DTYPES, shape: [tokens, experts], dims: ['tokens', 'experts'] }));
  const normalizeScores = o.normalizeScores === undefined ? false : c.bool('normalizeScores', o.normalizeScores);
  let tokenMask: Uint8Array | undefined;
  if (o.tokenMask !== undefined) {
    if (!(o.tokenMask instanceof Uint8Array)) c.type('tokenMask', 'a Uint8Array [tokens] of 0 / 1', o.tokenMask);
    tokenMask = o.tokenMask as Uint8Array;
    if (tokenMask.length !== tokens) c.range('tokenMask', `must have tokens = ${tokens} elements, got ${tokenMask.length}`);
    for (let t = 0; t < tokens; t++) {
      if (tokenMask[t]! > 1) c.range('tokenMask', `must hold 0 (padding) or 1 (real token), got ${tokenMask[t]} at token ${t}`);
    }
  }
  return { ids: idData, scores: toF32(scores), logits, tokens, kmax, experts, normalizeScores, tokenMask };
}

/**
 * counts[e] = #{(t, j) : ids[t, j] = e}, top1Counts[e] = #{t : ids[t, 0] = e}, probSum[e] = Σ_t p[t, e],
 * zSquareSum = Σ_t logsumexp(z_t)², entropySum = Σ_t -Σ_e p[t, e] log p[t, e], over unmasked tokens.
 *
 * Shapes: ids [tokens, kmax] int32 (-1 = empty slot; pass the ids BEFORE capacity dropping), scores
 * [tokens, experts] (softmax p or sigmoid s; p = scores, or scores / (row sum + 1e-20) with
 * normalizeScores), logits [tokens, experts] (optional, for the z-loss), tokenMask [tokens] (0 = padding,
 * excluded from every statistic and from `tokens`). Sums run in float64 in token order; probSum is rounded
 * to f32. 0 · log 0 = 0 in the entropy. logsumexp is max-subtracted; a row of all -inf gives -inf, whose
 * square is +inf; NaN propagates. Feed the result (summed across ranks if wanted) to `auxLoss`.
 */
export function routerStats(args: RouterStatsArgs, opts: OpOptions = {}): RouterStats {
  const v = validateRouterStats(args);
  return selectBackend(OP, opts.backend).routerStats(v);
}

/** The async twin of routerStats: the arguments are validated during the call (a bad argument rejects the
 *  promise), then native backends run the op off the JS thread. Leave the argument and `out` arrays alone
 *  until the promise settles. */
export async function routerStatsAsync(args: RouterStatsArgs, opts: OpOptions = {}): Promise<RouterStats> {
  const v = validateRouterStats(args);
  return selectBackend(OP, opts.backend).routerStatsAsync(v);
}
