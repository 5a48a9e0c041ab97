// The named model shapes the suite runs, their weights and inputs. Weights are random (uniform ±1/sqrt(fan_in),
// like MoELayer.random) but generated fast: one seeded block per tensor, tiled with a period that is not a
// multiple of any row length, because the published shapes hold up to 5.6 GB of f32 weights and a
// per-element RNG in JS would take longer than the benchmarks. The values do not change the timings.

import { convert, preset } from '../lib';
import type { FloatDType, MoELayerConfig, MoELayerWeights, PresetName, Tensor } from '../lib';
import { Rng } from '../lib/random';

export interface ShapeDef {
  key: string;
  /** The model the layer comes from, with anything we changed. */
  model: string;
  preset: PresetName;
  overrides: Partial<MoELayerConfig>;
  note?: string;
  /** onnxruntime's com.microsoft MoE can express this layer (softmax top-k, SwiGLU, no capacity, no extras). */
  ortPeer: boolean;
}

export const SHAPES: readonly ShapeDef[] = [
  { key: 'qwen3', model: 'Qwen3-30B-A3B', preset: 'qwen3-moe', overrides: {}, ortPeer: true },
  { key: 'mixtral', model: 'Mixtral-8x7B', preset: 'mixtral', overrides: {}, ortPeer: true },
  {
    key: 'deepseek-v3', model: 'DeepSeek-V3, one MoE layer with 32 of its 256 routed experts', preset: 'deepseek-v3',
    overrides: { experts: 32 },
    note: 'the 256 experts of the real layer hold 45 GB of f32 weights, more than this machine has; the routing (sigmoid, 8 groups keep 4, top-8, scale 2.5, shared expert) and every per-token size are the real ones',
    ortPeer: false,
  },
  { key: 'moe++', model: 'MoE++ (16 FFN + 2 constant, 1 copy, 1 zero experts; two-layer router)', preset: 'moe++', overrides: {}, ortPeer: false },
  { key: 'switch', model: 'Switch-Base-8 (top-1, capacity 1.25, ReLU)', preset: 'switch', overrides: {}, ortPeer: false },
];

export const SHAPE_KEYS = SHAPES.map((s) => s.key);

export function shapeByKey(key: string): ShapeDef {
  const s = SHAPES.find((x) => x.key === key);
  if (!s) throw new RangeError(`bench: 'shape' must be one of ${SHAPE_KEYS.join(', ')}, got '${key}'`);
  return s;
}

/** The sizes a benchmark needs, resolved from the config the way MoELayer resolves them. */
export interface Dims {
  H: number;
  I: number;
  E: number;
  k: number;
  /** FFN + zero / copy / constant experts. */
  N: number;
  glu: boolean;
  /** Rows of W1: 2I for GLU activations. */
  n1: number;
  sharedI: number;
  routerHidden: number;
}

export function dimsOf(cfg: MoELayerConfig): Dims {
  const N = cfg.experts + (cfg.zeroExperts ?? 0) + (cfg.copyExperts ?? 0) + (cfg.constantExperts ?? 0);
  const act = cfg.activation ?? 'swiglu';
  const glu = act === 'swiglu' || act === 'geglu';
  return {
    H: cfg.hidden, I: cfg.intermediate, E: cfg.experts, k: cfg.topK, N, glu, n1: glu ? 2 * cfg.intermediate : cfg.intermediate,
    sharedI: cfg.sharedExpert?.intermediate ?? 0, routerHidden: cfg.routerHidden ?? 8 * N,
  };
}

export function configOf(s: ShapeDef, dtype: FloatDType): MoELayerConfig {
  return preset(s.preset, { ...s.overrides, dtype });
}

/** Fills `a` with uniform [-scale, scale) values: a seeded block of about 1 Mi values, tiled. */
export function fillRandom(a: Float32Array, seed: number, scale: number): Float32Array {
  const period = Math.min(a.length, 1048573); // prime: rows of any power-of-two length see shifted copies
  const rng = new Rng(seed);
  for (let i = 0; i < period; i++) a[i] = rng.uniform(-scale, scale);
  for (let p = period; p < a.length; p += period) a.copyWithin(p, 0, Math.min(period, a.length - p));
  return a;
}

const f32 = (shape: number[], seed: number, fanIn: number): Tensor<'f32'> => ({
  data: fillRandom(new Float32Array(shape.reduce((x, y) => x * y, 1)), seed, 1 / Math.sqrt(Math.max(1, fanIn))),
  shape, dtype: 'f32',
});

/** f32 weights of a layer (the FFN weights of every dtype are made from these by `toDtype`). */
export function makeWeights(cfg: MoELayerConfig, seed = 1): MoELayerWeights {
  const d = dimsOf(cfg);
  const { H, I, E, N, n1, sharedI } = d;
  const nConst = cfg.constantExperts ?? 0;
  const w: MoELayerWeights = {
    w1: f32([E, n1, H], seed * 100 + 1, H),
    w2: f32([E, H, I], seed * 100 + 2, I),
  };
  if ((cfg.routerLayers ?? 1) === 1) w.router = f32([N, H], seed * 100 + 3, H);
  else {
    w.router1 = f32([d.routerHidden, H], seed * 100 + 4, H);
    w.router2 = f32([N, d.routerHidden], seed * 100 + 5, d.routerHidden);
  }
  if (cfg.routerBias) w.routerBias = f32([N], seed * 100 + 6, 1);
  if (cfg.selectionBias) w.selectionBias = f32([N], seed * 100 + 7, 100);
  if (cfg.gatingResidual) w.gatingResidual = f32([N, N], seed * 100 + 8, N);
  if (cfg.expertBias) {
    w.b1 = f32([E, n1], seed * 100 + 9, H);
    w.b2 = f32([E, H], seed * 100 + 10, I);
  }
  if (sharedI > 0) {
    w.sharedW1 = f32([1, d.glu ? 2 * sharedI : sharedI, H], seed * 100 + 11, H);
    w.sharedW2 = f32([1, H, sharedI], seed * 100 + 12, sharedI);
  }
  if (nConst > 0) {
    w.constantWc = f32([nConst, 2, H], seed * 100 + 13, H);
    w.constantV = f32([nConst, H], seed * 100 + 14, 1);
  }
  return w;
}

const FFN_FIELDS = ['w1', 'w2', 'sharedW1', 'sharedW2'] as const;

/** The same weights with the FFN matrices in `dtype` (router and constant experts stay f32, SPEC §0). */
export function toDtype(w: MoELayerWeights, dtype: FloatDType): MoELayerWeights {
  if (dtype === 'f32') return w;
  const out: MoELayerWeights = { ...w };
  for (const f of FFN_FIELDS) {
    const t = w[f] as Tensor | undefined;
    if (t) out[f] = convert({ x: t, to: dtype }).y;
  }
  return out;
}

/** Token inputs x [T, H] in `dtype`: `count` different batches, so repeated samples route differently. */
export function makeInputs(T: number, H: number, dtype: FloatDType, count: number, seed = 7): Tensor[] {
  return Array.from({ length: count }, (_, i) => {
    const rng = new Rng(seed + 31 * i + T);
    const x: Tensor<'f32'> = { data: rng.f32(T * H), shape: [T, H], dtype: 'f32' };
    return dtype === 'f32' ? x : convert({ x, to: dtype }).y;
  });
}

/** Bytes of one FFN expert's weights (W1 and W2) in `dtype`. */
export function expertBytes(d: Dims, dtype: FloatDType): number {
  return (d.n1 * d.H + d.H * d.I) * (dtype === 'f32' ? 4 : 2);
}
