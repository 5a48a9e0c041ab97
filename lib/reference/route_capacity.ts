// Reference of `route`'s capacity step (SPEC §3): per-expert cap, drop policies, survivor renormalisation.

import type { RouteResult, RouteValidated } from '../ops/route.types';
import { byScore } from './route_select';

type CapacityInfo = NonNullable<RouteResult['capacity']>;

/**
 * Drop assignments beyond `cfg.cap` per expert, in place: a dropped slot of `ids` [T, K] becomes -1 and its
 * `gates` entry 0 (slots do not move, so a drop may leave a hole mid-row). `gates` are the pre-scale
 * weights; the 'probs' policy compares them rounded to f32.
 * - 'position' and 'rank_then_position': priority (rank, token): every rank-0 pick in token order, then
 *   rank-1, ... Under our tie rule (lower token wins within a rank) XMoE's rank-then-position order and the
 *   GShard/DeepSpeed rank-major position order are the same order, so they share this code.
 * - 'probs': per expert, the largest weights (NaN first), ties to the lower token.
 * With `renormalizeSurvivors`, every token's kept gates are divided by (their sum + 1e-20) (GShard).
 */
export function applyCapacity(
  cfg: NonNullable<RouteValidated['capacity']>, T: number, K: number, E: number, ids: Int32Array, gates: Float64Array,
): CapacityInfo {
  const selected = ids.slice();
  const keep = new Int32Array(T * K);
  const load = new Int32Array(E);
  const demand = new Int32Array(E);
  for (const e of selected) if (e >= 0) demand[e]!++;

  if (cfg.policy === 'probs') {
    const byExpert: number[][] = Array.from({ length: E }, () => []);
    for (let s = 0; s < T * K; s++) if (selected[s]! >= 0) byExpert[selected[s]!]!.push(s);
    for (const slots of byExpert) {
      // Slot index s = t * K + r, so comparing slot indices compares tokens (an expert appears once per token).
      slots.sort((a, b) => byScore(Math.fround(gates[a]!), a, Math.fround(gates[b]!), b));
      for (let i = 0; i < slots.length && i < cfg.cap; i++) {
        keep[slots[i]!] = 1;
        load[selected[slots[i]!]!]!++;
      }
    }
  } else {
    for (let r = 0; r < K; r++) {
      for (let t = 0; t < T; t++) {
        const e = selected[t * K + r]!;
        if (e >= 0 && load[e]! < cfg.cap) {
          keep[t * K + r] = 1;
          load[e]!++;
        }
      }
    }
  }

  for (let s = 0; s < T * K; s++) {
    if (!keep[s]) {
      ids[s] = -1;
      gates[s] = 0;
    }
  }
  if (cfg.renormalizeSurvivors) {
    for (let t = 0; t < T; t++) {
      let sum = 0;
      for (let r = 0; r < K; r++) sum += gates[t * K + r]!;
      for (let r = 0; r < K; r++) gates[t * K + r] = gates[t * K + r]! / (sum + 1e-20);
    }
  }
  const i32 = (data: Int32Array, shape: number[]) => ({ data, shape, dtype: 'i32' as const });
  return { cap: cfg.cap, selectedIds: i32(selected, [T, K]), keep: i32(keep, [T, K]), load: i32(load, [E]), demand: i32(demand, [E]) };
}
