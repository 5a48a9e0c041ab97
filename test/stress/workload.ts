// A fixed, seeded workload for the concurrency and determinism tests: valid cases of every public op (drawn
// from the fuzz specs with a fixed seed, plus larger ones the thread pool splits) and a MoELayer forward,
// each reduced to a hash of its output bits. Runs anywhere the TypeScript sources load: the main thread, a
// worker thread, a child process.

import fc from 'fast-check';
import { MoELayer } from '../../lib/layer';
import { Rng } from '../../lib/random';
import { Gen, type Output } from '../fuzz/core';
import { TARGETS } from '../fuzz/targets';

export interface Job {
  name: string;
  sync: () => string;
  async: () => Promise<string>;
}

/** FNV-1a over the bytes of every output, in name order. */
export function hashOutputs(outs: Record<string, Output>): string {
  let h = 0x811c9dc5;
  for (const name of Object.keys(outs).sort()) {
    const d = outs[name]!.data;
    const bytes = d.length ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : new Uint8Array(0);
    for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193);
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** Larger specs per op, so the pool really splits the work (sizes above each kernel's grain). */
const LARGE: Record<string, unknown[]> = {
  convert: [{ n: 300_001, dims: 1, from: 'f32', to: 'bf16', out: false, bare: false }, { n: 200_003, dims: 2, from: 'f16', to: 'f32', out: true, bare: false }],
  permute: [{ tokens: 6000, hidden: 64, experts: 8, special: 2, kmax: 4, dtype: 'bf16', empty: 0.2, align: 8, scale: 2, map: false, bareIds: false }],
  grouped_gemm: [{ counts: [100, 0, 77, 180], k: 256, n: 96, aType: 'bf16', wType: 'bf16', outDtype: 'f32', activation: 'swiglu', layout: 'halves', bias: true, addend: false, out: false, offsetsForm: 'tensor' }],
  unpermute: [{ tokens: 3000, hidden: 65, kmax: 4, ffn: 6, zero: 1, copy: 1, constant: 1, spareRows: 2, yType: 'f32', xType: 'bf16', outDtype: 'f32', shared: true, residual: true, out: false, bare: false, inputScale: 2 }],
  router_stats: [{ tokens: 60_000, experts: 16, kmax: 4, scoresType: 'f32', logits: true, normalize: true, mask: true, idsBare: false, scoresBare: false }],
  route: [{ method: 'softmax_topk', tokens: 4000, experts: 64, logitsType: 'f32', ties: false, r: Array(12).fill(0.5), flags: [false, false, false, false, false, false, false, false, true, false, false, true] }],
};

/** `perOp` small valid cases of every op (seeded) and the LARGE ones, on `backend`, plus a layer forward. */
export function jobs(backend: 'auto' | 'reference', perOp = 6, seed = 99): Job[] {
  const out: Job[] = [];
  for (const [name, f] of Object.entries(TARGETS)) {
    if (f.opId === 'host') continue;
    const specs = [...fc.sample(f.spec, { seed, numRuns: perOp }), ...(LARGE[name] ?? [])];
    specs.forEach((spec, i) => {
      const args = (): Record<string, unknown> => f.build(spec, new Gen(new Rng(seed + i)));
      out.push({
        name: `${name} #${i}`,
        sync: () => hashOutputs(f.outputs(f.run(args(), { backend }))),
        async: async () => hashOutputs(f.outputs(await f.runAsync(args(), { backend }))),
      });
    });
  }
  const layer = (): MoELayer => MoELayer.random({ hidden: 48, intermediate: 32, experts: 8, topK: 2, sharedExpert: { intermediate: 16 } }, 5, { backend });
  const x = { data: new Rng(6).f32(300 * 48), shape: [300, 48], dtype: 'f32' as const };
  out.push({
    name: 'MoELayer forward (300 tokens)',
    sync: () => hashOutputs({ out: { data: layer().forward({ x }).out.data, dtype: 'f32', measure: { kind: 'bits' } } }),
    async: async () => hashOutputs({ out: { data: (await layer().forwardAsync({ x })).out.data, dtype: 'f32', measure: { kind: 'bits' } } }),
  });
  return out;
}

/** Every job's hash: one at a time with the sync calls, or all at once with the async ones. */
export async function runJobs(list: Job[], mode: 'serial' | 'concurrent'): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  if (mode === 'serial') {
    for (const j of list) hashes[j.name] = j.sync();
  } else {
    const got = await Promise.all(list.map((j) => j.async()));
    list.forEach((j, i) => (hashes[j.name] = got[i]!));
  }
  return hashes;
}
