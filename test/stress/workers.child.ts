// The worker_threads child (run by concurrency.test.ts as `... workers.child.ts [concurrent|terminate]`):
// 'concurrent': the addon loads in several worker threads at once and their concurrent async calls give
// the hashes the main thread's serial sync calls give; 'terminate': terminating workers while their async
// calls are in flight leaves the process (and later calls) unharmed. Prints one JSON line.

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

/** Terminates workers while large async converts run in the pool, then checks later calls still work. */
async function terminate(): Promise<Record<string, unknown>> {
  const list = jobs('auto', 2);
  const serial = await runJobs(list, 'serial');
  const spinners = Array.from({ length: 2 }, () => new Worker(path.join(__dirname, 'worker.js'), { workerData: { mode: 'spin' } }));
  await Promise.all(spinners.map(message));
  await new Promise((r) => setTimeout(r, 200));
  await Promise.all(spinners.map((w) => w.terminate()));
  await new Promise((r) => setTimeout(r, 300)); // the orphaned pool work finishes meanwhile
  return { problems: diff(serial, await runJobs(list, 'concurrent')).map((d) => `after terminating busy workers: ${d}`) };
}

async function main(): Promise<void> {
  const r = process.argv[2] === 'terminate' ? await terminate() : await concurrent();
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(2);
  },
);
