// The cuda backend: what runs everywhere (exports of a CUDA build, registration only with a device, clear
// errors without one, the TS wiring's fields against what the C++ bindings read, fallback for configurations
// the kernels do not cover), and what needs a GPU (every GPU-check case on 'cuda' vs the reference,
// DeviceTensor round trips), skipped here with the reason in the test name.

import * as fs from 'fs';
import * as path from 'path';
import { availableBackends, selectBackend } from '../lib/backends';
import { OP_IDS, OP_METHODS, OpMethod } from '../lib/backends/backend';
import { createCudaBackend, CUDA_WIRINGS, cudaUsable } from '../lib/backends/cuda';
import { referenceBackend } from '../lib/backends/reference';
import { DeviceTensor } from '../lib/device';
import { loadNative } from '../lib/native';
import type { NativeAddon } from '../lib/native';
import { validateRoute } from '../lib/ops/route';
import { validatePermute } from '../lib/ops/permute';
import { validateGroupedGemm } from '../lib/ops/grouped_gemm';
import { validateUnpermute } from '../lib/ops/unpermute';
import { validateRouterStats } from '../lib/ops/router_stats';
import { validateConvert } from '../lib/ops/convert';
import { allCases } from '../scripts/gpu_check/cases';
import { compare, withPoison } from '../scripts/gpu_check/compare';

const addon = loadNative();
const caps = addon?.capabilities();
const compiled = caps?.cuda.compiled === true;
const gpu = addon ? cudaUsable(addon) : { ok: false, why: 'the native addon is not loaded' };
const CUDA_EXPORTS = ['cudaAllocate', 'cudaSynchronize', 'cudaMemInfo', 'cudaTimerCreate', 'cudaTimerSpin', 'cudaTimerMark', 'cudaTimerFinish',
  ...['Route', 'Permute', 'GroupedGemm', 'Unpermute', 'RouterStats', 'Convert'].flatMap((o) => [`cuda${o}`, `cuda${o}Async`])];

/** One validated example per op, small and covering the optional fields. */
const EXAMPLES: Record<OpMethod, () => unknown> = {
  route: () => validateRoute({
    logits: { data: new Float32Array(3 * 8).map((_, i) => Math.sin(i)), shape: [3, 8], dtype: 'f32' }, method: 'sigmoid_topk', k: 2,
    groups: 4, topkGroups: 2, bias: new Float32Array(8), zeroGateExperts: [1], prune: { beta: 0.5, protect: Uint8Array.of(0, 1, 0) },
    capacity: { factor: 1, policy: 'probs', renormalizeSurvivors: true },
  }),
  permute: () => validatePermute({
    x: { data: new Float32Array(3 * 4), shape: [3, 4], dtype: 'f32' }, ids: { data: Int32Array.of(0, 1, 2, -1, 1, 0), shape: [3, 2], dtype: 'i32' },
    experts: 2, totalExperts: 3, align: 4, scale: 2,
  }),
  groupedGemm: () => validateGroupedGemm({
    a: { data: new Float32Array(3 * 4), shape: [3, 4], dtype: 'f32' }, w: { data: new Float32Array(2 * 6 * 4), shape: [2, 6, 4], dtype: 'f32' },
    offsets: Int32Array.of(0, 1, 3), bias: new Float32Array(12), addend: new Float32Array(18), activation: 'swiglu', gluLayout: 'interleaved',
  }),
  unpermute: () => validateUnpermute({
    y: { data: new Float32Array(2 * 4), shape: [2, 4], dtype: 'f32' }, ids: { data: Int32Array.of(0, 3, 1, 2), shape: [2, 2], dtype: 'i32' },
    weights: { data: new Float32Array(4), shape: [2, 2], dtype: 'f32' }, slotToRow: { data: Int32Array.of(0, -1, 1, -1), shape: [2, 2], dtype: 'i32' },
    zeroExperts: [4], copyExperts: [3], constantExperts: { ids: [2], wc: new Float32Array(8), v: new Float32Array(4) },
    x: { data: new Float32Array(8), shape: [2, 4], dtype: 'f32' }, shared: { data: new Float32Array(8), shape: [2, 4], dtype: 'f32' },
    residual: { data: new Float32Array(8), shape: [2, 4], dtype: 'f32' },
  }),
  routerStats: () => validateRouterStats({
    ids: { data: Int32Array.of(0, 1, 1, -1), shape: [2, 2], dtype: 'i32' }, scores: { data: new Float32Array(6), shape: [2, 3], dtype: 'f32' },
    logits: { data: new Float32Array(6), shape: [2, 3], dtype: 'f32' }, tokenMask: Uint8Array.of(1, 0), normalizeScores: true,
  }),
  convert: () => validateConvert({ x: new Float32Array(5), to: 'bf16' }),
};

/** Field names the C++ binding reads: every string literal in native/addon/cuda_<op>.cpp. */
function bindingFields(method: OpMethod): Set<string> {
  const op = Object.entries(OP_METHODS).find(([, m]) => m === method)![0];
  const src = fs.readFileSync(path.join(__dirname, '..', 'native', 'addon', `cuda_${op}.cpp`), 'utf8');
  return new Set([...src.matchAll(/"([A-Za-z][A-Za-z0-9]*)"/g)].map((m) => m[1]!));
}

describe('cuda backend, on any machine', () => {
  test('a CUDA build exports every CUDA function (capabilities().cuda.compiled)', () => {
    if (!compiled) return; // a CPU-only binary has none of them: nothing to check
    const fns = addon as unknown as Record<string, unknown>;
    expect(CUDA_EXPORTS.filter((n) => typeof fns[n] !== 'function')).toEqual([]);
  });

  test("'cuda' is registered exactly when a device is usable; otherwise selecting it says why", () => {
    expect(availableBackends().includes('cuda')).toBe(gpu.ok);
    if (gpu.ok) return;
    for (const op of OP_IDS) {
      expect(() => selectBackend(op, 'cuda')).toThrow(`${op}: the 'cuda' backend cannot be used: ${addon ? gpu.why : 'the native addon is not loaded'}`);
    }
  });

  test('without a device, DeviceTensor and the native ops fail with a clear, op-naming error', () => {
    if (gpu.ok || !compiled) return;
    expect(() => DeviceTensor.allocate('f32', [2, 3])).toThrow(/^DeviceTensor\.allocate: no usable GPU/);
    const fns = addon as unknown as Record<string, (a?: unknown) => unknown>;
    expect(() => fns.cudaRoute!({})).toThrow(/^route: no usable GPU/);
    expect(() => fns.cudaGroupedGemm!({})).toThrow(/^grouped_gemm: no usable GPU/);
    expect(() => fns.cudaSynchronize!()).toThrow(/^cudaSynchronize: no usable GPU/);
  });

  test.each(Object.keys(EXAMPLES) as OpMethod[])('%s: every field the wiring passes is one the C++ binding reads, outputs sized', (m) => {
    const w = CUDA_WIRINGS[m];
    const a = EXAMPLES[m]() as never;
    expect(w.supports(a)).toBe(true);
    const { args } = w.prepare(a);
    const known = bindingFields(m);
    expect(Object.keys(args).filter((k) => !known.has(k))).toEqual([]);
    for (const v of Object.values(args)) if (ArrayBuffer.isView(v)) expect(v.byteLength).toBeGreaterThan(0);
  });

  test('configurations the kernels do not cover go to the fallback backend; a binary without an export is not used', () => {
    const fake = { capabilities: () => ({ cuda: { compiled: true, devices: 1, error: null } }) } as unknown as NativeAddon;
    const b = createCudaBackend(fake, () => referenceBackend);
    // No cudaRoute export: not implemented, with the reason.
    expect(b.implements('route')).toBe(false);
    expect(b.whyNot('route')).toMatch(/lacks cudaRoute, cudaRouteAsync/);
    const calls: string[] = [];
    const fns: Record<string, unknown> = { capabilities: fake.capabilities };
    for (const n of CUDA_EXPORTS) fns[n] = () => calls.push(n);
    const b2 = createCudaBackend(fns as unknown as NativeAddon, () => referenceBackend);
    expect(OP_IDS.every((op) => b2.implements(op))).toBe(true);
    const big = validateRoute({ logits: { data: new Float32Array(2 * 1500), shape: [2, 1500], dtype: 'f32' }, k: 2 });
    expect(b2.route(big).ids.data).toEqual(Int32Array.of(0, 1, 0, 1)); // all-equal logits: the reference's picks
    expect(calls).toEqual([]);
  });
});

const gpuTitle = gpu.ok ? 'cuda kernels on this GPU' : `cuda kernels (skipped: ${gpu.why})`;
(gpu.ok ? describe : describe.skip)(gpuTitle, () => {
  const cases = gpu.ok ? allCases({ small: true, quick: true }) : [];
  test.each(cases.map((c) => [`${c.op}: ${c.name}`, c] as const))('%s', (_name, c) => {
    const ref = c.run('reference');
    const got = withPoison(() => c.run('cuda'));
    for (const [k, want] of Object.entries(ref)) expect([k, compare(got[k]!, want).problem]).toEqual([k, null]);
  });

  test('DeviceTensor round trip, copyFrom, fill, dispose', async () => {
    const x = DeviceTensor.fromHost({ data: Float32Array.of(1, 2, 3, 4, 5, 6), shape: [2, 3], dtype: 'f32' });
    expect(Array.from(x.toHost().data)).toEqual([1, 2, 3, 4, 5, 6]);
    const y = DeviceTensor.allocate('f32', [2, 3]);
    y.copyFrom(x);
    expect(Array.from((await y.toHostAsync()).data)).toEqual([1, 2, 3, 4, 5, 6]);
    y.fill(0);
    expect(Array.from(y.toHost().data)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(typeof x.ptr).toBe('bigint');
    x.dispose();
    expect(x.disposed).toBe(true);
    expect(x.ptr).toBe(0n);
    expect(() => x.toHost()).toThrow(/^DeviceTensor\.download: the tensor was disposed/);
    y[Symbol.dispose]();
  });
});
