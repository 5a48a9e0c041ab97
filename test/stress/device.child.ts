// The device-memory child (memory.test.ts runs it only where CUDA is usable, with --expose-gc): GPU memory
// must come back after dispose(), and, as a backstop, after the GC collects DeviceTensors nobody disposed.
// Prints one JSON line with the free device memory at each step.

import { cudaMemInfo, cudaSynchronize, DeviceTensor } from '../../lib/device';

const gc = (globalThis as { gc?: () => void }).gc!;
const MB = 1 << 20;
const SIZE = 256 * MB; // per tensor; ROUNDS of them pass through the device, far more than it holds at once
const ROUNDS = 64;

async function main(): Promise<void> {
  const free0 = cudaMemInfo().free;
  for (let i = 0; i < ROUNDS; i++) {
    const t = DeviceTensor.allocate('f32', [SIZE / 4]);
    t.fill(0);
    t.dispose();
  }
  cudaSynchronize();
  const afterDispose = cudaMemInfo().free;

  // Undisposed: 16 tensors (4 GiB) dropped at once, then the GC and a turn of the event loop for finalizers.
  let held: DeviceTensor[] = Array.from({ length: 16 }, () => DeviceTensor.allocate('f32', [SIZE / 4]));
  const whileHeld = cudaMemInfo().free;
  held = [];
  for (let i = 0; i < 10 && cudaMemInfo().free < free0 - 512 * MB; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  cudaSynchronize();
  const afterGc = cudaMemInfo().free;
  process.stdout.write(`${JSON.stringify({ free0, afterDispose, whileHeld, afterGc, held: held.length })}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(2);
  },
);
