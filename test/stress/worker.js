// A worker thread of workers.child.ts: loads the TypeScript sources (and with them the native addon) in its
// own isolate. Mode 'jobs': runs the workload with every call in flight at once, `rounds` times, and posts
// the hashes back. Mode 'spin': keeps large async converts in flight until it is terminated. Mode
// 'spin-sync': calls the addon's sync convert in a tight loop (most of the time inside the binding, reading
// its arguments), so that a terminate lands in the middle of a native call. Mode 'convert': one large sync
// convert, then the worker exits.
'use strict';
const { parentPort, workerData } = require('worker_threads');
require('./ts-register.js');
const { jobs, runJobs } = require('./workload.ts');
const { capabilities, loadNative } = require('../../lib/native.ts');
const { convertAsync } = require('../../lib/ops/convert.ts');

async function spin() {
  const x = new Float32Array(4 << 20).fill(1.5);
  parentPort.postMessage({ spinning: true });
  for (;;) await Promise.all([0, 1, 2, 3].map(() => convertAsync({ x, to: 'bf16' })));
}

function spinSync() {
  const addon = loadNative();
  const x = new Float32Array(64).fill(1.5);
  const out = new Uint16Array(64);
  parentPort.postMessage({ spinning: true });
  for (;;) addon.convert({ x, xDtype: 'f32', out, outDtype: 'bf16' });
}

/** One large sync convert (the thread pool splits it), and nothing else: grouped_gemm's thread_local scratch
 *  would keep the library loaded by itself (glibc defers unloading while thread_local destructors are pending
 *  on live threads), hiding an unload. */
function convertOnce() {
  const n = 1 << 22;
  loadNative().convert({ x: new Float32Array(n).fill(1.5), xDtype: 'f32', out: new Uint16Array(n), outDtype: 'bf16' });
  parentPort.postMessage({ converted: n });
}

(async () => {
  if (workerData.mode === 'spin') return spin();
  if (workerData.mode === 'convert') return convertOnce();
  if (workerData.mode === 'spin-sync') return spinSync();
  const list = jobs('auto');
  const results = [];
  for (let round = 0; round < workerData.rounds; round++) results.push(await runJobs(list, 'concurrent'));
  parentPort.postMessage({ simd: capabilities().simd, results });
})().catch((e) => parentPort.postMessage({ error: String(e && e.stack ? e.stack : e) }));
