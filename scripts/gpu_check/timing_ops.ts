// The timed shapes of the GPU check, one function per op. Each builds host inputs, uploads rotated copies,
// runs once on DeviceTensors and once on host arrays (the same kernels: the outputs must be bitwise equal,
// which validates the DeviceTensor path at full size), checks what a cheap host reference allows, then
// times the DeviceTensor launches.

import { Rng } from '../../lib/random';
import type { FloatDType } from '../../lib/dtype';
import { bf16ToF32 } from '../../lib/dtype';
import type { Tensor } from '../../lib/tensor';
import type { CudaGroupedGemmArgs, CudaNatives, CudaPermuteArgs, CudaRouteArgs, CudaUnpermuteArgs } from '../../lib/backends/cuda/natives';
import { DeviceTensor } from '../../lib/device';
import { fastFloats as floats, routing } from './cases_ops';
import { deviceCopies, Measurement, Pool, rotations, sameBits, timeLaunches } from './timing';

type Fields = Record<string, unknown>;

/** Runs `fn` on the host-array twin of `dev` (DeviceTensor fields replaced by host copies, outputs by
 *  poisoned arrays) and says whether every output matches the DeviceTensor run bitwise. */
function hostTwinMatches(call: (a: Fields) => void, dev: Fields, outputs: string[]): string {
  const host: Fields = {};
  for (const [k, v] of Object.entries(dev)) host[k] = v instanceof DeviceTensor ? (outputs.includes(k) ? hostLike(v) : v.toHost().data) : v;
  call(native(host));
  for (const k of outputs) {
    const d = (dev[k] as DeviceTensor).toHost().data;
    if (!sameBits(d, host[k] as ArrayBufferView)) return `'${k}' differs between the DeviceTensor and host-array paths`;
  }
  return 'ok';
}

function hostLike(d: DeviceTensor): Float32Array | Uint16Array | Int32Array {
  const n = d.numel;
  const a = d.dtype === 'f32' ? new Float32Array(n) : d.dtype === 'i32' ? new Int32Array(n) : new Uint16Array(n);
  new Uint8Array(a.buffer).fill(0xff);
  return a;
}

/** The binding's view of an args object: DeviceTensors become their native objects. */
function native(a: Fields): Fields {
  const o: Fields = {};
  for (const [k, v] of Object.entries(a)) o[k] = v instanceof DeviceTensor ? v.native : v;
  return o;
}

const i32 = (data: Int32Array, shape: number[]): Tensor => ({ data, shape, dtype: 'i32' });
const f32 = (data: Float32Array, shape: number[]): Tensor => ({ data, shape, dtype: 'f32' });

function measure(n: CudaNatives, op: string, label: string, variant: string | undefined, validated: string, launch: (i: number) => void, work: { bytes?: number; flops?: number }): Measurement {
  const t = timeLaunches(n, launch);
  const m: Measurement = { op, label, variant, msMedian: t.msMedian, msMin: t.msMin, runs: 50, hostBound: t.hostBound, validated };
  if (work.bytes) m.gbps = work.bytes / (t.msMedian * 1e-3) / 1e9;
  if (work.flops) m.tflops = work.flops / (t.msMedian * 1e-3) / 1e12;
  return m;
}

export function timeRoute(n: CudaNatives, label: string, T: number, E: number, k: number, extra: Partial<CudaRouteArgs>): Measurement {
  const pool = new Pool();
  try {
    const rng = new Rng(11);
    const z = f32(Float32Array.from({ length: T * E }, () => rng.normal() * 2), [T, E]);
    const zs = pool.add(deviceCopies(z, rotations(T * E * 4)));
    const K = extra.method === 'xmoe_threshold' ? E : k;
    const dev: Fields = {
      method: 'softmax_topk', tokens: T, experts: E, k, kmax: K, renormalize: true, scale: 1, ...extra,
      logits: zs[0], ids: pool.out('i32', [T, K]), weights: pool.out('f32', [T, K]), counts: pool.out('i32', [T]), scores: pool.out('f32', [T, E]),
    };
    n.cudaRoute(native(dev) as unknown as CudaRouteArgs);
    const ok = hostTwinMatches((a) => n.cudaRoute(a as unknown as CudaRouteArgs), dev, ['ids', 'weights', 'counts', 'scores']);
    const bytes = T * E * 8 + T * K * 8 + T * 4;
    return measure(n, 'route', label, undefined, ok, (i) => n.cudaRoute(native({ ...dev, logits: zs[i % zs.length] }) as unknown as CudaRouteArgs), { bytes });
  } finally {
    pool.dispose();
  }
}

export function timePermute(n: CudaNatives, label: string, T: number, K: number, E: number, H: number, align: number): Measurement {
  const pool = new Pool();
  try {
    const rng = new Rng(12);
    const ids = routing(rng, T, K, E);
    const x = floats(rng, [T, H], 'bf16');
    const xs = pool.add(deviceCopies(x, rotations(T * H * 2)));
    const R = T * K + Math.min(E, T * K) * (align - 1); // the device caller's bound (no host sync)
    const dev: Fields = {
      tokens: T, hidden: H, kmax: K, experts: E, totalExperts: E, align, scale: 1, rowsCapacity: R, x: xs[0], xDtype: 'bf16',
      ids: pool.add(DeviceTensor.fromHost(i32(ids, [T, K]))), segmentOf: pool.add(DeviceTensor.fromHost(i32(Int32Array.from({ length: E }, (_, e) => e), [E]))),
      rows: pool.out('bf16', [R, H]), offsets: pool.out('i32', [E + 1]), slotToRow: pool.out('i32', [T, K]),
      rowToToken: pool.out('i32', [R]), tokensPerExpert: pool.out('i32', [E]),
    };
    n.cudaPermute(native(dev) as unknown as CudaPermuteArgs);
    const ok = hostTwinMatches((a) => n.cudaPermute(a as unknown as CudaPermuteArgs), dev, ['offsets', 'slotToRow', 'tokensPerExpert']);
    const bytes = 2 * T * K * H * 2 + T * K * 12;
    return measure(n, 'permute', label, undefined, ok, (i) => n.cudaPermute(native({ ...dev, x: xs[i % xs.length] }) as unknown as CudaPermuteArgs), { bytes });
  } finally {
    pool.dispose();
  }
}

/** One grouped GEMM shape on every eligible path; rows spread evenly-at-random over the experts. */
export function timeGemm(n: CudaNatives, label: string, R: number, K: number, N: number, E: number, activation: string): Measurement[] {
  const pool = new Pool();
  try {
    const rng = new Rng(13);
    const counts = new Array<number>(E).fill(0);
    for (let r = 0; r < R; r++) counts[rng.int(E)]! += 1;
    const offsets = new Int32Array(E + 1);
    for (let e = 0; e < E; e++) offsets[e + 1] = offsets[e]! + counts[e]!;
    const a = floats(rng, [R, K], 'bf16');
    const w = floats(rng, [E, N, K], 'bf16', 1 / Math.sqrt(K));
    const as = pool.add(deviceCopies(a, rotations(R * K * 2 + E * N * K * 2)));
    const dw = pool.add(DeviceTensor.fromHost(w));
    const nOut = activation === 'swiglu' ? N / 2 : N;
    const out = pool.out('bf16', [R, nOut]);
    const base: Fields = {
      rows: R, k: K, n: N, experts: E, a: as[0], aDtype: 'bf16', w: dw, wDtype: 'bf16',
      offsets: pool.add(DeviceTensor.fromHost(i32(offsets, [E + 1]))), activation, gluLayout: 'halves', out, outDtype: 'bf16',
    };
    // A cheap reference: 8 sampled outputs of row 0 and the last row, in float64.
    const sample = (y: Uint16Array): number => {
      let worst = 0;
      for (const r of [0, R - 1]) {
        let e = 0;
        while (offsets[e + 1]! <= r) e++;
        for (let j = 0; j < Math.min(8, N); j++) {
          let s = 0;
          for (let kk = 0; kk < K; kk++) s += bf16ToF32(a.data[r * K + kk]!) * bf16ToF32(w.data[(e * N + j) * K + kk]!);
          if (activation === 'swiglu') continue; // (gate, up) pairs: left to the correctness cases
          worst = Math.max(worst, Math.abs(bf16ToF32(y[r * nOut + j]!) - s) / (Math.abs(s) + 1e-2));
        }
      }
      return worst;
    };
    const results: Measurement[] = [];
    const flops = 2 * R * N * K;
    const touched = counts.filter((c) => c > 0).length * N * K * 2;
    for (const path of ['auto', 'tensor_core', 'decode', 'simt'] as const) {
      if (path === 'simt' && flops > 4e11) continue; // minutes on CUDA cores: not worth the device time
      const dev = { ...base, path };
      try {
        n.cudaGroupedGemm(native(dev) as unknown as CudaGroupedGemmArgs);
      } catch (e) {
        results.push({ op: 'grouped_gemm', label, variant: path, msMedian: NaN, msMin: NaN, runs: 0, hostBound: false, validated: `not run: ${(e as Error).message}` });
        continue;
      }
      let ok = R * N * K <= 2e9 ? hostTwinMatches((x) => n.cudaGroupedGemm(x as unknown as CudaGroupedGemmArgs), dev, ['out']) : 'ok (host twin skipped: large)';
      const err = sample(out.toHost().data as Uint16Array);
      if (err > 2e-2) ok = `sampled outputs off by ${err.toExponential(2)} (relative)`;
      results.push(measure(n, 'grouped_gemm', label, path, ok, (i) => n.cudaGroupedGemm(native({ ...dev, a: as[i % as.length] }) as unknown as CudaGroupedGemmArgs), { flops, bytes: touched }));
    }
    return results;
  } finally {
    pool.dispose();
  }
}

export function timeUnpermute(n: CudaNatives, label: string, T: number, K: number, H: number): Measurement {
  const pool = new Pool();
  try {
    const rng = new Rng(14);
    const R = T * K;
    const perm = Int32Array.from({ length: R }, (_, i) => i);
    for (let i = R - 1; i > 0; i--) { const j = rng.int(i + 1); [perm[i], perm[j]] = [perm[j]!, perm[i]!]; }
    const y = floats(rng, [R, H], 'bf16');
    const ys = pool.add(deviceCopies(y, rotations(R * H * 2)));
    const dtype: FloatDType = 'bf16';
    const dev: Fields = {
      tokens: T, hidden: H, kmax: K, rows: R, inputScale: 1, y: ys[0], yDtype: dtype,
      ids: pool.add(DeviceTensor.fromHost(i32(Int32Array.from({ length: R }, (_, i) => i % 64), [T, K]))),
      weights: pool.add(DeviceTensor.fromHost(f32(Float32Array.from({ length: R }, () => rng.next()), [T, K]))),
      slotToRow: pool.add(DeviceTensor.fromHost(i32(perm, [T, K]))),
      residual: pool.add(DeviceTensor.fromHost(floats(rng, [T, H], dtype))), residualDtype: dtype,
      out: pool.out(dtype, [T, H]), outDtype: dtype,
    };
    n.cudaUnpermute(native(dev) as unknown as CudaUnpermuteArgs);
    const ok = hostTwinMatches((a) => n.cudaUnpermute(a as unknown as CudaUnpermuteArgs), dev, ['out']);
    const bytes = R * H * 2 + 2 * T * H * 2 + R * 12;
    return measure(n, 'unpermute', label, undefined, ok, (i) => n.cudaUnpermute(native({ ...dev, y: ys[i % ys.length] }) as unknown as CudaUnpermuteArgs), { bytes });
  } finally {
    pool.dispose();
  }
}

export function timeConvert(n: CudaNatives, count: number): Measurement {
  const pool = new Pool();
  try {
    const rng = new Rng(15);
    const x = f32(Float32Array.from({ length: count }, () => rng.normal()), [count]);
    const dx = pool.add(DeviceTensor.fromHost(x));
    const dev: Fields = { n: count, x: dx, xDtype: 'f32', out: pool.out('bf16', [count]), outDtype: 'bf16' };
    n.cudaConvert(native(dev) as never);
    const ok = hostTwinMatches((a) => n.cudaConvert(a as never), dev, ['out']);
    return measure(n, 'convert', `f32 -> bf16, n = ${count}`, undefined, ok, () => n.cudaConvert(native(dev) as never), { bytes: count * 6 });
  } finally {
    pool.dispose();
  }
}
