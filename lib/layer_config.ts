// MoELayer's configuration and weights: the public config and weight types, their resolution and checks
// (resolve: defaults, sizes, the router options), and the weights a config uses with their shapes
// (weightSpecs). The layer itself, a composition of the ops, is lib/layer.ts.

import type { FloatDType } from './dtype';
import { Check } from './errors';
import { MAX_TYPED_ARRAY_LENGTH } from './limits';
import type { Activation, GluLayout } from './ops/grouped_gemm.types';
import { MAX_EXPERTS } from './ops/permute';
import { validateRoute } from './ops/route';
import type { RouteArgs } from './ops/route.types';
import type { Tensor, TensorLike } from './tensor';

/** Routing options of a layer: everything `route` takes except what the layer sets itself (logits, k, experts,
 *  the selection bias and the zero gate) and the per-call tensors (external ids / weights, prune masks). The
 *  method is a scored one; external routing is per call (`forward({ routing })`). */
export type RouterConfig = Omit<RouteArgs, 'logits' | 'ids' | 'weights' | 'experts' | 'k' | 'zeroGateExperts' | 'bias'>;

export interface MoELayerConfig {
  /** Hidden size H. */
  hidden: number;
  /** Expert intermediate size I (per FFN expert). */
  intermediate: number;
  /** Number of routed FFN experts E. */
  experts: number;
  /** Experts per token k; for threshold routers (xmoe_threshold, top_p) the padded width kmax, unless
   *  router.kmax is set. */
  topK: number;
  /** Routing; default softmax top-k with renormalisation. */
  router?: RouterConfig;
  /** Router network: 1 = z = W_r x (+ bias), 2 = z = W_r2 tanh(W_r1 x) (MoE++). Default 1. */
  routerLayers?: 1 | 2;
  /** Width of the two-layer router's hidden layer; default 8 · E_all (MoE++). */
  routerHidden?: number;
  /** A bias on the router logits (SMoE-Dropout's random Linear). Default false. */
  routerBias?: boolean;
  /** A selection-only bias on the scores (DeepSeek-V3's e_score_correction_bias). Default false. */
  selectionBias?: boolean;
  /** Gating residual z_l = r_l + W_res z_{l-1} (MoE++). Default false. */
  gatingResidual?: boolean;
  /** Expert FFN activation; default 'swiglu'. */
  activation?: Activation;
  /** Gate/up layout of W1 for swiglu / geglu; default 'halves'. */
  gluLayout?: GluLayout;
  /** Biases on the expert projections. Default false. */
  expertBias?: boolean;
  /** MoE++ zero-computation experts. */
  zeroExperts?: number;
  copyExperts?: number;
  constantExperts?: number;
  /** Zero the zero experts' gates before renormalising (MoE++ §5.3). Default true when zeroExperts > 0. */
  zeroGateRenormalize?: boolean;
  /** Experts see u = inputScale · x (MoE++: k). The router and the shared expert see x. Default 1. */
  inputScale?: number;
  /** Always-on shared expert with weight 1 (DeepSeek-V3), same activation as the routed experts. */
  sharedExpert?: { intermediate: number };
  /** Weight dtype; default 'f32'. Router and constant-expert weights stay f32 (SPEC §0). */
  dtype?: FloatDType;
}

/** The weights of a layer, in checkpoint layout ([out, in]). Sizes: E_all = experts + zero/copy/constant. */
export interface MoELayerWeights {
  /** [E_all, H] (one-layer router) f32. */
  router?: TensorLike;
  /** [E_all] router bias (routerBias). */
  routerBias?: TensorLike | Float32Array;
  /** Two-layer router: [routerHidden, H] and [E_all, routerHidden] f32. */
  router1?: TensorLike;
  router2?: TensorLike;
  /** [E_all] selection-only bias (selectionBias). */
  selectionBias?: TensorLike | Float32Array;
  /** [E_all, E_all] gating-residual map (gatingResidual). */
  gatingResidual?: TensorLike;
  /** [E, I or 2I for GLU, H] and [E, H, I]. */
  w1: TensorLike;
  w2: TensorLike;
  /** [E, I or 2I] and [E, H] (expertBias). */
  b1?: TensorLike | Float32Array;
  b2?: TensorLike | Float32Array;
  /** Shared expert: [1, Is or 2Is, H] and [1, H, Is]. */
  sharedW1?: TensorLike;
  sharedW2?: TensorLike;
  /** Constant experts: wc [nConst, 2, H], v [nConst, H] (f32). */
  constantWc?: TensorLike;
  constantV?: TensorLike;
}

export type Resolved = Required<Omit<MoELayerConfig, 'sharedExpert' | 'router'>> & {
  router: RouterConfig;
  sharedExpert: { intermediate: number } | undefined;
  totalExperts: number;
};

const I32_MAX = 2147483647;

export function resolve(cfg: MoELayerConfig): Resolved {
  const c = new Check('MoELayer');
  c.object('config', cfg);
  // Every size reaches the kernels as an int32, and the experts of all kinds together are bounded as route's.
  const hidden = c.int('config.hidden', cfg.hidden, 1, I32_MAX);
  const intermediate = c.int('config.intermediate', cfg.intermediate, 1, I32_MAX);
  const experts = c.int('config.experts', cfg.experts, 1, MAX_EXPERTS);
  const zeroExperts = c.int('config.zeroExperts', cfg.zeroExperts ?? 0, 0, MAX_EXPERTS);
  const copyExperts = c.int('config.copyExperts', cfg.copyExperts ?? 0, 0, MAX_EXPERTS);
  const constantExperts = c.int('config.constantExperts', cfg.constantExperts ?? 0, 0, MAX_EXPERTS);
  const totalExperts = experts + zeroExperts + copyExperts + constantExperts;
  if (totalExperts > MAX_EXPERTS) {
    c.range('config.experts', `plus the zero, copy and constant experts must be at most ${MAX_EXPERTS}, got ${totalExperts}`);
  }
  const topK = c.int('config.topK', cfg.topK, 1, totalExperts);
  const activation = c.oneOf('config.activation', cfg.activation ?? 'swiglu', ['none', 'relu', 'gelu', 'gelu_tanh', 'silu', 'swiglu', 'geglu', 'tanh', 'sigmoid'] as const);
  const routerLayers = cfg.routerLayers ?? 1;
  if (routerLayers !== 1 && routerLayers !== 2) c.range('config.routerLayers', `must be 1 or 2, got ${String(routerLayers)}`);
  const sharedExpert = cfg.sharedExpert === undefined ? undefined : { intermediate: c.int('config.sharedExpert.intermediate', c.object('config.sharedExpert', cfg.sharedExpert).intermediate, 1, I32_MAX) };
  const resolved: Resolved = {
    hidden, intermediate, experts, topK, totalExperts, zeroExperts, copyExperts, constantExperts, activation, routerLayers, sharedExpert,
    router: routerConfig(c, cfg.router),
    routerHidden: c.int('config.routerHidden', cfg.routerHidden ?? 8 * totalExperts, 1, I32_MAX),
    routerBias: c.bool('config.routerBias', cfg.routerBias ?? false),
    selectionBias: c.bool('config.selectionBias', cfg.selectionBias ?? false),
    gatingResidual: c.bool('config.gatingResidual', cfg.gatingResidual ?? false),
    gluLayout: c.oneOf('config.gluLayout', cfg.gluLayout ?? 'halves', ['halves', 'interleaved'] as const),
    expertBias: c.bool('config.expertBias', cfg.expertBias ?? false),
    zeroGateRenormalize: c.bool('config.zeroGateRenormalize', cfg.zeroGateRenormalize ?? zeroExperts > 0),
    inputScale: c.num('config.inputScale', cfg.inputScale ?? 1),
    dtype: c.oneOf('config.dtype', cfg.dtype ?? 'f32', ['f32', 'bf16', 'f16'] as const),
  };
  checkRouter(resolved);
  // Weights of these shapes must fit one typed array each: MoELayer.random allocates them, and given weights
  // of a larger shape cannot exist.
  for (const [name, spec] of Object.entries(weightSpecs(resolved))) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (n > MAX_TYPED_ARRAY_LENGTH) {
      c.range('config', `sizes need weights.${name} [${spec.shape.join(', ')}] = ${n} elements, more than one typed array holds (${MAX_TYPED_ARRAY_LENGTH})`);
    }
  }
  return resolved;
}

/** Arguments of `route` that the layer fills in itself, and where each comes from. */
const SET_BY_LAYER: Readonly<Record<string, string>> = {
  logits: 'the router network computes them',
  k: 'config.topK',
  experts: 'config.experts plus the zero, copy and constant experts',
  bias: 'weights.selectionBias, with config.selectionBias',
  zeroGateExperts: 'config.zeroExperts, with config.zeroGateRenormalize',
  ids: 'external routing is per call: forward({ routing })',
  weights: 'external routing is per call: forward({ routing })',
};

/** config.router as the layer keeps it: a copy (a caller mutating their object later changes nothing), with
 *  the options that are the layer's own or per call refused. checkRouter validates the rest. */
function routerConfig(c: Check, v: unknown): RouterConfig {
  if (v === undefined) return { method: 'softmax_topk', renormalize: true };
  const r: Record<string, unknown> = { ...c.object('config.router', v) };
  for (const [key, from] of Object.entries(SET_BY_LAYER)) {
    if (r[key] !== undefined) c.range(`config.router.${key}`, `is set by the layer (${from})`);
  }
  if (r.method === 'external') {
    c.range('config.router.method', "cannot be 'external' in a layer config (external routing is per call: forward({ routing }))");
  }
  if (r.capacity !== undefined) r.capacity = { ...c.object('config.router.capacity', r.capacity) };
  if (r.prune !== undefined) {
    const p: Record<string, unknown> = (r.prune = { ...c.object('config.router.prune', r.prune) });
    for (const mask of ['protect', 'dropAll']) {
      // A [tokens] mask fits one input only; a layer sees a different token count on every call.
      if (p[mask] !== undefined) c.range(`config.router.prune.${mask}`, 'is a per-token mask, so it cannot be part of a layer config (only prune.beta can)');
    }
  }
  return r as RouterConfig;
}

/** Checks, with zero tokens, the route call forward() makes (routeCall), so that a bad router option fails in
 *  the constructor instead of at the first forward. route's messages are kept; the argument they name becomes
 *  the config field it came from. */
function checkRouter(cfg: Resolved): void {
  const N = cfg.totalExperts;
  const bias: Tensor<'f32'> | undefined = cfg.selectionBias ? { data: new Float32Array(N), shape: [N], dtype: 'f32' } : undefined;
  try {
    validateRoute(routeCall(cfg, { data: new Float32Array(0), shape: [0, N], dtype: 'f32' }, bias));
  } catch (e) {
    const m = e instanceof TypeError || e instanceof RangeError ? /^route: '([^']*)'([\s\S]*)$/.exec(e.message) : null;
    if (!m) throw e;
    const arg = m[1]!;
    const root = arg.split(/[.[]/)[0]!;
    const field = root === 'k' || (root === 'kmax' && cfg.router.kmax === undefined) ? 'config.topK'
      : root === 'bias' ? 'config.selectionBias'
        : root === 'zeroGateExperts' ? 'config.zeroGateRenormalize'
          : root === 'logits' || root === 'experts' ? 'config.experts'
            : `config.router.${arg}`;
    throw new ((e as Error).constructor as typeof RangeError)(`MoELayer: '${field}'${m[2]!}`);
  }
}

const isGlu = (a: Activation): boolean => a === 'swiglu' || a === 'geglu';
const isThreshold = (m: RouteArgs['method']): boolean => m === 'xmoe_threshold' || m === 'top_p';

/** Expert ids of the zero-computation experts, by kind (see the layout at the top of lib/layer.ts). */
export function specialIds(cfg: Resolved): { constant: number[]; copy: number[]; zero: number[] } {
  const { experts: E, constantExperts: nc, copyExperts: ncp, zeroExperts: nz } = cfg;
  const range = (start: number, n: number): number[] => Array.from({ length: n }, (_, i) => start + i);
  return { constant: range(E, nc), copy: range(E + nc, ncp), zero: range(E + nc + ncp, nz) };
}

/** The route call for router logits: the config's router options, topK as k (as kmax for the threshold
 *  methods, unless router.kmax is set), the selection bias and MoE++'s zero gate. */
export function routeCall(cfg: Resolved, logits: Tensor, bias: Tensor | undefined): RouteArgs {
  const zero = specialIds(cfg).zero;
  return {
    ...cfg.router,
    logits,
    ...(isThreshold(cfg.router.method) ? { kmax: cfg.router.kmax ?? cfg.topK } : { k: cfg.topK }),
    ...(bias ? { bias } : {}),
    ...(cfg.zeroGateRenormalize && zero.length ? { zeroGateExperts: zero, renormalize: true } : {}),
  };
}

export type WeightName = keyof MoELayerWeights;

export interface WeightSpec {
  shape: number[];
  /** Dimension names, for messages. */
  dims: string[];
  /** Always f32 (router, biases, constant experts: SPEC §0), or the config's dtype (the FFN weights). */
  f32: boolean;
  /** MoELayer.random's init: uniform ±1/sqrt(fanIn), or standard normal (the constant experts' v). */
  fanIn: number | 'normal';
}

/** The weights a config uses, with their shapes, in MoELayer.random's draw order (it fixes the seeded values). */
export function weightSpecs(cfg: Resolved): Partial<Record<WeightName, WeightSpec>> {
  const { hidden: H, intermediate: I, experts: E, totalExperts: N, routerHidden: RH, constantExperts: nc } = cfg;
  const glu = isGlu(cfg.activation);
  const w1Rows = glu ? 2 * I : I;
  const sI = cfg.sharedExpert?.intermediate ?? 0;
  const specs: Partial<Record<WeightName, WeightSpec>> = {};
  const add = (on: boolean, name: WeightName, shape: number[], dims: string[], f32: boolean, fanIn: number | 'normal'): void => {
    if (on) specs[name] = { shape, dims, f32, fanIn };
  };
  add(true, 'w1', [E, w1Rows, H], ['experts', glu ? '2*intermediate' : 'intermediate', 'hidden'], false, H);
  add(true, 'w2', [E, H, I], ['experts', 'hidden', 'intermediate'], false, I);
  add(cfg.routerLayers === 1, 'router', [N, H], ['expertsAll', 'hidden'], true, H);
  add(cfg.routerLayers === 2, 'router1', [RH, H], ['routerHidden', 'hidden'], true, H);
  add(cfg.routerLayers === 2, 'router2', [N, RH], ['expertsAll', 'routerHidden'], true, RH);
  add(cfg.routerBias, 'routerBias', [N], ['expertsAll'], true, 1);
  add(cfg.selectionBias, 'selectionBias', [N], ['expertsAll'], true, 100);
  add(cfg.gatingResidual, 'gatingResidual', [N, N], ['expertsAll', 'expertsAll'], true, N);
  add(cfg.expertBias, 'b1', [E, w1Rows], ['experts', 'w1 rows'], true, H);
  add(cfg.expertBias, 'b2', [E, H], ['experts', 'hidden'], true, I);
  add(sI > 0, 'sharedW1', [1, glu ? 2 * sI : sI, H], ['1', 'shared rows', 'hidden'], false, H);
  add(sI > 0, 'sharedW2', [1, H, sI], ['1', 'hidden', 'shared intermediate'], false, sI);
  add(nc > 0, 'constantWc', [nc, 2, H], ['constantExperts', '2', 'hidden'], true, H);
  add(nc > 0, 'constantV', [nc, H], ['constantExperts', 'hidden'], true, 'normal');
  return specs;
}

/** Every weight name, in the order the constructor checks them. */
export const WEIGHT_NAMES: readonly WeightName[] = ['router', 'routerBias', 'router1', 'router2', 'selectionBias', 'gatingResidual',
  'w1', 'w2', 'b1', 'b2', 'sharedW1', 'sharedW2', 'constantWc', 'constantV'];
