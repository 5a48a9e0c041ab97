// The detach-in-flight child (run by concurrency.test.ts): a buffer transferred away while an async call is
// in flight makes that call reject; it never reports success. For every native op and every typed array its
// binding receives (inputs and outputs alike), the array's buffer is detached right after the async call is
// made (queued or running in the pool) and the public promise must reject. A large convert is also detached
// a few milliseconds in, while the pool is working on it. The same calls without a detach must resolve.
// Prints one JSON line.

import fc from 'fast-check';
import { selectBackend } from '../../lib/backends';
import { loadNative } from '../../lib/native';
import { Rng } from '../../lib/random';
import { convertAsync } from '../../lib/ops/convert';
import { Gen } from '../fuzz/core';
import { TARGETS } from '../fuzz/targets';

type Native = Record<string, (a: Record<string, unknown>) => unknown>;

async function main(): Promise<void> {
  const addon = loadNative() as unknown as Native | null;
  if (!addon) throw new Error('the native addon is not loaded');
  const problems: string[] = [];
  const covered: string[] = [];
  const keep: unknown[] = []; // the transferred buffers: the native thread may still be reading them

  for (const [name, f] of Object.entries(TARGETS)) {
    if (f.opId === null || f.opId === 'host') continue;
    try {
      selectBackend(f.opId, 'cpu');
    } catch {
      continue; // not native: nothing to detach under
    }
    // The sampled case with the most array bytes: its binding receives every array non-empty, or nearly.
    const bytes = (s: unknown): number => Object.values(f.build(s, new Gen(new Rng(1)))).reduce<number>((n, v) => {
      const d = ArrayBuffer.isView(v) ? v : (v as { data?: unknown } | undefined)?.data;
      return n + (ArrayBuffer.isView(d) ? d.byteLength : 0);
    }, 0);
    const spec = fc.sample(f.spec, { seed: 5, numRuns: 40 }).reduce((a, b) => (bytes(b) > bytes(a) ? b : a));
    const asyncName = Object.keys(addon).find((k) => k.endsWith('Async') && !k.startsWith('cuda') &&
      k.toLowerCase() === `${name.replace(/_/g, '')}async`)!;
    // Which fields does the binding receive? Record them once with a plain call.
    let fields: string[] = [];
    const original = addon[asyncName]!;
    addon[asyncName] = (a) => {
      fields = Object.keys(a).filter((k) => ArrayBuffer.isView(a[k]) && (a[k] as ArrayBufferView).byteLength > 0);
      return original(a);
    };
    try {
      await f.runAsync(f.build(spec, new Gen(new Rng(1))), { backend: 'cpu' });
    } catch (e) {
      problems.push(`${name}: the call without a detach failed: ${String(e)}`);
    }
    for (const field of fields) {
      addon[asyncName] = (a) => {
        const p = original(a);
        const v = a[field] as ArrayBufferView;
        keep.push(structuredClone(v.buffer, { transfer: [v.buffer as ArrayBuffer] }));
        return p;
      };
      try {
        await f.runAsync(f.build(spec, new Gen(new Rng(1))), { backend: 'cpu' });
        problems.push(`${name}: '${field}' was detached in flight, yet the call reported success`);
      } catch (e) {
        if (!/detached/.test(String(e))) problems.push(`${name}: '${field}' detached: rejected, but with ${String(e)}`);
      }
      covered.push(`${name}.${field}`);
    }
    addon[asyncName] = original;
  }

  // Detached while the pool is converting it (16 Mi elements take several ms).
  const x = new Float32Array(16 << 20).fill(0.5);
  const p = convertAsync({ x, to: 'bf16' }, { backend: 'cpu' });
  await new Promise((r) => setTimeout(r, 2));
  keep.push(structuredClone(x.buffer, { transfer: [x.buffer] }));
  let running = 'resolved';
  await p.then(() => undefined, (e) => (running = String(e)));
  if (!/detached/.test(running)) problems.push(`convert detached while running: ${running}`);

  process.stdout.write(`${JSON.stringify({ covered, problems, kept: keep.length })}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(2);
  },
);
