// MoELayer's one-call native forward (lib/layer_native.ts) against its own op-by-op forward on the cpu
// backend: bitwise the same out, logits, routing and router statistics, sync and async, on every kind of
// config it covers (each route method and option, zero / copy / constant / shared experts, biases, GLU
// layouts, every dtype, a residual, in place too) at 0, 1, 7 and 33 tokens; every output it returns is
// written (allocated poisoned, guarded); the configs it does not cover run op by op and say why.

import { getNumThreads, MoELayer, preset, setNumThreads, setSimdPath } from '../lib';
import type { ForwardResult, MoELayerConfig, Tensor } from '../lib';
import { availableBackends } from '../lib';
import type { LayerForwardNativeArgs } from '../bindings';
import { registerBackend } from '../lib/backends';
import { setAllocator } from '../lib/backends/alloc';
import { createCpuBackend } from '../lib/backends/cpu';
import { referenceBackend } from '../lib/backends/reference';
import type { Resolved } from '../lib/layer_config';
import { fusedCall } from '../lib/layer_native';
import { loadNative } from '../lib/native';
import { Rng } from '../lib/random';
import { bitsOf, PoisonAllocator } from './conformance/harness';

const hasCpu = availableBackends().includes('cpu');
const d = hasCpu ? describe : describe.skip;

const small = { hidden: 37, intermediate: 24, experts: 8 };
const CONFIGS: [string, MoELayerConfig][] = [
  ['qwen3-moe (softmax top-k, renormalised, swiglu)', preset('qwen3-moe', { ...small, topK: 3 })],
  ['mixtral (k = 2), interleaved GLU', preset('mixtral', { ...small, gluLayout: 'interleaved' })],
  ['deepseek-v3 (sigmoid, groups, selection bias, scale, shared expert)', preset('deepseek-v3', { hidden: 40, intermediate: 16, experts: 16, topK: 4, sharedExpert: { intermediate: 12 } })],
  ['topk_softmax, router and expert biases, gelu (no GLU)', { ...small, topK: 2, router: { method: 'topk_softmax', renormalize: true }, routerBias: true, expertBias: true, activation: 'gelu' }],
  ['xmoe_threshold (variable k)', { ...small, topK: 8, router: { method: 'xmoe_threshold', threshold: 0.6 }, activation: 'relu' }],
  ['top_p with kmax', { ...small, topK: 8, router: { method: 'top_p', threshold: 0.5, kmax: 4 }, activation: 'silu' }],
  ['k = E', { ...small, topK: 8 }],
  ['MoE++ experts with a one-layer router (zero / copy / constant, zero gate, input scale 2)',
    { ...small, topK: 2, constantExperts: 2, copyExperts: 1, zeroExperts: 1, zeroGateRenormalize: true, inputScale: 2 }],
  ['prune (MC-MoE ODP)', { ...small, topK: 3, router: { method: 'softmax_topk', renormalize: true, prune: { beta: 0.5 } } }],
];

function input(T: number, H: number, dtype: 'f32' | 'bf16' | 'f16', seed: number): Tensor {
  const data = new Rng(seed).f32(T * H, -2, 2);
  if (dtype === 'f32') return { data, shape: [T, H], dtype };
  // Half inputs from the layer's own convert (round to nearest even): any bits would do.
  const bits = new Uint16Array(T * H);
  const rng = new Rng(seed + 1);
  for (let i = 0; i < bits.length; i++) bits[i] = dtype === 'bf16' ? (Math.floor(rng.uniform(0, 1) * 0x7f) + 0x3f00) ^ (i & 1 ? 0x8000 : 0) : (Math.floor(rng.uniform(0, 1) * 0x3ff) + 0x3800) ^ (i & 1 ? 0x8000 : 0);
  return { data: bits, shape: [T, H], dtype };
}

/** Every array of a forward result, by name, as raw bits (and the numbers). */
function flat(r: ForwardResult): Record<string, ArrayLike<number>> {
  const o: Record<string, ArrayLike<number>> = {
    out: bitsOf(r.out.data as Float32Array), ids: r.routing.ids.data, weights: bitsOf(r.routing.weights.data), counts: r.routing.counts.data,
  };
  if (r.logits) o.logits = bitsOf(r.logits.data);
  if (r.routing.scores) o.scores = bitsOf(r.routing.scores.data);
  if (r.stats) {
    o.statCounts = r.stats.counts.data;
    o.top1Counts = r.stats.top1Counts.data;
    o.probSum = bitsOf(r.stats.probSum.data);
    o.totals = [r.stats.tokens, r.stats.selections, r.stats.zSquareSum ?? NaN, r.stats.entropySum];
  }
  return o;
}

function expectSameResult(got: ForwardResult, want: ForwardResult): void {
  const g = flat(got), w = flat(want);
  expect(Object.keys(g).sort()).toEqual(Object.keys(w).sort());
  for (const k of Object.keys(w)) {
    const a = Array.from(g[k]!), b = Array.from(w[k]!);
    const i = a.findIndex((v, j) => !Object.is(v, b[j]));
    if (i >= 0 || a.length !== b.length) throw new Error(`${k} differs at ${i} (length ${a.length} vs ${b.length}): ${a[i]} vs ${b[i]}`);
  }
  expect(got.out.shape).toEqual(want.out.shape);
  expect(got.out.dtype).toBe(want.out.dtype);
  expect(got.routing.ids.shape).toEqual(want.routing.ids.shape);
}

/** The fused forward with poisoned, guarded outputs: the result, and the guard errors. */
async function poisoned(f: () => ForwardResult | Promise<ForwardResult>): Promise<ForwardResult> {
  const p = new PoisonAllocator();
  const prev = setAllocator(p.allocate);
  let r: ForwardResult;
  try {
    r = await f();
  } finally {
    setAllocator(prev);
  }
  expect(p.guardErrors()).toEqual([]);
  expect(p.allocations.length).toBeGreaterThan(0);
  return r;
}

d('MoELayer.forward in one native call', () => {
  const threads = getNumThreads();
  afterAll(() => setNumThreads(threads));

  describe.each(CONFIGS)('%s', (_name, base) => {
    test.each([
      ['f32', 'f32'], ['bf16', 'bf16'], ['f16', 'f16'], ['bf16', 'f32'],
    ] as const)('%s weights, %s x: bitwise the op-by-op forward at T = 0, 1, 7, 33, sync and async', async (wd, xd) => {
      const cfg: MoELayerConfig = { ...base, dtype: wd };
      const fused = MoELayer.random(cfg, 5, { backend: 'cpu' });
      const ops = MoELayer.random(cfg, 5, { backend: 'cpu', fused: false });
      expect(fused.fusedUnavailable).toBeNull();
      expect(ops.fusedUnavailable).toMatch(/fused: false/);
      for (const T of [0, 1, 7, 33]) {
        const x = input(T, cfg.hidden, xd, 100 + T);
        const want = ops.forward({ x });
        expectSameResult(await poisoned(() => fused.forward({ x })), want);
        expectSameResult(await poisoned(() => fused.forwardAsync({ x })), want);
      }
    });
  });

  test('a residual (another dtype, or in place in out) and a caller-provided out', () => {
    const cfg: MoELayerConfig = { ...CONFIGS[2]![1], dtype: 'bf16' };
    const fused = MoELayer.random(cfg, 9, { backend: 'cpu' });
    const ops = MoELayer.random(cfg, 9, { backend: 'cpu', fused: false });
    const T = 7, H = cfg.hidden;
    const x = input(T, H, 'bf16', 1);
    const residual = { data: new Rng(3).f32(T * H), shape: [T, H], dtype: 'f32' } as Tensor;
    expectSameResult(fused.forward({ x, residual }), ops.forward({ x, residual }));
    const inPlace = () => input(T, H, 'bf16', 2);
    const r1 = inPlace(), r2 = inPlace();
    const a = fused.forward({ x, residual: r1, out: r1.data as Uint16Array });
    const b = ops.forward({ x, residual: r2, out: r2.data as Uint16Array });
    expect(a.out.data).toBe(r1.data);
    expectSameResult(a, b);
  });

  test('several forwardAsync in flight on one layer (one holds the workspace, the others allocate): each its own result', async () => {
    const cfg: MoELayerConfig = { ...CONFIGS[7]![1], dtype: 'bf16' };
    const layer = MoELayer.random(cfg, 6, { backend: 'cpu' });
    const ops = MoELayer.random(cfg, 6, { backend: 'cpu', fused: false });
    const xs = [1, 7, 7, 1].map((T, i) => input(T, cfg.hidden, 'bf16', 50 + i));
    const got = await Promise.all(xs.map((x) => layer.forwardAsync({ x })));
    got.forEach((g, i) => expectSameResult(g, ops.forward({ x: xs[i]! })));
  });

  test('bitwise the same on 1 and 2 threads; the op-by-op result on every SIMD path the CPU has', () => {
    const cfg: MoELayerConfig = { ...CONFIGS[2]![1], dtype: 'bf16' };
    const layer = MoELayer.random(cfg, 2, { backend: 'cpu' });
    const ops = MoELayer.random(cfg, 2, { backend: 'cpu', fused: false });
    const x = input(33, cfg.hidden, 'bf16', 4);
    setNumThreads(1);
    const one = layer.forward({ x });
    setNumThreads(2);
    expectSameResult(layer.forward({ x }), one);
    const best = setSimdPath('auto');
    try {
      for (const path of ['scalar', 'avx2', 'avx512'] as const) {
        if (setSimdPath(path) !== path) continue; // not on this CPU
        expectSameResult(layer.forward({ x }), ops.forward({ x }));
      }
    } finally {
      setSimdPath(best);
    }
  });

  test('what it does not cover runs op by op, with the reason', () => {
    const why = (cfg: MoELayerConfig, backend: 'cpu' | 'reference' | 'auto' = 'cpu') => MoELayer.random(cfg, 1, { backend }).fusedUnavailable;
    expect(why(preset('moe++', { hidden: 16, intermediate: 8 }))).toBe('the two-layer router');
    expect(why(preset('switch', { hidden: 16, intermediate: 8 }))).toBe('capacity');
    expect(why({ ...small, topK: 2, gatingResidual: true })).toBe('the gating residual');
    expect(why({ ...small, topK: 2 }, 'reference')).toBe("backend 'reference'");
    expect(why({ ...small, topK: 2 }, 'auto')).toBeNull();
    // External routing on a fused layer: the op-by-op path, the same result as a fused: false layer.
    const cfg: MoELayerConfig = { ...small, topK: 2 };
    const ids = { data: Int32Array.from([0, 3, 7, -1]), shape: [2, 2], dtype: 'i32' } as Tensor;
    const x = input(2, small.hidden, 'f32', 8);
    const a = MoELayer.random(cfg, 4, { backend: 'cpu' }).forward({ x, routing: { ids } });
    const b = MoELayer.random(cfg, 4, { backend: 'cpu', fused: false }).forward({ x, routing: { ids } });
    expect(Array.from(bitsOf(a.out.data as Float32Array))).toEqual(Array.from(bitsOf(b.out.data as Float32Array)));
    expect(a.stats).toBeUndefined();
    // Another backend registered under the name 'cpu' gets every op call: no native shortcut past it.
    const layer = MoELayer.random(cfg, 4, { backend: 'cpu' });
    expect(layer.fusedUnavailable).toBeNull();
    try {
      registerBackend({ ...referenceBackend, name: 'cpu', implements: () => true });
      expect(layer.fusedUnavailable).toBe("'grouped_gemm' runs on the cpu backend registered in place of the native one");
      const r = layer.forward({ x });
      expect(Array.from(r.out.data)).toEqual(Array.from(MoELayer.random(cfg, 4, { backend: 'reference' }).forward({ x }).out.data));
    } finally {
      registerBackend(createCpuBackend(loadNative()!));
    }
    expect(layer.fusedUnavailable).toBeNull();
  });

  test('bad arguments fail with the op-by-op messages, before any work', () => {
    const cfg: MoELayerConfig = { ...small, topK: 2 };
    const fused = MoELayer.random(cfg, 1, { backend: 'cpu' });
    const ops = MoELayer.random(cfg, 1, { backend: 'cpu', fused: false });
    const x = input(3, small.hidden, 'f32', 1);
    const bad: unknown[] = [
      null, {}, { x: { data: new Float32Array(5), shape: [1, 5], dtype: 'f32' } },
      { x, out: new Float32Array(3) }, { x, out: x.data }, { x, residual: { data: new Float32Array(2), shape: [1, 2], dtype: 'f32' } },
      { x, prevLogits: { data: new Float32Array(24), shape: [3, 8], dtype: 'f32' } },
    ];
    for (const args of bad) {
      const message = (f: () => unknown): string => {
        try {
          f();
        } catch (e) {
          return `${(e as Error).constructor.name}: ${(e as Error).message}`;
        }
        return 'no error';
      };
      const m = message(() => fused.forward(args as never));
      expect(m).not.toBe('no error');
      expect(m).toBe(message(() => ops.forward(args as never)));
    }
    // A partial overlap of out and residual is for unpermute to refuse, with its own message.
    const r = new Float32Array(3 * small.hidden + 1);
    const residual = { data: r.subarray(1), shape: [3, small.hidden], dtype: 'f32' } as Tensor;
    expect(() => fused.forward({ x, residual, out: r.subarray(0, 3 * small.hidden) })).toThrow(/unpermute|overlap|share/);
    expect(() => MoELayer.random(cfg, 1, { backend: 'cpu', fused: 'yes' as never })).toThrow(/'fused'/);
  });
});

d('layerForward binding (called directly, bypassing lib/layer.ts)', () => {
  const cfg: MoELayerConfig = { ...small, topK: 2, sharedExpert: { intermediate: 6 }, constantExperts: 1, copyExperts: 1 };
  const layer = MoELayer.random(cfg, 3, { backend: 'cpu' });
  const inner = layer as unknown as { config: Resolved; w: Record<string, Tensor | undefined> };
  const x = input(5, small.hidden, 'f32', 6);
  const valid = (): LayerForwardNativeArgs => fusedCall(inner.config, inner.w, { x }, null).args;
  const addon = loadNative()!;
  const call = (a: unknown): void => (addon.layerForward as (a: unknown) => void)(a);
  const error = (a: unknown): Error => {
    try {
      call(a);
    } catch (e) {
      return e as Error;
    }
    throw new Error('expected a throw');
  };

  test('valid args run; the op-by-op forward agrees', () => {
    const a = valid();
    call(a);
    const want = MoELayer.random(cfg, 3, { backend: 'cpu', fused: false }).forward({ x });
    expect(Array.from(bitsOf(a.out as Float32Array))).toEqual(Array.from(bitsOf(want.out.data as Float32Array)));
  });

  test.each([
    ['w1 too short', (a: LayerForwardNativeArgs) => ({ ...a, w1: (a.w1 as Float32Array).subarray(1) }), 'RangeError', /^layer_forward: 'w1' must have \d+ elements/],
    ['w2 a Uint16Array for f32', (a: LayerForwardNativeArgs) => ({ ...a, w2: new Uint16Array(a.w2.length) }), 'TypeError', /^layer_forward: 'w2' must be a Float32Array/],
    ['rows missing', (a: LayerForwardNativeArgs) => ({ ...a, rows: undefined }), 'TypeError', /^layer_forward: 'rows' must be a Float32Array, got undefined/],
    ['rows too short for T · kmax rows', (a: LayerForwardNativeArgs) => ({ ...a, rows: new Float32Array(a.rows.length - 1) }), 'RangeError', /'rows' must have/],
    ['ffnExperts above experts', (a: LayerForwardNativeArgs) => ({ ...a, ffnExperts: a.experts + 1 }), 'RangeError', /'ffnExperts'/],
    ['capacity', (a: LayerForwardNativeArgs) => ({ ...a, cap: 1, policy: 'position' }), 'RangeError', /'cap' capacity is not covered/],
    ['external ids', (a: LayerForwardNativeArgs) => ({ ...a, extIds: new Int32Array(10) }), 'RangeError', /'extIds'/],
    ['out overlapping w1', (a: LayerForwardNativeArgs) => { const w1 = Float32Array.from(a.w1 as Float32Array); return { ...a, w1, out: w1.subarray(0, a.out.length) }; }, 'RangeError', /'(out|w1)' must not overlap '(out|w1)'/],
    ['y overlapping act', (a: LayerForwardNativeArgs) => { const b = new Float32Array(a.y.length + a.act.length); return { ...a, y: b.subarray(0, a.y.length), act: b.subarray(1, 1 + a.act.length) }; }, 'RangeError', /must not overlap/],
    ['a router in bf16', (a: LayerForwardNativeArgs) => ({ ...a, routerDtype: 'bf16', router: new Uint16Array(a.router.length) }), 'RangeError', /'routerDtype' must be 'f32'/],
    ['statTotals too short', (a: LayerForwardNativeArgs) => ({ ...a, statTotals: new Uint8Array(16) }), 'RangeError', /'statTotals' must have 32 elements/],
  ])('%s: an error naming the field, before anything is written', (_n, mutate, name, message) => {
    const a = mutate(valid()) as LayerForwardNativeArgs;
    const written = [a.out, a.logits, a.ids, a.statCounts].filter((v) => ArrayBuffer.isView(v));
    for (const v of written) new Uint8Array(v.buffer, v.byteOffset, v.byteLength).fill(0xa5);
    const e = error(a);
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
    for (const v of written) expect(new Uint8Array(v.buffer, v.byteOffset, v.byteLength).every((b) => b === 0xa5)).toBe(true);
  });

  test('out exactly residual is allowed, a partial overlap is not', () => {
    const r = new Float32Array(5 * small.hidden + 1);
    const a = { ...valid(), residual: r.subarray(0, 5 * small.hidden), residualDtype: 'f32' as const };
    call({ ...a, out: a.residual });
    expect(error({ ...a, out: r.subarray(1) }).message).toMatch(/'(out|residual)' must not partly overlap/);
  });

  test('random mutations of valid args: an error or a result, never a crash', () => {
    const rng = new Rng(11);
    const base = valid();
    const keys = Object.keys(base) as (keyof LayerForwardNativeArgs)[];
    const junk = [undefined, null, 0, -1, 2 ** 31, NaN, 'x', {}, new Float32Array(3), new Int32Array(1), new Uint16Array(7)];
    let threw = 0;
    for (let i = 0; i < 400; i++) {
      const a = { ...valid() } as Record<string, unknown>;
      for (let m = 0; m < 1 + (i % 3); m++) {
        const k = keys[Math.floor(rng.uniform(0, keys.length))]!;
        const v = a[k];
        a[k] = ArrayBuffer.isView(v) && rng.uniform(0, 1) < 0.5
          ? (v as Float32Array).subarray(0, Math.floor(rng.uniform(0, (v as Float32Array).length)))
          : junk[Math.floor(rng.uniform(0, junk.length))];
      }
      try {
        call(a);
      } catch (e) {
        expect(['TypeError', 'RangeError']).toContain((e as Error).name);
        expect((e as Error).message).toMatch(/^layer_forward: '/);
        threw++;
      }
    }
    expect(threw).toBeGreaterThan(300);
  });
});

d('layerPlan and layerForwardPlanned bindings (called directly, bypassing lib/layer.ts)', () => {
  const cfg: MoELayerConfig = { ...small, topK: 2, sharedExpert: { intermediate: 6 }, constantExperts: 1, copyExperts: 1 };
  const layer = MoELayer.random(cfg, 3, { backend: 'cpu' });
  const inner = layer as unknown as { config: Resolved; w: Record<string, Tensor | undefined> };
  const T = 5, H = small.hidden;
  const addon = loadNative()!;
  /** A whole args object over fresh arrays, for input `seed` and weights `w` (default: the layer's). */
  const fresh = (seed = 6, w = inner.w, residual?: Tensor): LayerForwardNativeArgs =>
    fusedCall(inner.config, w, { x: input(T, H, 'f32', seed), ...(residual ? { residual } : {}) }, null).args;
  const positional = (a: LayerForwardNativeArgs): unknown[] => [a.x, a.out, a.residual, a.residualDtype, a.logits, a.scores, a.ids,
    a.weights, a.counts, a.rows, a.act, a.y, a.slotToRow, a.rowToToken, a.offsets, a.statCounts, a.statTop1Counts, a.statProbSum,
    a.statTotals, a.sharedAct, a.shared];
  const run = (plan: unknown, list: unknown[]): void => (addon.layerForwardPlanned as (...v: unknown[]) => void)(plan, ...list);
  const plan = addon.layerPlan!(fresh());
  const outputs = (a: LayerForwardNativeArgs): ArrayBufferView[] =>
    [a.out, a.logits, a.scores, a.ids, a.weights, a.counts, a.statCounts, a.statTop1Counts, a.statProbSum, a.statTotals];
  const bytes = (v: ArrayBufferView): number[] => Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  const error = (f: () => void): Error => {
    try {
      f();
    } catch (e) {
      return e as Error;
    }
    throw new Error('expected a throw');
  };

  test('call after call, every output bitwise what layerForward writes on the same arrays (with and without a residual)', () => {
    for (const [seed, residual] of [[1, undefined], [2, input(T, H, 'f32', 9)], [3, undefined]] as const) {
      const want = fresh(seed, inner.w, residual), got = fresh(seed, inner.w, residual);
      addon.layerForward!(want);
      run(plan, positional(got));
      outputs(got).forEach((v, i) => expect(bytes(v)).toEqual(bytes(outputs(want)[i]!)));
    }
  });

  test('the async call writes the same; it refuses a view of a resizable ArrayBuffer before it starts', async () => {
    const want = fresh(4), got = fresh(4);
    addon.layerForward!(want);
    await (addon.layerForwardPlannedAsync as (...v: unknown[]) => Promise<void>)(plan, ...positional(got));
    outputs(got).forEach((v, i) => expect(bytes(v)).toEqual(bytes(outputs(want)[i]!)));
    const a = fresh(4);
    const out = new Float32Array(new (ArrayBuffer as unknown as new (n: number, o: object) => ArrayBuffer)(a.out.byteLength, { maxByteLength: 2 * a.out.byteLength }));
    const list = positional({ ...a, out });
    expect(() => (addon.layerForwardPlannedAsync as (...v: unknown[]) => Promise<void>)(plan, ...list)).toThrow(/'out' must not be a view of a resizable ArrayBuffer/);
  });

  // [what, the list's index (0: the plan itself), the value there, error name, message]
  const cases: [string, number, (a: LayerForwardNativeArgs) => unknown, string, RegExp][] = [
    ['the plan an ordinary object', 0, () => ({}), 'TypeError', /^layer_forward: 'plan' must be a plan from layerPlan, got an object/],
    ['the plan missing', 0, () => undefined, 'TypeError', /'plan' must be a plan from layerPlan, got undefined/],
    ['x a Uint16Array', 1, (a) => new Uint16Array(a.x.length), 'TypeError', /^layer_forward: 'x' must be a Float32Array, got a Uint16Array/],
    ['x of 4 tokens for a plan of 5', 1, (a) => a.x.subarray(0, 4 * H), 'RangeError', /'x' must have 185 elements, got 148/],
    ['out too short', 2, (a) => a.out.subarray(1), 'RangeError', /'out' must have 185 elements/],
    ['residual without its dtype', 3, () => new Float32Array(T * H), 'TypeError', /'residualDtype' must be one of 'f32', 'bf16', 'f16'/],
    ['rows missing', 10, () => undefined, 'TypeError', /'rows' must be a Float32Array, got undefined/],
    ['offsets a Float32Array', 15, (a) => new Float32Array(a.offsets.length), 'TypeError', /'offsets' must be a Int32Array/],
    ['statTotals too short', 19, () => new Uint8Array(16), 'RangeError', /'statTotals' must have 32 elements, got 16/],
    ['shared missing on a plan with a shared expert', 21, () => undefined, 'TypeError', /'shared' must be a Float32Array/],
    ['out inside w1, which the plan keeps', 2, (a) => (inner.w.w1!.data as Float32Array).subarray(3, 3 + a.out.length), 'RangeError', /'out' must not overlap 'w1'/],
    ['y overlapping act', 12, (a) => new Float32Array(a.act.buffer, a.act.byteOffset + 4, a.y.length).fill(0), 'RangeError', /must not overlap/],
  ];
  test.each(cases)('%s: an error naming it, before anything is written', (_n, at, value, name, message) => {
    const a = fresh(5);
    const act = new Float32Array(a.act.length + a.y.length + 1);
    a.act = act.subarray(0, a.act.length);
    const args = [plan, ...positional(a)];
    args[at] = value(a);
    const w1 = inner.w.w1!.data as Float32Array, w1Before = Buffer.from(w1.slice().buffer);
    for (const v of outputs(a)) new Uint8Array(v.buffer, v.byteOffset, v.byteLength).fill(0xa5);
    const e = error(() => (addon.layerForwardPlanned as (...v: unknown[]) => void)(...args));
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
    for (const v of outputs(a)) expect(bytes(v).every((b) => b === 0xa5)).toBe(true);
    expect(Buffer.from(w1.buffer, w1.byteOffset, w1.byteLength).equals(w1Before)).toBe(true);
  });

  test('out exactly residual is allowed, a partial overlap is not', () => {
    const r = new Float32Array(T * H + 1);
    const a = fresh(7);
    const list = positional({ ...a, residual: r.subarray(0, T * H), residualDtype: 'f32', out: r.subarray(0, T * H) });
    run(plan, list);
    list[1] = r.subarray(1);
    expect(error(() => run(plan, list)).message).toMatch(/'(out|residual)' must not partly overlap/);
  });

  test('a kept weight updated in place is seen by the next call; one detached since layerPlan is refused', () => {
    const w = { ...inner.w, w2: { ...inner.w.w2!, data: Float32Array.from(inner.w.w2!.data as Float32Array) } };
    const own = addon.layerPlan!(fresh(8, w));
    const w2 = w.w2.data;
    for (let i = 0; i < w2.length; i++) w2[i] = -2 * w2[i]!;
    const want = fresh(8, w), got = fresh(8, w);
    addon.layerForward!(want);
    run(own, positional(got));
    expect(bytes(got.out)).toEqual(bytes(want.out));
    structuredClone(w2.buffer, { transfer: [w2.buffer] });
    const a = fresh(8);
    a.out.fill(7);
    const e = error(() => run(own, positional(a)));
    expect(e.name).toBe('RangeError');
    expect(e.message).toMatch(/^layer_forward: 'w2' was detached or resized since layerPlan read it/);
    expect(Array.from(a.out).every((v) => v === 7)).toBe(true);
  });

  test('layerPlan checks its args object as layerForward does', () => {
    const a = fresh();
    expect(error(() => addon.layerPlan!({ ...a, w1: (a.w1 as Float32Array).subarray(1) })).message).toMatch(/^layer_forward: 'w1' must have \d+ elements/);
    expect(error(() => (addon.layerPlan as (v: unknown) => unknown)(7)).name).toBe('TypeError');
  });

  test('random mutations of a valid call: an error or a result, never a crash', () => {
    const rng = new Rng(12);
    const junk = [undefined, null, 0, 'f32', 'bf16', {}, plan, new Float32Array(3), new Int32Array(1), new Uint16Array(T * H), new Uint8Array(32)];
    let threw = 0;
    for (let i = 0; i < 400; i++) {
      const list: unknown[] = [plan, ...positional(fresh(20 + (i % 3)))];
      for (let m = 0; m < 1 + (i % 3); m++) {
        const k = Math.floor(rng.uniform(0, list.length));
        const v = list[k];
        list[k] = ArrayBuffer.isView(v) && rng.uniform(0, 1) < 0.3
          ? (v as Float32Array).subarray(0, Math.floor(rng.uniform(0, (v as Float32Array).length)))
          : rng.uniform(0, 1) < 0.3 ? list[Math.floor(rng.uniform(1, list.length))] : junk[Math.floor(rng.uniform(0, junk.length))];
      }
      try {
        (addon.layerForwardPlanned as (...v: unknown[]) => void)(...list);
      } catch (e) {
        expect(['TypeError', 'RangeError']).toContain((e as Error).name);
        expect((e as Error).message).toMatch(/^layer_forward: '/);
        threw++;
      }
    }
    expect(threw).toBeGreaterThan(300);
  });
});
