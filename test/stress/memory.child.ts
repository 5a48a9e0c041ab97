// The memory-flatness child (run by memory.test.ts as `node --expose-gc -r ts-register.js memory.child.ts`):
// a small MoELayer forward on backend 'auto' (every op that is native runs natively), warmed up, then
// CALLS sync calls and CALLS async calls, with the resident set size measured after a full GC a quarter of
// the way into each phase and at its end. Prints one JSON line: the numbers, the timings, what ran where.

import { MoELayer } from '../../lib/layer';
import { Rng } from '../../lib/random';
import { availableBackends, selectBackend } from '../../lib/backends';
import { OP_IDS } from '../../lib/backends/backend';

const CALLS = Number(process.env.STRESS_CALLS ?? 100_000);
const gc = (globalThis as { gc?: () => void }).gc;

interface Settled {
  rss: number;
  arrayBuffers: number;
  heapUsed: number;
}

function settle(): Settled {
  // Several passes: the first frees the young objects, later ones what their finalizers released.
  for (let i = 0; i < 4; i++) gc!();
  const m = process.memoryUsage();
  return { rss: m.rss, arrayBuffers: m.arrayBuffers, heapUsed: m.heapUsed };
}

async function main(): Promise<void> {
  if (!gc) throw new Error('run with --expose-gc');
  // 4 tokens, hidden 32: every call allocates a few KiB of outputs (x and out are 512 B each), so a leak of
  // even one output per call shows up as tens of MB over 100,000 calls.
  const layer = MoELayer.random({ hidden: 32, intermediate: 16, experts: 4, topK: 2, activation: 'swiglu' }, 1, { backend: 'auto' });
  const x = { data: new Rng(2).f32(4 * 32), shape: [4, 32], dtype: 'f32' as const };
  const native = OP_IDS.filter((op) => selectBackend(op, 'auto').name !== 'reference');

  // Warm up until the JIT, V8's heap sizing and the allocators have settled (measured here: RSS still grows
  // by ~15 MB over the first 25,000 calls, then by ~1 MB per 100,000).
  for (let i = 0; i < 20_000; i++) layer.forward({ x });
  for (let i = 0; i < 5_000; i++) await layer.forwardAsync({ x });

  // Each phase is measured from a quarter of the way in to its end: 3/4 of CALLS calls in steady state.
  let check = 0;
  const phase = async (mode: 'sync' | 'async'): Promise<{ quarter: Settled; end: Settled; ms: number }> => {
    const t = performance.now();
    let quarter: Settled | null = null;
    // Async calls go 4 at a time (each forward is 7 native calls through the libuv pool): concurrent calls
    // are how servers use it, and the phase takes half the time it would one by one.
    const step = mode === 'sync' ? 1 : 4;
    for (let i = 0; i < CALLS; i += step) {
      if (i === CALLS / 4) quarter = settle();
      if (mode === 'sync') check += layer.forward({ x }).out.data[0]!;
      else for (const r of await Promise.all([0, 1, 2, 3].map(() => layer.forwardAsync({ x })))) check += r.out.data[0]!;
    }
    return { quarter: quarter!, end: settle(), ms: performance.now() - t };
  };
  const start = settle();
  const sync = await phase('sync');
  const async = await phase('async');
  process.stdout.write(`${JSON.stringify({ calls: CALLS, backends: availableBackends(), native, start, sync, async, check })}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(2);
  },
);
