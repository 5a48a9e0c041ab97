// `aux_loss` (SPEC §6): the Switch load-balance loss and the ST-MoE z-loss from router statistics.
//
// Host math on E numbers, no backend: by the time it runs the counts may have been summed across
// data-parallel ranks and micro-batches (global-batch balancing), so its inputs live on the host anyway, and
// O(E) multiply-adds cost far less than any kernel launch or native call. Every backend shares this code.

import { Check } from '../errors';
import type { AuxLoss, AuxLossArgs } from './router_stats.types';

const OP = 'aux_loss';
type FNorm = NonNullable<AuxLossArgs['fNormalization']>;

export interface AuxLossValidated {
  counts: number[];
  tokens: number;
  probSum: number[];
  localTokens: number;
  k: number;
  fNormalization: FNorm;
  selections?: number;
  zSquareSum?: number;
  zTokens?: number;
}

/** Reads an ArrayLike<number> argument into a plain array, checking each element. */
function numbers(c: Check, arg: string, v: unknown, what: 'count' | 'sum'): number[] {
  const ok = Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
  if (!ok) c.type(arg, 'an array or typed array of numbers [experts]', v);
  const src = v as ArrayLike<unknown>;
  const outArr: number[] = [];
  for (let i = 0; i < src.length; i++) {
    const x = src[i];
    if (typeof x !== 'number') c.type(`${arg}[${i}]`, 'a number', x);
    // Counts must be real counts; score sums may carry a NaN from upstream (it propagates) but not a sign.
    if (what === 'count' && !(Number.isFinite(x) && x >= 0)) c.range(arg, `must hold finite non-negative counts, got ${x} at ${i}`);
    if (what === 'sum' && x < 0) c.range(arg, `must hold non-negative score sums, got ${x} at ${i}`);
    outArr.push(x);
  }
  return outArr;
}

/** Check every argument of aux_loss; throws TypeError / RangeError naming the argument. */
export function validateAuxLoss(args: AuxLossArgs): AuxLossValidated {
  const c = new Check(OP);
  const o = c.object('args', args);
  const counts = numbers(c, 'counts', o.counts, 'count');
  if (counts.length < 1) c.range('counts', 'must have at least one expert, got length 0');
  const probSum = numbers(c, 'probSum', o.probSum, 'sum');
  if (probSum.length !== counts.length) c.range('probSum', `must have experts = ${counts.length} elements (as 'counts'), got ${probSum.length}`);
  const tokens = c.int('tokens', o.tokens, 1);
  const localTokens = c.int('localTokens', o.localTokens, 1);
  const k = c.int('k', o.k, 1, counts.length);
  const fNormalization: FNorm = o.fNormalization === undefined ? 'megatron'
    : c.oneOf('fNormalization', o.fNormalization, ['megatron', 'hf', 'selections'] as const);
  let selections: number | undefined;
  if (o.selections !== undefined || fNormalization === 'selections') {
    if (o.selections === undefined) c.type('selections', "an integer (required by fNormalization 'selections')", undefined);
    selections = c.int('selections', o.selections, 1);
  }
  let zSquareSum: number | undefined;
  let zTokens: number | undefined;
  if (o.zSquareSum !== undefined || o.zTokens !== undefined) {
    if (o.zSquareSum === undefined) c.type('zSquareSum', "a number (given with 'zTokens')", undefined);
    const zs = o.zSquareSum;
    if (typeof zs !== 'number') return c.type('zSquareSum', 'a number', zs);
    // A square sum is >= 0; +inf (an all -inf logit row) and NaN pass through and propagate into zLoss.
    if (zs < 0) c.range('zSquareSum', `must be non-negative (a sum of squares), got ${zs}`);
    zSquareSum = zs;
    if (o.zTokens === undefined) c.type('zTokens', "an integer (given with 'zSquareSum')", undefined);
    zTokens = c.int('zTokens', o.zTokens, 1);
  }
  return { counts, tokens, probSum, localTokens, k, fNormalization, selections, zSquareSum, zTokens };
}

/**
 * loadBalance = E · Σ_i f_i · P_i with P_i = probSum_i / localTokens and f_i = counts_i / (k · tokens)
 * ('megatron', default: perfect balance gives 1), counts_i / tokens ('hf': k times larger) or
 * counts_i / selections ('selections': variable k, SPEC §4.2); zLoss = zSquareSum / zTokens (NaN when not
 * given). No coefficients are applied.
 *
 * Shapes: counts and probSum [experts] (plain numbers: counts may be global sums over ranks and
 * micro-batches, probSum stays local, SPEC §6). Computed in float64 on the host.
 */
export function auxLoss(args: AuxLossArgs): AuxLoss {
  const v = validateAuxLoss(args);
  const E = v.counts.length;
  const denom = v.fNormalization === 'megatron' ? v.k * v.tokens : v.fNormalization === 'hf' ? v.tokens : v.selections!;
  let s = 0;
  for (let i = 0; i < E; i++) s += (v.counts[i]! / denom) * (v.probSum[i]! / v.localTokens);
  const zLoss = v.zSquareSum === undefined ? NaN : v.zSquareSum / v.zTokens!;
  return { loadBalance: E * s, zLoss };
}
