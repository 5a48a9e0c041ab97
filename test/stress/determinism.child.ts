// The determinism child (run twice by concurrency.test.ts): the workload's outputs, bit for bit, with the
// sync calls on 1, 2 and the default number of threads, with the async calls all in flight at once, and
// once more at the end. Prints one JSON line: the hashes of the first run and every difference seen.

import { loadNative } from '../../lib/native';
import { jobs, runJobs } from './workload';

async function main(): Promise<void> {
  const addon = loadNative();
  const list = jobs('auto');
  const runs: Record<string, Record<string, string>> = {};
  for (const threads of [1, 2, 0]) {
    addon?.setNumThreads(threads);
    runs[`sync, ${threads || 'default'} thread(s)`] = await runJobs(list, 'serial');
    runs[`async, ${threads || 'default'} thread(s)`] = await runJobs(list, 'concurrent');
  }
  addon?.setNumThreads(1);
  runs['sync, 1 thread, again'] = await runJobs(list, 'serial');
  addon?.setNumThreads(0);
  const [first, ...rest] = Object.entries(runs);
  const problems = rest.flatMap(([label, r]) => Object.keys(first![1]).filter((k) => r[k] !== first![1][k])
    .map((k) => `${k}: ${label} gives ${r[k]}, ${first![0]} ${first![1][k]}`));
  process.stdout.write(`${JSON.stringify({ threads: addon?.getNumThreads() ?? 0, runs: Object.keys(runs), hashes: first![1], problems })}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(2);
  },
);
