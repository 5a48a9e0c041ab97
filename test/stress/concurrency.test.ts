// Threads, detached buffers and determinism, each in a child process (a crash fails the test instead of
// jest): worker_threads load the addon and their concurrent async calls match serial sync calls bit for bit
// (workers.child.ts); a buffer transferred while an async call is in flight makes that call reject
// (detach.child.ts); every op and a MoELayer give the same bits across thread counts, sync and async, and
// across processes (determinism.child.ts, run twice, and this jest process as a third run).

import { spawnSync } from 'child_process';
import * as path from 'path';
import { loadNative } from '../../lib/native';
import { jobs, runJobs } from './workload';

const REGISTER = path.join(__dirname, 'ts-register.js');

function runChild(file: string, args: string[] = [], timeoutMs = 120_000): { status: number | null; signal: string | null; out: string; json: Record<string, unknown> | null } {
  const r = spawnSync(process.execPath, ['-r', REGISTER, path.join(__dirname, file), ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 });
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
  } catch {
    // no report: the child died; status, signal and out say how
  }
  return { status: r.status, signal: r.signal, out: `${r.stdout}${r.stderr}`.slice(-3000), json };
}

function report(file: string, args: string[] = []): Record<string, unknown> {
  const r = runChild(file, args);
  if (r.status !== 0 || !r.json) throw new Error(`${file} ${args.join(' ')} died (${r.signal ?? `exit ${r.status}`}):\n${r.out}`);
  return r.json;
}

const native = loadNative() !== null;
const nativeTest = native ? test : test.skip;
const why = native ? '' : ' (skipped: the native addon is not loaded)';

describe('concurrency', () => {
  nativeTest(`the addon loads in 3 worker threads; their concurrent async calls match serial sync calls bit for bit${why}`, () => {
    const r = report('workers.child.ts', ['concurrent']);
    console.log(`workers: ${String(r.workers)} workers x 2 rounds x ${String(r.jobs)} jobs (SIMD ${JSON.stringify(r.simd)}), all in flight at once`);
    expect(r.problems).toEqual([]);
  }, 130_000);

  // Was a process abort ("terminate called after throwing an instance of 'Napi::Error'"), two ways. A worker
  // thread terminated while its async calls run in the pool still gets their completions, in an environment
  // that can no longer run JS (Node waits for the pool work first, so the buffers stay alive): settling failed
  // there, and node-addon-api turned the failure into a Napi::Error it could not throw either; PromiseWorker
  // (native/addon/binding.cpp) now drops the settlement. And a terminate landing inside a sync native call made
  // the binding's next Node-API call fail the same way; the build now defines
  // NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS, so node-addon-api drops an exception no one can receive.
  nativeTest(`terminating workers with async calls in flight leaves the process running${why}`, () => {
    const r = runChild('workers.child.ts', ['terminate']);
    expect(r.out).not.toMatch(/terminate called/);
    expect(r.status).toBe(0);
    expect(r.json?.problems).toEqual([]);
  }, 130_000);

  // Was a SIGSEGV (native/addon/addon.cpp): Node unloads an addon when the last environment that loaded it is
  // gone, but the CPU thread pool's threads keep running its code; the addon now pins itself (RTLD_NODELETE).
  nativeTest(`an addon loaded only by a worker thread stays loaded after the worker exits${why}`, () => {
    const r = runChild('workers.child.ts', ['unload']);
    expect(r.status).toBe(0);
    expect(r.json?.problems).toEqual([]);
  }, 130_000);

  nativeTest(`a buffer detached while an async call is in flight makes the call reject, for every array of every native op${why}`, () => {
    const r = report('detach.child.ts');
    console.log(`detach in flight: ${(r.covered as string[]).length} (op, array) pairs: ${(r.covered as string[]).join(', ')}`);
    expect(r.problems).toEqual([]);
    expect((r.covered as string[]).length).toBeGreaterThan(0);
  }, 130_000);
});

describe('determinism', () => {
  test('the same inputs give the same bits across thread counts, sync and async, and processes', async () => {
    const a = report('determinism.child.ts');
    const b = report('determinism.child.ts');
    expect(a.problems).toEqual([]);
    expect(b.problems).toEqual([]);
    expect(b.hashes).toEqual(a.hashes);
    // This jest process is a third run (another module loader, the same addon).
    expect(await runJobs(jobs('auto'), 'serial')).toEqual(a.hashes);
    console.log(`determinism: ${Object.keys(a.hashes as object).length} jobs x ${(a.runs as string[]).join(' / ')}, in 3 processes`);
  }, 130_000);
});
