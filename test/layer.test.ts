// MoELayer: SPEC §10 E and F through the layer, equality with an independent dense loop, every preset,
// and named errors.

import fc from 'fast-check';
import { MoELayer, MoELayerConfig, MoELayerWeights } from '../lib/layer';
import { preset, PRESET_NAMES } from '../lib/presets';
import { Rng } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { expectArgError, expectClose, relErr } from './util';

const f32 = (data: number[], shape: number[]): Tensor<'f32'> => ({ data: Float32Array.from(data), shape, dtype: 'f32' });

describe('SPEC §10 E: MoE++ through MoELayer', () => {
  // N = 6: 0 FFN0, 1 FFN1, 2 Const0, 3 Const1, 4 Copy, 5 Zero. Linear stand-in FFNs (activation 'none',
  // W1 = identity): FFN0(u) = [u0 + u1, u0 - u1], FFN1(u) = [2 u0, -u1]. The router weight is 0 and the
  // gating residual is the identity, so z = prevLogits = the table's logits.
  const x = f32([1, 2, 0.5, -1, -1, 1], [3, 2]);
  const z = f32([2, 1, 0, -1, 0.5, 1.5, 0.1, 0.2, 1.2, 0, 1, -0.5, 0, 0, -1, 0.8, 0, 0], [3, 6]);
  const eye6 = Array.from({ length: 36 }, (_, i) => (i % 7 === 0 ? 1 : 0));
  const weights: MoELayerWeights = {
    router: f32(new Array(12).fill(0), [6, 2]),
    gatingResidual: f32(eye6, [6, 6]),
    w1: f32([1, 0, 0, 1, 1, 0, 0, 1], [2, 2, 2]),
    w2: f32([1, 1, 1, -1, 2, 0, 0, -1], [2, 2, 2]),
    constantWc: f32([1, 0, 0, 1, 0, 0, 0, 0], [2, 2, 2]),
    constantV: f32([1, -1, 0.5, 0.5], [2, 2]),
  };
  const config = (inputScale: number): MoELayerConfig => ({
    hidden: 2, intermediate: 2, experts: 2, topK: 2, constantExperts: 2, copyExperts: 1, zeroExperts: 1,
    activation: 'none', gatingResidual: true, inputScale,
  });

  test('routing: top-2 and gates (zero gate removed, renormalised)', () => {
    const r = new MoELayer(config(2), weights, { backend: 'reference' }).forward({ x, prevLogits: z });
    expect(Array.from(r.routing.ids.data)).toEqual([0, 5, 2, 4, 3, 0]);
    expectClose(r.routing.weights.data, [1, 0, 0.549834, 0.450166, 0.689974, 0.310026], 1e-6);
    expectClose(r.logits!.data, z.data, 0);
    expectClose(r.routing.scores!.data.subarray(0, 6), [0.419699, 0.154398, 0.0568, 0.020896, 0.093647, 0.25456], 1e-6);
  });

  test('output with u = 2x (default scaling) and u = x', () => {
    const scaled = new MoELayer(config(2), weights, { backend: 'reference' }).forward({ x, prevLogits: z });
    expectClose(scaled.out.data, [6, -2, 1.0, -1.973924, -0.517481, -0.377634], 1e-6);
    const plain = new MoELayer(config(1), weights, { backend: 'reference' }).forward({ x, prevLogits: z });
    expectClose(plain.out.data, [3, -1, 0.550152, -1.0, -0.172494, -0.10257], 1e-6);
  });

  test('a residual is added last', () => {
    const residual = f32([10, 20, 30, 40, 50, 60], [3, 2]);
    const r = new MoELayer(config(2), weights, { backend: 'reference' }).forward({ x, prevLogits: z, residual });
    expectClose(r.out.data, [16, 18, 31.0, 38.026076, 49.482519, 59.622366], 1e-5);
  });
});

describe('SPEC §10 F: gating residual', () => {
  test('z = r + W_res z_prev, p and top-2; z is what the next layer gets', () => {
    const layer = new MoELayer(
      { hidden: 2, intermediate: 1, experts: 3, topK: 2, activation: 'relu', gatingResidual: true },
      {
        router: f32([0.2, 0, 0.4, 0, 0, 0], [3, 2]),
        gatingResidual: f32([0.5, 0, 0, 0, 0.5, 0, 1, 0, 0], [3, 3]),
        w1: f32([1, 1, 1, 1, 1, 1], [3, 1, 2]),
        w2: f32([1, 1, 1, 1, 1, 1], [3, 2, 1]),
      },
      { backend: 'reference' },
    );
    const r = layer.forward({ x: f32([1, 0], [1, 2]), prevLogits: f32([1, -1, 0.5], [1, 3]) });
    expectClose(r.logits!.data, [0.7, -0.1, 1.0], 1e-6);
    expectClose(r.routing.scores!.data, [0.357246, 0.160521, 0.482232], 1e-6);
    expect(Array.from(r.routing.ids.data)).toEqual([2, 0]);
  });
});

// ---- an independent dense implementation: loop over each token's selected experts ----

const silu = (v: number): number => v / (1 + Math.exp(-v));
const geluTanh = (v: number): number => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
const ACT: Record<string, (v: number) => number> = { relu: (v) => Math.max(0, v), silu, gelu_tanh: geluTanh, none: (v) => v };

/** FFN of expert e (weights [E, rows, H] and [E, H, I]) on one input row u. */
function denseFfn(u: Float64Array, w1: Float32Array, w2: Float32Array, e: number, H: number, I: number, act: string, b1?: Float32Array, b2?: Float32Array): Float64Array {
  const glu = act === 'swiglu';
  const rows = glu ? 2 * I : I;
  const pre = new Float64Array(rows);
  for (let n = 0; n < rows; n++) {
    let s = b1 ? b1[e * rows + n]! : 0;
    for (let h = 0; h < H; h++) s += w1[(e * rows + n) * H + h]! * u[h]!;
    pre[n] = s;
  }
  const a = new Float64Array(I);
  for (let i = 0; i < I; i++) a[i] = glu ? silu(pre[i]!) * pre[I + i]! : ACT[act]!(pre[i]!);
  const out = new Float64Array(H);
  for (let h = 0; h < H; h++) {
    let s = b2 ? b2[e * H + h]! : 0;
    for (let i = 0; i < I; i++) s += w2[(e * H + h) * I + i]! * a[i]!;
    out[h] = s;
  }
  return out;
}

describe('MoELayer equals a dense loop over the selected experts', () => {
  test('random configs: activations, biases, shared expert, copy expert, scaling', () => {
    fc.assert(
      fc.property(
        fc.record({
          T: fc.integer({ min: 1, max: 9 }), H: fc.integer({ min: 1, max: 7 }), I: fc.integer({ min: 1, max: 6 }),
          E: fc.integer({ min: 1, max: 6 }), kFrac: fc.double({ min: 0, max: 1, noNaN: true }),
          act: fc.constantFrom('swiglu', 'relu', 'silu', 'gelu_tanh', 'none'), bias: fc.boolean(), shared: fc.boolean(),
          copy: fc.integer({ min: 0, max: 1 }), scale: fc.constantFrom(1, 2), seed: fc.integer({ min: 1, max: 1e6 }),
        }),
        ({ T, H, I, E, kFrac, act, bias, shared, copy, scale, seed }) => {
          const N = E + copy;
          const k = 1 + Math.floor(kFrac * (N - 1));
          const rng = new Rng(seed);
          const glu = act === 'swiglu' ? 2 : 1;
          const t = (shape: number[]): Tensor<'f32'> => ({ data: rng.f32(shape.reduce((a, b) => a * b, 1)), shape, dtype: 'f32' });
          const cfg: MoELayerConfig = {
            hidden: H, intermediate: I, experts: E, topK: k, copyExperts: copy, inputScale: scale,
            activation: act as MoELayerConfig['activation'], expertBias: bias, ...(shared ? { sharedExpert: { intermediate: 3 } } : {}),
          };
          const w: MoELayerWeights = {
            router: t([N, H]), w1: t([E, glu * I, H]), w2: t([E, H, I]),
            ...(bias ? { b1: t([E, glu * I]), b2: t([E, H]) } : {}),
            ...(shared ? { sharedW1: t([1, glu * 3, H]), sharedW2: t([1, H, 3]) } : {}),
          };
          const x = t([T, H]);
          const r = new MoELayer(cfg, w, { backend: 'reference' }).forward({ x });
          // Router logits, independently.
          const z = new Float64Array(T * N);
          for (let tk = 0; tk < T; tk++) for (let e = 0; e < N; e++) {
            let s = 0;
            for (let h = 0; h < H; h++) s += (w.router as Tensor<'f32'>).data[e * H + h]! * x.data[tk * H + h]!;
            z[tk * N + e] = s;
          }
          expect(relErr(r.logits!.data, z)).toBeLessThan(1e-6);
          // Output, independently, from the routing the layer chose.
          const want = new Float64Array(T * H);
          for (let tk = 0; tk < T; tk++) {
            const xt = Float64Array.from(x.data.subarray(tk * H, (tk + 1) * H));
            const u = xt.map((v) => v * scale);
            for (let j = 0; j < k; j++) {
              const id = r.routing.ids.data[tk * k + j]!;
              const g = r.routing.weights.data[tk * k + j]!;
              const y = id < E
                ? denseFfn(u, (w.w1 as Tensor<'f32'>).data, (w.w2 as Tensor<'f32'>).data, id, H, I, act, (w.b1 as Tensor<'f32'> | undefined)?.data, (w.b2 as Tensor<'f32'> | undefined)?.data)
                : u;
              for (let h = 0; h < H; h++) want[tk * H + h] = want[tk * H + h]! + g * y[h]!;
            }
            if (shared) {
              const s = denseFfn(xt, (w.sharedW1 as Tensor<'f32'>).data, (w.sharedW2 as Tensor<'f32'>).data, 0, H, 3, act);
              for (let h = 0; h < H; h++) want[tk * H + h] = want[tk * H + h]! + s[h]!;
            }
          }
          expect(relErr(r.out.data, want)).toBeLessThan(1e-5);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('presets', () => {
  const small = { hidden: 16, intermediate: 8 };
  test.each(PRESET_NAMES.map((n) => [n]))('%s runs on the reference and its routing is consistent', (name) => {
    const cfg = preset(name, small);
    const layer = MoELayer.random(cfg, 7, { backend: 'reference' });
    const T = 13;
    const x: Tensor<'f32'> = { data: new Rng(3).f32(T * 16), shape: [T, 16], dtype: 'f32' };
    const r = layer.forward({ x });
    expect(r.out.shape).toEqual([T, 16]);
    expect(r.out.data.every(Number.isFinite)).toBe(true);
    const kmax = r.routing.ids.shape[1]!;
    const N = layer.config.totalExperts;
    for (let t = 0; t < T; t++) {
      const row = Array.from(r.routing.ids.data.subarray(t * kmax, (t + 1) * kmax)).filter((i) => i >= 0);
      expect(row.length).toBe(r.routing.counts.data[t]);
      expect(new Set(row).size).toBe(row.length);
      for (const id of row) expect(id).toBeLessThan(N);
    }
    expect(r.stats!.tokens).toBe(T);
    if (name === 'moe++') {
      // Chain a second layer through the gating residual.
      const next = MoELayer.random(cfg, 8, { backend: 'reference' }).forward({ x: r.out, prevLogits: r.logits! });
      expect(next.out.data.every(Number.isFinite)).toBe(true);
    }
  });

  test('published sizes', () => {
    expect(preset('mixtral')).toMatchObject({ hidden: 4096, intermediate: 14336, experts: 8, topK: 2 });
    expect(preset('qwen3-moe')).toMatchObject({ hidden: 2048, intermediate: 768, experts: 128, topK: 8 });
    expect(preset('deepseek-v3')).toMatchObject({ hidden: 7168, experts: 256, topK: 8, sharedExpert: { intermediate: 2048 } });
  });

  test('bf16 weights run and stay close to f32 weights', () => {
    const cfg = preset('qwen3-moe', { hidden: 32, intermediate: 16, experts: 8, topK: 2 });
    const x: Tensor<'f32'> = { data: new Rng(5).f32(9 * 32), shape: [9, 32], dtype: 'f32' };
    const a = MoELayer.random(cfg, 11, { backend: 'reference' }).forward({ x });
    const b = MoELayer.random({ ...cfg, dtype: 'bf16' }, 11, { backend: 'reference' }).forward({ x });
    expect(Array.from(b.routing.ids.data)).toEqual(Array.from(a.routing.ids.data));
    expect(relErr(b.out.data, a.out.data)).toBeLessThan(2e-2);
  });
});

describe('external routing (hash / frozen routers)', () => {
  test('ids and weights supplied by the caller', () => {
    const cfg: MoELayerConfig = { hidden: 3, intermediate: 2, experts: 4, topK: 1, activation: 'relu', copyExperts: 1 };
    const layer = MoELayer.random(cfg, 2, { backend: 'reference' });
    const x = f32([1, 2, 3, -1, -2, -3], [2, 3]);
    const r = layer.forward({ x, routing: { ids: { data: Int32Array.from([4, -1]), shape: [2, 1], dtype: 'i32' }, weights: Float32Array.from([0.5, 0]) } });
    expectClose(r.out.data, [0.5, 1, 1.5, 0, 0, 0], 1e-7);
    expect(r.logits).toBeUndefined();
    expect(r.stats).toBeUndefined();
  });
});

describe('MoELayer errors name the argument', () => {
  const cfg: MoELayerConfig = { hidden: 4, intermediate: 3, experts: 4, topK: 2 };
  const layer = MoELayer.random(cfg, 1, { backend: 'reference' });
  test('config', () => {
    expectArgError(() => MoELayer.random({ ...cfg, topK: 5 }), RangeError, 'config.topK');
    expectArgError(() => MoELayer.random({ ...cfg, hidden: 0 }), RangeError, 'config.hidden');
    expectArgError(() => MoELayer.random({ ...cfg, hidden: NaN }), RangeError, 'config.hidden');
    expectArgError(() => MoELayer.random({ ...cfg, intermediate: 2.5 }), RangeError, 'config.intermediate');
    expectArgError(() => MoELayer.random({ ...cfg, activation: 'swish' as never }), RangeError, 'config.activation');
    expectArgError(() => MoELayer.random(cfg, 1, { backend: 'tpu' as never }), RangeError, 'backend');
    expectArgError(() => preset('gpt-moe' as never), RangeError, 'name');
  });
  test('config sizes: int32 dimensions, at most 2^20 experts of all kinds, weights that fit a typed array', () => {
    expectArgError(() => MoELayer.random({ ...cfg, hidden: 2 ** 31 }), RangeError, 'config.hidden');
    expectArgError(() => MoELayer.random({ ...cfg, sharedExpert: { intermediate: 2 ** 31 } }), RangeError, 'config.sharedExpert.intermediate');
    expectArgError(() => MoELayer.random({ ...cfg, experts: 2 ** 20, zeroExperts: 1 }), RangeError, 'config.experts');
    // int32 sizes whose weights are past every engine's typed-array limit: sharedW1 [1, 2 · 2^30, 2^31 - 1].
    expectArgError(() => MoELayer.random({ ...cfg, hidden: 2 ** 31 - 1, sharedExpert: { intermediate: 2 ** 30 } }), RangeError, 'config');
  });
  test('config.router: every option is checked in the constructor, naming the config field', () => {
    const bad = (router: unknown, extra: Partial<MoELayerConfig> = {}): MoELayerConfig => ({ ...cfg, ...extra, router: router as never });
    const cases: [MoELayerConfig, typeof TypeError, string][] = [
      [bad('softmax_topk'), TypeError, 'config.router'],
      [bad({ method: 'top3' }), RangeError, 'config.router.method'],
      [bad({ method: 'external' }), RangeError, 'config.router.method'],
      [bad({ method: 'softmax_topk', foo: 1 }), RangeError, 'config.router.foo'],
      // What the layer sets itself.
      [bad({ k: 2 }), RangeError, 'config.router.k'],
      [bad({ bias: new Float32Array(4) }), RangeError, 'config.router.bias'],
      [bad({ zeroGateExperts: [0] }), RangeError, 'config.router.zeroGateExperts'],
      [bad({ experts: 4 }), RangeError, 'config.router.experts'],
      [bad({ ids: new Int32Array(2) }), RangeError, 'config.router.ids'],
      [bad({ renormalize: 'yes' }), TypeError, 'config.router.renormalize'],
      [bad({ method: 'topk_softmax', renormalize: false }), RangeError, 'config.router.renormalize'],
      [bad({ scale: 0 }), RangeError, 'config.router.scale'],
      [bad({ scale: '2' }), TypeError, 'config.router.scale'],
      [bad({ threshold: 0.5 }), RangeError, 'config.router.threshold'],
      [bad({ method: 'xmoe_threshold' }), TypeError, 'config.router.threshold'],
      [bad({ method: 'top_p', threshold: 1.5 }), RangeError, 'config.router.threshold'],
      [bad({ method: 'top_p', threshold: 0.5, kmax: 0 }), RangeError, 'config.router.kmax'],
      [bad({ kmax: 1 }), RangeError, 'config.router.kmax'],
      [bad({ groups: 3, topkGroups: 1 }), RangeError, 'config.router.groups'],
      [bad({ groups: 2 }), TypeError, 'config.router.topkGroups'],
      [bad({ groups: 2, topkGroups: 3 }), RangeError, 'config.router.topkGroups'],
      [bad({ groups: 2, topkGroups: 1, groupTopN: 3 }), RangeError, 'config.router.groupTopN'],
      [bad({ topkGroups: 1 }), RangeError, 'config.router.topkGroups'],
      [bad({ method: 'top_p', threshold: 0.5, groups: 2, topkGroups: 1 }), RangeError, 'config.router.groups'],
      [bad({ groups: 4, topkGroups: 1 }), RangeError, 'config.topK'], // one group of one expert cannot give top-2
      [bad({ capacity: 1.25 }), TypeError, 'config.router.capacity'],
      [bad({ capacity: { factor: 0 } }), RangeError, 'config.router.capacity.factor'],
      [bad({ capacity: { factor: 1, policy: 'random' } }), RangeError, 'config.router.capacity.policy'],
      [bad({ capacity: { factor: 1, minCapacity: -1 } }), RangeError, 'config.router.capacity.minCapacity'],
      [bad({ capacity: { factor: 1, kCapacity: 0 } }), RangeError, 'config.router.capacity.kCapacity'],
      [bad({ capacity: { factor: 1, renormalizeSurvivors: 1 } }), TypeError, 'config.router.capacity.renormalizeSurvivors'],
      [bad({ capacity: { factor: 1, drop: 'probs' } }), RangeError, 'config.router.capacity.drop'],
      [bad({ prune: { beta: 2 } }), RangeError, 'config.router.prune.beta'],
      [bad({ prune: { beta: 0.5, protect: new Uint8Array(3) } }), RangeError, 'config.router.prune.protect'],
      [bad({ prune: { beta: 0.5, dropAll: new Uint8Array(3) } }), RangeError, 'config.router.prune.dropAll'],
      // Options that clash with other config fields.
      [bad({ method: 'top_p', threshold: 0.5 }, { selectionBias: true }), RangeError, 'config.selectionBias'],
    ];
    for (const [config, ctor, arg] of cases) {
      expectArgError(() => MoELayer.random(config), ctor, arg);
      expectArgError(() => new MoELayer(config, {} as MoELayerWeights), ctor, arg);
    }
    expectArgError(() => preset('mixtral', { router: 'top_p' as never }), TypeError, 'overrides.router');
  });
  test('config.router: every option in range gives a working layer, which keeps its own copy', () => {
    const router = { method: 'sigmoid_topk' as const, renormalize: true, scale: 2.5, groups: 2, topkGroups: 1, groupTopN: 2, kmax: 3,
      capacity: { factor: 1.5, policy: 'probs' as const, minCapacity: 1, kCapacity: 2, renormalizeSurvivors: true }, prune: { beta: 0.1 } };
    const layer = MoELayer.random({ ...cfg, router, selectionBias: true }, 3, { backend: 'reference' });
    router.capacity.factor = -1; // the layer checked and copied the config: this changes nothing
    const r = layer.forward({ x: f32(new Array(3 * 4).fill(0.5), [3, 4]) });
    expect(r.routing.ids.shape).toEqual([3, 3]);
    expect(r.routing.capacity?.cap).toBe(3); // ceil(kCapacity · T · factor / E_all) = ceil(2 · 3 · 1.5 / 4), factor 1.5 as checked
    const threshold = MoELayer.random({ ...cfg, router: { method: 'xmoe_threshold', threshold: 0.9, kmax: 3 } }, 3, { backend: 'reference' });
    expect(threshold.forward({ x: f32(new Array(2 * 4).fill(1), [2, 4]) }).routing.ids.shape).toEqual([2, 3]);
  });
  test('weights', () => {
    const w: MoELayerWeights = { router: f32(new Array(16).fill(0), [4, 4]), w1: f32(new Array(4 * 6 * 4).fill(0), [4, 6, 4]), w2: f32(new Array(4 * 4 * 3).fill(0), [4, 4, 3]) };
    expect(() => new MoELayer(cfg, w)).not.toThrow();
    expectArgError(() => new MoELayer(cfg, { ...w, w1: f32(new Array(4 * 3 * 4).fill(0), [4, 3, 4]) }), RangeError, 'weights.w1.shape');
    expectArgError(() => new MoELayer(cfg, { ...w, w2: undefined as never }), TypeError, 'weights.w2');
    expectArgError(() => new MoELayer(cfg, { ...w, sharedW1: w.w1 }), RangeError, 'weights.sharedW1');
    expectArgError(() => new MoELayer(cfg, { ...w, router: { data: new Int32Array(16), shape: [4, 4] } }), TypeError, 'weights.router.dtype');
  });
  test('forward input', () => {
    expectArgError(() => layer.forward({ x: f32([1, 2, 3], [1, 3]) }), RangeError, 'x.shape');
    expectArgError(() => layer.forward({ x: { data: new Float32Array(7), shape: [2, 4] } }), RangeError, 'x');
    expectArgError(() => layer.forward({ x: [1, 2, 3, 4] as never }), TypeError, 'x');
    expectArgError(() => layer.forward({ x: f32([1, 2, 3, 4], [1, 4]), prevLogits: f32([0, 0, 0, 0], [1, 4]) }), RangeError, 'prevLogits');
  });
});
