// Timing of the GPU check: every CUDA op on DeviceTensors at model-labelled shapes. Each measurement holds
// the stream with a spin kernel, enqueues warm-up-free back-to-back launches between event pairs (so host
// gaps never land inside a pair), takes the median of many, rotates through input copies that together
// exceed L2, and quotes GB/s or TFLOP/s next to ceilings measured in the same run.

import { DeviceTensor } from '../../lib/device';
import type { Tensor } from '../../lib/tensor';
import type { CudaNatives } from '../../lib/backends/cuda/natives';

export interface Measurement {
  op: string;
  label: string;
  variant?: string;
  msMedian: number;
  msMin: number;
  runs: number;
  gbps?: number;
  tflops?: number;
  /** The spin kernel ended before the host finished enqueueing: host gaps may be inside the pairs. */
  hostBound: boolean;
  /** The result of the first launch matched the host-array CUDA path (and, where given, a reference). */
  validated: string;
}

/** Bytes of inputs rotated between runs: above the L2 of any current GPU (H100 50 MB, H200 50 MB). */
export const ROTATE_BYTES = 256 << 20;
export const rotations = (bytes: number): number => Math.max(1, Math.min(32, Math.ceil(ROTATE_BYTES / Math.max(bytes, 1))));

/** Median and min of `runs` launches, each between its own pair of events, behind a spin kernel. */
export function timeLaunches(n: CudaNatives, launch: (i: number) => void, runs = 50, warmup = 3): { msMedian: number; msMin: number; hostBound: boolean } {
  for (let i = 0; i < warmup; i++) launch(i);
  const timer = n.cudaTimerCreate();
  let spinUs = 20_000;
  let last: { ms: Float64Array; hostBound: boolean } = { ms: new Float64Array(0), hostBound: true };
  for (let attempt = 0; attempt < 4; attempt++) {
    n.cudaTimerSpin(timer, spinUs);
    for (let i = 0; i < runs; i++) {
      n.cudaTimerMark(timer);
      launch(i);
      n.cudaTimerMark(timer);
    }
    last = n.cudaTimerFinish(timer);
    if (!last.hostBound) break;
    spinUs *= 4; // the host took longer than the spin to enqueue: hold the stream longer and retry
  }
  const sorted = Array.from(last.ms).sort((a, b) => a - b);
  return { msMedian: sorted[Math.floor(sorted.length / 2)]!, msMin: sorted[0]!, hostBound: last.hostBound };
}

/** Device copies of a host tensor: `count` of them (the first uploaded, the rest copied on the device). */
export function deviceCopies(t: Tensor, count: number): DeviceTensor[] {
  const first = DeviceTensor.fromHost(t);
  const all = [first];
  for (let i = 1; i < count; i++) {
    const d = DeviceTensor.allocate(t.dtype, t.shape);
    d.copyFrom(first);
    all.push(d);
  }
  return all;
}

/** A device-to-device copy of 1 GiB, as bytes read + written per second: the memory-bound ceiling. */
export function measureCopyCeiling(n: CudaNatives): number {
  const words = 1 << 28;
  const a = DeviceTensor.allocate('i32', [words]);
  const b = DeviceTensor.allocate('i32', [words]);
  try {
    a.fill(1);
    const t = timeLaunches(n, () => b.copyFrom(a), 20, 2);
    return (2 * 4 * words) / (t.msMedian * 1e-3) / 1e9;
  } finally {
    a.dispose();
    b.dispose();
  }
}

/** Bitwise equality of two typed arrays (host-array path vs DeviceTensor path of the same kernel). */
export function sameBits(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Everything a timing case allocated, freed at the end. */
export class Pool {
  private readonly all: DeviceTensor[] = [];
  add<T extends DeviceTensor | DeviceTensor[]>(t: T): T {
    if (Array.isArray(t)) this.all.push(...t);
    else this.all.push(t);
    return t;
  }
  out(dtype: Tensor['dtype'], shape: number[]): DeviceTensor {
    const d = DeviceTensor.allocate(dtype, shape);
    d.fill(0xff); // poisoned: an element the kernel skips shows up in the validation
    return this.add(d);
  }
  dispose(): void {
    for (const t of this.all) t.dispose();
    this.all.length = 0;
  }
}
