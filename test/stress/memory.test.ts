// Memory stays flat: 100,000 forward calls of a small MoELayer, sync and then async, on backend 'auto' (every
// op that is native runs natively), in a child process run with --expose-gc (memory.child.ts). Device
// tensors (CUDA) are freed by dispose() and, as a backstop, by the GC (device.child.ts, GPU only).
//
//   STRESS_CALLS=1000000 npx jest test/stress/memory    # a longer run

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { cudaUsable } from '../../lib/backends/cuda';
import { loadNative } from '../../lib/native';

const REGISTER = path.join(__dirname, 'ts-register.js');
const CALLS = Number(process.env.STRESS_CALLS ?? 100_000);
const MB = 1 << 20;

// The bound, per phase, on RSS growth from a quarter of the way in to the end (3/4 of CALLS calls in steady
// state, measured after full GCs). Why 16 MB: every call allocates a few KiB of outputs (x and out alone are
// 512 B), so leaking one output per call would add 0.75 × 100,000 × 512 B = 37 MB, and any leak of 224 B or
// more per call (a native scratch buffer, a persistent reference, a promise) passes 16 MB. Measured here
// (2 cores, node 20): 0.4 MB sync and 1.7 MB async, so allocator and JIT drift leave a wide margin.
const PHASE_BOUND = 16 * MB * (CALLS / 100_000);

interface Settled {
  rss: number;
  arrayBuffers: number;
  heapUsed: number;
}
interface Phase {
  quarter: Settled;
  end: Settled;
  ms: number;
}

function runChild(file: string, timeoutMs: number): string {
  const r = spawnSync(process.execPath, ['--expose-gc', '-r', REGISTER, path.join(__dirname, file)], {
    encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, STRESS_CALLS: String(CALLS) }, maxBuffer: 16 << 20,
  });
  if (r.status !== 0) throw new Error(`${file} failed (${r.error?.message ?? r.signal ?? `exit ${r.status}`}):\n${r.stderr}`);
  return r.stdout.trim().split('\n').pop()!;
}

describe('memory', () => {
  const timeout = Math.max(180_000, CALLS * 2.5);
  test(`${CALLS} MoELayer forward calls, sync then async, keep RSS flat (< ${PHASE_BOUND / MB} MB per phase)`, () => {
    const r = JSON.parse(runChild('memory.child.ts', timeout)) as { native: string[]; start: Settled; sync: Phase; async: Phase };
    const mb = (n: number): string => (n / MB).toFixed(1);
    const growth = (p: Phase): number => p.end.rss - p.quarter.rss;
    console.log(`memory: native ops [${r.native.join(', ')}]; RSS ${mb(r.start.rss)} MB at start; ` +
      `sync ${Math.round(r.sync.ms)} ms, +${mb(growth(r.sync))} MB over the last 3/4; ` +
      `async ${Math.round(r.async.ms)} ms, +${mb(growth(r.async))} MB; end ${mb(r.async.end.rss)} MB`);
    expect(growth(r.sync)).toBeLessThan(PHASE_BOUND);
    expect(growth(r.async)).toBeLessThan(PHASE_BOUND);
    // Objects the JS heap still holds, and external ArrayBuffer memory V8 tracks, must not grow either.
    expect(r.async.end.heapUsed - r.sync.quarter.heapUsed).toBeLessThan(8 * MB);
    expect(r.async.end.arrayBuffers - r.sync.quarter.arrayBuffers).toBeLessThan(8 * MB);
  }, timeout + 10_000);

  const addon = loadNative();
  const gpu = !fs.existsSync(path.join(__dirname, '..', '..', 'lib', 'device.ts'))
    ? { ok: false, why: 'lib/device.ts does not exist (no device-tensor API in this version)' }
    : addon ? cudaUsable(addon) : { ok: false, why: 'the native addon is not loaded' };
  (gpu.ok ? test : test.skip)(`device tensors are freed by dispose() and by the GC${gpu.ok ? '' : ` (skipped: ${gpu.why})`}`, () => {
    const r = JSON.parse(runChild('device.child.ts', 120_000)) as { free0: number; afterDispose: number; whileHeld: number; afterGc: number };
    console.log(`device memory (MB free): start ${r.free0 / MB}, after 64 x 256 MB disposed ${r.afterDispose / MB}, ` +
      `16 x 256 MB held ${r.whileHeld / MB}, after the GC ${r.afterGc / MB}`);
    expect(r.afterDispose).toBeGreaterThan(r.free0 - 256 * MB);
    expect(r.whileHeld).toBeLessThan(r.free0 - 3 * 1024 * MB);
    expect(r.afterGc).toBeGreaterThan(r.free0 - 512 * MB);
  }, 130_000);
});
