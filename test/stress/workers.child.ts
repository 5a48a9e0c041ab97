// The worker_threads child (run by concurrency.test.ts as `... workers.child.ts [concurrent|terminate|unload]`):
// 'concurrent': the addon loads in several worker threads at once and their concurrent async calls give
// the hashes the main thread's serial sync calls give; 'terminate': terminating workers while their async
// calls are in flight, or while they are inside a sync native call, leaves the process (and later calls)
// unharmed; 'unload': an addon loaded by worker threads only stays loaded after they exit. Prints one JSON line.

import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { jobs, runJobs } from './workload';

const WORKERS = 3;

function message(w: Worker): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`worker exited with code ${code} before answering`)));
  });
}

function diff(want: Record<string, string>, got: Record<string, string>): string[] {
  return Object.keys(want).filter((k) => want[k] !== got[k]).map((k) => `${k}: ${got[k]} != ${want[k]}`);
}

/** Several workers, each with all its calls in flight, while the main thread runs its own async calls too. */
async function concurrent(): Promise<Record<string, unknown>> {
  const list = jobs('auto');
  const serial = await runJobs(list, 'serial');
  const problems: string[] = [];
  const workers = Array.from({ length: WORKERS }, () => new Worker(path.join(__dirname, 'worker.js'), { workerData: { mode: 'jobs', rounds: 2 } }));
  const [answers, mainConcurrent] = await Promise.all([Promise.all(workers.map(message)), runJobs(list, 'concurrent')]);
  problems.push(...diff(serial, mainConcurrent).map((d) => `main thread, concurrent: ${d}`));
  answers.forEach((a, w) => {
    if (a.error) problems.push(`worker ${w}: ${String(a.error)}`);
    else (a.results as Record<string, string>[]).forEach((r, round) => problems.push(...diff(serial, r).map((d) => `worker ${w} round ${round}: ${d}`)));
  });
  await Promise.all(workers.map((w) => w.terminate()));
  return { jobs: list.length, workers: WORKERS, simd: answers.map((a) => a.simd), problems };
}

/** Terminates workers while large async converts run in the pool, and (several times, at varied moments)
 *  workers busy in sync native calls, then checks later calls still work. */
async function terminate(): Promise<Record<string, unknown>> {
  const list = jobs('auto', 2);
  const serial = await runJobs(list, 'serial');
  const spin = async (mode: string, ms: number): Promise<void> => {
    const spinners = Array.from({ length: 2 }, () => new Worker(path.join(__dirname, 'worker.js'), { workerData: { mode } }));
    await Promise.all(spinners.map(message));
    await new Promise((r) => setTimeout(r, ms));
    await Promise.all(spinners.map((w) => w.terminate()));
  };
  await spin('spin', 200);
  await new Promise((r) => setTimeout(r, 300)); // the orphaned pool work finishes meanwhile
  // A terminate lands inside a sync call nearly every time: one such round aborted the process in 12 runs of
  // 12 before the build defined NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS (CMakeLists.txt).
  for (let round = 0; round < 3; round++) await spin('spin-sync', 5 + 20 * round);
  return { problems: diff(serial, await runJobs(list, 'concurrent')).map((d) => `after terminating busy workers: ${d}`) };
}

/** Loads the addon in a worker thread only, runs a large convert there (the CPU thread pool starts its threads)
 *  and lets the worker exit: Node then unloads the addon unless it pinned itself, while the pool's threads
 *  still run its code. Checked through /proc/self/maps (Linux), then given time to crash. */
async function unload(): Promise<Record<string, unknown>> {
  const maps = '/proc/self/maps';
  if (!fs.existsSync(maps)) return { problems: [], skipped: 'no /proc/self/maps' };
  const mapped = (): boolean => fs.readFileSync(maps, 'utf8').includes('moe_kernels');
  if (mapped()) return { problems: ['the main thread loaded the addon before the worker did: nothing tested'] };
  const w = new Worker(path.join(__dirname, 'worker.js'), { workerData: { mode: 'convert' } });
  // Listen for 'exit' before awaiting the answer: the worker posts and exits at once, and Node may deliver
  // both events in one turn, so a listener added after the answer can miss the exit (the event loop then
  // empties and the process ends with code 0 and no report: one CI run failed that way).
  const exited = new Promise((r) => w.once('exit', r));
  const answer = await message(w).catch((e: Error) => ({ error: e.message }));
  await exited;
  const problems: string[] = answer.error ? [`worker: ${String(answer.error)}`] : [];
  if (!mapped()) problems.push('the addon was unloaded when its last worker exited, while its thread pool still runs its code');
  await new Promise((r) => setTimeout(r, 500));
  return { problems };
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  // An awaited event that never comes empties the event loop and would end the process with code 0 and no
  // report; make that a failure that says so.
  process.once('beforeExit', () => {
    process.stderr.write(`workers.child ${mode}: the event loop emptied before the check finished (an awaited event never came)\n`);
    process.exit(3);
  });
  const r = mode === 'terminate' ? await terminate() : mode === 'unload' ? await unload() : await concurrent();
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(2);
  },
);
