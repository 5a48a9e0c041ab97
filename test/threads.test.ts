// The public thread / SIMD settings, and the layer's bitwise determinism across thread counts on 'auto'.

import { capabilities, getNumThreads, MoELayer, preset, Rng, setNumThreads, setSimdPath } from '../lib';
import { expectArgError } from './util';

const native = capabilities().native;
const maybe = native ? describe : describe.skip; // skipped only when the addon is missing (reason: no binary)

maybe('thread and SIMD settings', () => {
  afterAll(() => {
    setNumThreads(0);
    setSimdPath('auto');
  });

  test('setNumThreads validates and round-trips', () => {
    expectArgError(() => setNumThreads(-1), RangeError, 'n');
    expectArgError(() => setNumThreads(1.5), RangeError, 'n');
    expectArgError(() => setNumThreads('2' as never), TypeError, 'n');
    expectArgError(() => setSimdPath('sse' as never), RangeError, 'path');
    setNumThreads(1);
    expect(getNumThreads()).toBe(1);
    setNumThreads(0);
    expect(getNumThreads()).toBeGreaterThanOrEqual(1);
  });

  test('a Qwen3-style layer on auto gives bitwise the same output for 1 and 2 threads', () => {
    const layer = MoELayer.random(preset('qwen3-moe', { hidden: 64, intermediate: 32, experts: 16, topK: 4 }), 9);
    const x = { data: new Rng(4).f32(37 * 64), shape: [37, 64], dtype: 'f32' as const };
    setNumThreads(1);
    const a = layer.forward({ x }).out.data;
    setNumThreads(2);
    const b = layer.forward({ x }).out.data;
    expect(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength))).toBe(true);
  });
});

// The pool keeps its workers off the caller's CPU (native/cpu/thread_pool.cpp, keepWorkersOffCaller): read
// every thread's mask from /proc in a child process (on the built dist/, as npm test builds it) after
// parallel calls. Linux only (/proc).
(native && process.platform === 'linux' ? describe : describe.skip)('pool worker affinity', () => {
  const { spawnSync } = require('child_process') as typeof import('child_process');
  const script = `
    const fs = require('fs');
    const m = require(${JSON.stringify(require('path').join(__dirname, '..', 'dist', 'lib'))});
    m.setNumThreads(2);
    const layer = m.MoELayer.random(m.preset('qwen3-moe', { hidden: 64, intermediate: 32, experts: 16, topK: 4 }), 3);
    const x = { data: new m.Rng(1).f32(64 * 64), shape: [64, 64], dtype: 'f32' };
    for (let i = 0; i < 3; i++) layer.forward({ x });
    const mask = (f) => fs.readFileSync(f, 'utf8').match(/Cpus_allowed_list:\\s*(\\S+)/)[1];
    const tasks = fs.readdirSync('/proc/self/task').map((t) => mask('/proc/self/task/' + t + '/status'));
    const cpus = require('os').availableParallelism();  // the affinity mask's CPU count
    process.stdout.write(JSON.stringify({ proc: mask('/proc/self/status'), tasks, cpus }));`;
  const run = (env: Record<string, string>) => {
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' });
    expect(r.status).toBe(0);
    return JSON.parse(r.stdout) as { proc: string; tasks: string[]; cpus: number };
  };

  test('a worker is masked off one CPU, and MOE_CPU_AFFINITY=off leaves every mask alone', () => {
    const on = run({});
    // The one worker of a 2-thread pool; with a single allowed CPU there is none to spare, so no mask changes.
    expect(on.tasks.filter((t) => t !== on.proc).length).toBe(on.cpus >= 2 ? 1 : 0);
    const off = run({ MOE_CPU_AFFINITY: 'off' });
    expect(off.tasks.every((t) => t === off.proc)).toBe(true);
  });
});
