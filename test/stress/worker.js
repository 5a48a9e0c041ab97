// A worker thread of workers.child.ts: loads the TypeScript sources (and with them the native addon) in its
// own isolate. Mode 'jobs': runs the workload with every call in flight at once, `rounds` times, and posts
// the hashes back. Mode 'spin': keeps large async converts in flight until it is terminated.
'use strict';
const { parentPort, workerData } = require('worker_threads');
require('./ts-register.js');
const { jobs, runJobs } = require('./workload.ts');
const { capabilities } = require('../../lib/native.ts');
const { convertAsync } = require('../../lib/ops/convert.ts');

async function spin() {
  const x = new Float32Array(4 << 20).fill(1.5);
  parentPort.postMessage({ spinning: true });
  for (;;) await Promise.all([0, 1, 2, 3].map(() => convertAsync({ x, to: 'bf16' })));
}

(async () => {
  if (workerData.mode === 'spin') return spin();
  const list = jobs('auto');
  const results = [];
  for (let round = 0; round < workerData.rounds; round++) results.push(await runJobs(list, 'concurrent'));
  parentPort.postMessage({ simd: capabilities().simd, results });
})().catch((e) => parentPort.postMessage({ error: String(e && e.stack ? e.stack : e) }));
