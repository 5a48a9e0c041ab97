// route cases of the GPU check: every method at several sizes (odd ones too) and every SPEC edge case
// (ties, k = E, -inf masking, all -inf rows, NaN / +inf rows, every token to one expert, group limits,
// capacity policies, pruning, zero gates, external ids, E above the fused kernel's 1024).

import { Rng } from '../../lib/random';
import { route, RouteArgs, RouteResult } from '../../lib/ops/route';
import type { BackendName } from '../../lib/backends/backend';
import { EXACT, Out, rel, TOL } from './compare';
import type { CheckCase } from './cases';

type Edge = 'random' | 'equal' | 'neginf' | 'nan' | 'ties' | 'one_expert';

function logits(rng: Rng, T: number, E: number, edge: Edge): Float32Array {
  const z = new Float32Array(T * E);
  for (let i = 0; i < z.length; i++) {
    z[i] = edge === 'equal' ? 0.5 : edge === 'ties' ? rng.int(3) : edge === 'neginf' && rng.int(3) === 0 ? -Infinity : rng.normal() * 2;
  }
  if (edge === 'neginf') for (let t = 0; t < T; t += 5) z.fill(-Infinity, t * E, (t + 1) * E); // all -inf rows
  if (edge === 'nan') for (let t = 0; t < T; t += 3) z[t * E + rng.int(E)] = t % 2 ? NaN : Infinity;
  if (edge === 'one_expert') for (let t = 0; t < T; t++) z[t * E + (E > 3 ? 3 : 0)] = 30; // every token's first pick
  return z;
}

function outputs(r: RouteResult): Record<string, Out> {
  const o: Record<string, Out> = {
    ids: { data: r.ids.data, dtype: 'i32', measure: EXACT },
    counts: { data: r.counts.data, dtype: 'i32', measure: EXACT },
    weights: { data: r.weights.data, dtype: 'f32', measure: rel(TOL.f32) },
  };
  if (r.scores) o.scores = { data: r.scores.data, dtype: 'f32', measure: rel(TOL.f32) };
  if (r.capacity) {
    for (const k of ['selectedIds', 'keep', 'load', 'demand'] as const) o[k] = { data: r.capacity[k].data, dtype: 'i32', measure: EXACT };
  }
  return o;
}

function routeCase(name: string, T: number, E: number, edge: Edge, seed: number, make: (z: Float32Array) => RouteArgs): CheckCase {
  const z = logits(new Rng(seed), T, E, edge);
  const args = make(z);
  return {
    op: 'route',
    name: `${name}, T=${T}, E=${E}${edge === 'random' ? '' : `, ${edge}`}`,
    small: T * E <= 64 * 1024,
    run: (backend: BackendName) => outputs(route(args, { backend })),
  };
}

export function routeCases(sizes: number[]): CheckCase[] {
  const cases: CheckCase[] = [];
  let seed = 1;
  const lz = (z: Float32Array, T: number, E: number) => ({ data: z, shape: [T, E], dtype: 'f32' as const });
  for (const T of sizes) {
    const add = (name: string, E: number, edge: Edge, f: (z: ReturnType<typeof lz>) => RouteArgs) =>
      cases.push(routeCase(name, T, E, edge, seed++, (z) => f(lz(z, T, E))));
    add('mixtral softmax top-2 renorm', 8, 'random', (l) => ({ logits: l, k: 2, renormalize: true }));
    add('qwen3 softmax top-8 renorm', 128, 'random', (l) => ({ logits: l, k: 8, renormalize: true }));
    add('switch top-1, kmax 3', 61, 'random', (l) => ({ logits: l, k: 1, kmax: 3 }));
    add('smoe-dropout topk_softmax k=5', 33, 'random', (l) => ({ logits: l, method: 'topk_softmax', k: 5 }));
    add('deepseek-v3 sigmoid G8/4 bias r2.5', 256, 'random', (l) => ({
      logits: l, method: 'sigmoid_topk', k: 8, groups: 8, topkGroups: 4, scale: 2.5,
      bias: Float32Array.from({ length: 256 }, (_, i) => ((i * 37) % 11) / 50 - 0.1),
    }));
    add('softmax G4/2 group max', 32, 'random', (l) => ({ logits: l, k: 3, groups: 4, topkGroups: 2 }));
    add('xmoe threshold 0.9', 64, 'random', (l) => ({ logits: l, method: 'xmoe_threshold', threshold: 0.9 }));
    add('dynamic-moe top_p 0.4, kmax 5', 40, 'random', (l) => ({ logits: l, method: 'top_p', threshold: 0.4, kmax: 5 }));
    add('gshard top-2 capacity position, renorm survivors', 16, 'random', (l) => ({
      logits: l, k: 2, capacity: { factor: 0.6, renormalizeSurvivors: true },
    }));
    add('v-moe top-2 capacity probs', 16, 'random', (l) => ({ logits: l, k: 2, capacity: { factor: 0.6, policy: 'probs' } }));
    add('xmoe capacity rank_then_position, min 8', 24, 'random', (l) => ({
      logits: l, method: 'xmoe_threshold', threshold: 0.5, kmax: 4, capacity: { factor: 0.8, policy: 'rank_then_position', minCapacity: 8, kCapacity: 1 },
    }));
    add('mc-moe prune beta 0.5', 8, 'random', (l) => ({
      logits: l, k: 2, prune: {
        beta: 0.5, protect: Uint8Array.from({ length: T }, (_, t) => (t % 10 === 1 ? 1 : 0)),
        dropAll: Uint8Array.from({ length: T }, (_, t) => (t % 10 === 3 ? 1 : 0)),
      },
    }));
    add('moe++ zero gate, k=2', 6, 'random', (l) => ({ logits: l, k: 2, renormalize: true, zeroGateExperts: [5] }));
    add('k = E (dense)', 12, 'random', (l) => ({ logits: l, k: 12, renormalize: true }));
    add('E=1024 top-32', 1024, 'random', (l) => ({ logits: l, k: 32, renormalize: true }));
    add('E=997 (odd) top-3', 997, 'random', (l) => ({ logits: l, k: 3, renormalize: true }));
    add('E=1500 (above the fused kernel: fallback)', 1500, 'random', (l) => ({ logits: l, k: 4, renormalize: true }));
    const ids = new Int32Array(T * 3).map((_, i) => (i % 7 === 6 ? -1 : (i * 5 + Math.floor(i / 3)) % 20));
    for (let t = 0; t < T; t++) {
      // distinct within a row
      const r = ids.subarray(t * 3, t * 3 + 3);
      if (r[1] === r[0]) r[1] = (r[0]! + 1) % 20;
      if (r[2] === r[0] || r[2] === r[1]) r[2] = -1;
    }
    cases.push({
      op: 'route', name: `external ids + weights, capacity, T=${T}`, small: true,
      run: (backend) => outputs(route({
        method: 'external', ids: { data: ids, shape: [T, 3], dtype: 'i32' }, experts: 20, renormalize: true,
        weights: { data: Float32Array.from(ids, (_, i) => 0.1 + (i % 5) / 7), shape: [T, 3], dtype: 'f32' },
        capacity: { factor: 0.5 },
      }, { backend })),
    });
  }
  // SPEC edge cases, at one odd size.
  const T = 37;
  for (const edge of ['equal', 'neginf', 'nan', 'ties', 'one_expert'] as const) {
    const add = (name: string, E: number, f: (z: ReturnType<typeof lz>) => RouteArgs) =>
      cases.push(routeCase(name, T, E, edge, seed++, (z) => f(lz(z, T, E))));
    add('softmax top-4 renorm', 24, (l) => ({ logits: l, k: 4, renormalize: true }));
    add('sigmoid G4/2 top-3, bias', 24, (l) => ({
      logits: l, method: 'sigmoid_topk', k: 3, groups: 4, topkGroups: 2,
      bias: Float32Array.from({ length: 24 }, (_, i) => (i % 3) * 0.01),
    }));
    add('xmoe threshold 0.75', 24, (l) => ({ logits: l, method: 'xmoe_threshold', threshold: 0.75 }));
    add('top_p 0.5', 24, (l) => ({ logits: l, method: 'top_p', threshold: 0.5 }));
    add('topk_softmax k=3', 24, (l) => ({ logits: l, method: 'topk_softmax', k: 3 }));
    add('capacity probs top-2', 24, (l) => ({ logits: l, k: 2, capacity: { factor: 0.5, policy: 'probs' } }));
  }
  return cases;
}
