// MoELayer: a composition of the ops, with no math of its own.
//
//   x [T, H] ─router (grouped_gemm, 1 or 2 layers, + gating residual as an addend)─▶ z [T, E_all]
//           ─route─▶ ids, weights [T, kmax] ─permute (× inputScale)─▶ rows [R, H]
//           ─grouped_gemm (W1, fused activation)─▶ act [R, I] ─grouped_gemm (W2)─▶ y [R, H]
//           ─unpermute (zero / copy / constant experts, shared expert, residual)─▶ out [T, H]
//           router_stats on the pre-drop routing.
//
// Expert ids: 0..E-1 FFN experts, then the constant experts, then the copy experts, then the zero experts
// (MoE++'s layout: N-4, N-3 constant, N-2 copy, N-1 zero).

import type { BackendChoice, OpOptions } from './backends/backend';
import type { FloatDType } from './dtype';
import { Check } from './errors';
import { MAX_TYPED_ARRAY_LENGTH } from './limits';
import { groupedGemm, groupedGemmAsync } from './ops/grouped_gemm';
import type { Activation, GluLayout, GroupedGemmArgs, GroupedGemmResult } from './ops/grouped_gemm.types';
import { MAX_EXPERTS, permute, permuteAsync, permuteCapacity } from './ops/permute';
import type { PermuteArgs, PermuteResult } from './ops/permute.types';
import { route, routeAsync, validateRoute } from './ops/route';
import type { RouteArgs, RouteResult } from './ops/route.types';
import { routerStats, routerStatsAsync } from './ops/router_stats';
import type { RouterStats, RouterStatsArgs } from './ops/router_stats.types';
import { unpermute, unpermuteAsync } from './ops/unpermute';
import type { UnpermuteArgs, UnpermuteResult } from './ops/unpermute.types';
import { Tensor, TensorLike, toTensor } from './tensor';
import { Rng } from './random';
import { LayerWorkspace, WorkspaceLease } from './layer_workspace';
import { convert, overlaps } from './ops/convert';

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

export interface ForwardArgs {
  /** Layer input x [T, H] (the dtype of the weights, or f32). */
  x: TensorLike;
  /** The previous MoE layer's logits z_{l-1} [T, E_all] (gating residual); omitted for the first layer. */
  prevLogits?: TensorLike;
  /** Added to the output (the block's residual stream). */
  residual?: TensorLike;
  /** External routing (hash, frozen StableMoE or task-level routers, SPEC §7): ids [T, k] in [-1, E_all) and
   *  optional weights [T, k]. The router network is not run; `logits` and `stats` are then absent. */
  routing?: { ids: TensorLike | Int32Array; weights?: TensorLike | Float32Array };
  /** Where to write `out` [T, H] (the array type of x's dtype, exactly T·H elements); it may be exactly
   *  `residual`'s memory (an in-place residual add), no other input's. Default: a new array. */
  out?: Float32Array | Uint16Array;
}

export interface ForwardResult {
  /** [T, H] in x's dtype. */
  out: Tensor;
  /** Router logits z [T, E_all] f32 (including the gating residual): pass as `prevLogits` to the next layer.
   *  Absent with external routing. */
  logits?: Tensor<'f32'>;
  /** The routing used (after capacity dropping and pruning). */
  routing: RouteResult;
  /** Router statistics of the pre-drop routing (for aux_loss). Absent with external routing. */
  stats?: RouterStats;
}

type Resolved = Required<Omit<MoELayerConfig, 'sharedExpert' | 'router'>> & {
  router: RouterConfig;
  sharedExpert: { intermediate: number } | undefined;
  totalExperts: number;
};

const I32_MAX = 2147483647;

function resolve(cfg: MoELayerConfig): Resolved {
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

/** Expert ids of the zero-computation experts, by kind (see the layout at the top of this file). */
function specialIds(cfg: Resolved): { constant: number[]; copy: number[]; zero: number[] } {
  const { experts: E, constantExperts: nc, copyExperts: ncp, zeroExperts: nz } = cfg;
  const range = (start: number, n: number): number[] => Array.from({ length: n }, (_, i) => start + i);
  return { constant: range(E, nc), copy: range(E + nc, ncp), zero: range(E + nc + ncp, nz) };
}

/** The route call for router logits: the config's router options, topK as k (as kmax for the threshold
 *  methods, unless router.kmax is set), the selection bias and MoE++'s zero gate. */
function routeCall(cfg: Resolved, logits: Tensor, bias: Tensor | undefined): RouteArgs {
  const zero = specialIds(cfg).zero;
  return {
    ...cfg.router,
    logits,
    ...(isThreshold(cfg.router.method) ? { kmax: cfg.router.kmax ?? cfg.topK } : { k: cfg.topK }),
    ...(bias ? { bias } : {}),
    ...(cfg.zeroGateRenormalize && zero.length ? { zeroGateExperts: zero, renormalize: true } : {}),
  };
}

type WeightName = keyof MoELayerWeights;

interface WeightSpec {
  shape: number[];
  /** Dimension names, for messages. */
  dims: string[];
  /** Always f32 (router, biases, constant experts: SPEC §0), or the config's dtype (the FFN weights). */
  f32: boolean;
  /** MoELayer.random's init: uniform ±1/sqrt(fanIn), or standard normal (the constant experts' v). */
  fanIn: number | 'normal';
}

/** The weights a config uses, with their shapes, in MoELayer.random's draw order (it fixes the seeded values). */
function weightSpecs(cfg: Resolved): Partial<Record<WeightName, WeightSpec>> {
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
const WEIGHT_NAMES: readonly WeightName[] = ['router', 'routerBias', 'router1', 'router2', 'selectionBias', 'gatingResidual',
  'w1', 'w2', 'b1', 'b2', 'sharedW1', 'sharedW2', 'constantWc', 'constantV'];

export class MoELayer {
  readonly config: Readonly<Resolved>;
  private readonly w: Readonly<Record<string, Tensor | undefined>>;
  readonly backend: BackendChoice;
  private readonly ws = new LayerWorkspace();

  /** Validates the config and every weight's dtype and shape now, so `forward` fails only on its input. */
  constructor(config: MoELayerConfig, weights: MoELayerWeights, opts: OpOptions = {}) {
    const cfg = (this.config = resolve(config));
    const c = new Check('MoELayer');
    c.object('weights', weights);
    this.backend = c.oneOf('backend', opts.backend ?? 'auto', ['auto', 'reference', 'cpu', 'cuda'] as const);
    const specs = weightSpecs(cfg);
    const w: Partial<Record<WeightName, Tensor>> = {};
    for (const name of WEIGHT_NAMES) {
      const v = weights[name];
      const spec = specs[name];
      if (!spec) {
        if (v !== undefined) c.range(`weights.${name}`, 'is given but the config does not use it');
        continue;
      }
      if (v === undefined) c.type(`weights.${name}`, `a tensor [${spec.dims.join(', ')}] = [${spec.shape.join(', ')}]`, v);
      w[name] = toTensor(c, `weights.${name}`, v, { dtypes: spec.f32 ? ['f32'] : [cfg.dtype], shape: spec.shape, dims: spec.dims });
    }
    this.w = w;
  }

  /** Random weights (uniform ±1/sqrt(fan_in), seeded) for demos, tests and benchmarks. */
  static random(config: MoELayerConfig, seed = 1, opts: OpOptions = {}): MoELayer {
    const cfg = resolve(config);
    const rng = new Rng(seed);
    const weights: Partial<Record<WeightName, Tensor>> = {};
    try {
      for (const [name, spec] of Object.entries(weightSpecs(cfg)) as [WeightName, WeightSpec][]) {
        const n = spec.shape.reduce((a, b) => a * b, 1);
        const s = spec.fanIn === 'normal' ? 0 : 1 / Math.sqrt(Math.max(1, spec.fanIn));
        const data = spec.fanIn === 'normal' ? Float32Array.from({ length: n }, () => rng.normal()) : rng.f32(n, -s, s);
        const t: Tensor<'f32'> = { data, shape: spec.shape, dtype: 'f32' };
        weights[name] = spec.f32 || cfg.dtype === 'f32' ? t : convert({ x: t, to: cfg.dtype }, opts).y;
      }
    } catch (e) {
      // resolve() kept every weight within the typed-array length; the memory for all of them may still be missing.
      if (e instanceof RangeError && /allocation failed|Invalid typed array length/.test(e.message)) {
        new Check('MoELayer').range('config', `sizes need weights that cannot be allocated (${e.message})`);
      }
      throw e;
    }
    return new MoELayer(config, weights as MoELayerWeights, opts);
  }

  /** Expert ids of the zero-computation experts, by kind (see the layout at the top of this file). */
  specialExperts(): { constant: number[]; copy: number[]; zero: number[] } {
    return specialIds(this.config);
  }

  /** out = Σ_slots w · expert(u) (+ shared expert) (+ residual); see the data path at the top of this file. */
  forward(args: ForwardArgs): ForwardResult {
    const o: OpOptions = { backend: this.backend };
    const lease = this.ws.acquire();
    try {
      const steps = this.steps(args, lease);
      for (let r = steps.next(); ; ) {
        if (r.done) return r.value;
        r = steps.next(runSync(r.value, o));
      }
    } finally {
      lease?.release();
    }
  }

  /**
   * forward() with the async ops: each op runs off the JS thread on a native backend, so the event loop
   * stays free during a long prefill. The same steps as forward() (one generator drives both), so the
   * result is bitwise the same on one backend. Bad arguments reject the promise. Leave `args`' arrays alone
   * until it settles. Several may be in flight on one layer: the first holds the workspace, the others
   * allocate their intermediates.
   */
  async forwardAsync(args: ForwardArgs): Promise<ForwardResult> {
    const o: OpOptions = { backend: this.backend };
    const lease = this.ws.acquire();
    try {
      const steps = this.steps(args, lease);
      for (let r = steps.next(); ; ) {
        if (r.done) return r.value;
        r = steps.next(await runAsync(r.value, o));
      }
    } finally {
      lease?.release();
    }
  }

  /** Bytes of scratch memory the layer keeps between forward calls for its intermediates (permuted rows,
   *  expert activations and outputs): about T·k·(2H + I) elements of the largest batch so far. */
  get workspaceBytes(): number {
    return this.ws.bytes;
  }

  /** Frees the intermediates' scratch memory; the next forward allocates it again. */
  releaseWorkspace(): void {
    this.ws.clear();
  }

  /** The layer as a sequence of op calls: each `yield* call(...)` hands one op to the driver (sync or async). */
  private *steps(args: ForwardArgs, ws: WorkspaceLease | null): Generator<OpCall, ForwardResult, unknown> {
    const cfg = this.config;
    const c = new Check('MoELayer.forward');
    c.object('args', args);
    const x = toTensor(c, 'x', args.x, { dtypes: ['f32', 'bf16', 'f16'], shape: [-1, cfg.hidden], dims: ['tokens', 'hidden'] });
    const T = x.shape[0]!;
    const N = cfg.totalExperts;
    const prev = args.prevLogits === undefined ? undefined : toTensor(c, 'prevLogits', args.prevLogits, { dtypes: ['f32'], shape: [T, N], dims: ['tokens', 'expertsAll'] });
    if (prev && !cfg.gatingResidual) c.range('prevLogits', 'is given but the config has no gatingResidual');
    const residual = args.residual === undefined ? undefined : toTensor(c, 'residual', args.residual, { shape: [T, cfg.hidden], dims: ['tokens', 'hidden'] });
    const out = args.out === undefined ? undefined : checkOut(c, args.out, x.dtype as FloatDType, T * cfg.hidden);
    // The output is written last, but a layer's inputs may be read until then (copy / constant experts read x).
    if (out && overlaps(out, x.data)) c.range('out', "must not share memory with 'x'");
    if (out && prev && overlaps(out, prev.data)) c.range('out', "must not share memory with 'prevLogits'");
    const w = this.w;
    const dt = x.dtype as FloatDType;
    const scratch = (slot: string, dtype: FloatDType, length: number) => scratchOut(ws, slot, dtype, length);

    const special = this.specialExperts();
    const logits = args.routing === undefined ? yield* this.logits(x, prev, ws) : undefined;
    const routing = logits === undefined
      ? yield* call('route', {
        method: 'external', ids: args.routing!.ids, experts: N,
        ...(args.routing!.weights ? { weights: args.routing!.weights } : {}),
        ...(cfg.router.capacity ? { capacity: cfg.router.capacity } : {}),
      })
      : yield* call('route', routeCall(cfg, logits, w.selectionBias));

    // The rows' worst case for this routing (permute's own bound), so one scratch array serves every call.
    const rowsOut = ws
      ? { out: { rows: ws.float('rows', dt, permuteCapacity({ tokens: T, hidden: cfg.hidden, kmax: routing.ids.shape[1]!, experts: cfg.experts }).rows) } }
      : {};
    const perm = yield* call('permute', { x, ids: routing.ids, experts: cfg.experts, totalExperts: N, scale: cfg.inputScale, ...rowsOut });
    const R = perm.rows.shape[0]!;
    const act = (yield* call('groupedGemm', {
      a: perm.rows, w: w.w1!, offsets: perm.offsets, activation: cfg.activation, gluLayout: cfg.gluLayout, ...(w.b1 ? { bias: w.b1 } : {}),
      ...scratch('act', dt, R * cfg.intermediate),
    })).y;
    const y = (yield* call('groupedGemm', { a: act, w: w.w2!, offsets: perm.offsets, ...(w.b2 ? { bias: w.b2 } : {}), ...scratch('y', dt, R * cfg.hidden) })).y;

    let shared: Tensor | undefined;
    if (w.sharedW1) {
      const sI = cfg.sharedExpert!.intermediate;
      const sAct = (yield* call('groupedGemm', { a: x, w: w.sharedW1, activation: cfg.activation, gluLayout: cfg.gluLayout, ...scratch('sharedAct', dt, T * sI) })).y;
      shared = (yield* call('groupedGemm', { a: sAct, w: w.sharedW2!, ...scratch('shared', dt, T * cfg.hidden) })).y;
    }

    const result = (yield* call('unpermute', {
      y, ids: routing.ids, weights: routing.weights, slotToRow: perm.slotToRow,
      ...(special.zero.length ? { zeroExperts: special.zero } : {}),
      ...(special.copy.length ? { copyExperts: special.copy } : {}),
      ...(special.constant.length ? { constantExperts: { ids: special.constant, wc: w.constantWc!, v: w.constantV! } } : {}),
      ...(special.copy.length || special.constant.length ? { x, inputScale: cfg.inputScale } : {}),
      ...(shared ? { shared } : {}),
      ...(residual ? { residual } : {}),
      outDtype: dt,
      ...(out ? { out } : {}),
    })).out;

    if (logits === undefined) return { out: result, routing };
    // Megatron renormalises sigmoid scores per token before averaging them for the balance loss (SPEC §6).
    const normalizeScores = cfg.router.method === 'sigmoid_topk';
    const stats = yield* call('routerStats', { ids: routing.capacity?.selectedIds ?? routing.ids, scores: routing.scores!, logits, normalizeScores });
    return { out: result, logits, routing, stats };
  }

  /** Router logits z = r + W_res z_prev: the residual term enters the last router GEMM as its addend. */
  private *logits(x: Tensor, prev: Tensor | undefined, ws: WorkspaceLease | null): Generator<OpCall, Tensor<'f32'>, unknown> {
    const w = this.w;
    const T = x.shape[0]!;
    const res = prev && w.gatingResidual
      ? (yield* call('groupedGemm', { a: prev, w: withLead(w.gatingResidual), outDtype: 'f32', ...scratchOut(ws, 'residualLogits', 'f32', T * this.config.totalExperts) })).y
      : undefined;
    const addend = res ? { addend: res } : {};
    if (this.config.routerLayers === 2) {
      const hOut = scratchOut(ws, 'routerHidden', 'f32', T * this.config.routerHidden);
      const h = (yield* call('groupedGemm', { a: x, w: withLead(w.router1!), activation: 'tanh', outDtype: 'f32', ...hOut })).y;
      return (yield* call('groupedGemm', { a: h, w: withLead(w.router2!), outDtype: 'f32', ...addend })).y as Tensor<'f32'>;
    }
    const bias = w.routerBias ? { bias: withLead(w.routerBias) } : {};
    return (yield* call('groupedGemm', { a: x, w: withLead(w.router!), outDtype: 'f32', ...bias, ...addend })).y as Tensor<'f32'>;
  }
}

// ---- the op calls a layer makes, run by forward() (sync) or forwardAsync() ----

interface OpTable {
  route: [RouteArgs, RouteResult];
  permute: [PermuteArgs, PermuteResult];
  groupedGemm: [GroupedGemmArgs, GroupedGemmResult];
  unpermute: [UnpermuteArgs, UnpermuteResult];
  routerStats: [RouterStatsArgs, RouterStats];
}
type OpName = keyof OpTable;
type OpCall = { [K in OpName]: { op: K; args: OpTable[K][0] } }[OpName];

const SYNC: { [K in OpName]: (a: OpTable[K][0], o: OpOptions) => OpTable[K][1] } = { route, permute, groupedGemm, unpermute, routerStats };
const ASYNC: { [K in OpName]: (a: OpTable[K][0], o: OpOptions) => Promise<OpTable[K][1]> } = {
  route: routeAsync, permute: permuteAsync, groupedGemm: groupedGemmAsync, unpermute: unpermuteAsync, routerStats: routerStatsAsync,
};

/** One op call as a generator step: the driver sends back the op's result. */
function* call<K extends OpName>(op: K, args: OpTable[K][0]): Generator<OpCall, OpTable[K][1], unknown> {
  return (yield { op, args } as OpCall) as OpTable[K][1];
}

function runSync(c: OpCall, o: OpOptions): unknown {
  return (SYNC[c.op] as (a: unknown, o: OpOptions) => unknown)(c.args, o);
}

function runAsync(c: OpCall, o: OpOptions): Promise<unknown> {
  return (ASYNC[c.op] as (a: unknown, o: OpOptions) => Promise<unknown>)(c.args, o);
}

/** An intermediate's `out` argument from the workspace (an exact-length view); without a lease, none (the op
 *  allocates it). */
function scratchOut(ws: WorkspaceLease | null, slot: string, dtype: FloatDType, length: number): { out?: Float32Array | Uint16Array } {
  return ws ? { out: ws.float(slot, dtype, length) } : {};
}

/** forward's `out`: the array type of x's dtype, exactly T·H elements (unpermute checks the overlaps). */
function checkOut(c: Check, v: unknown, dtype: FloatDType, length: number): Float32Array | Uint16Array {
  const f32 = dtype === 'f32';
  if (!(f32 ? v instanceof Float32Array : v instanceof Uint16Array)) c.type('out', `a ${f32 ? 'Float32Array' : 'Uint16Array'} for x's dtype '${dtype}'`, v);
  const a = v as Float32Array | Uint16Array;
  if (a.length !== length) c.range('out', `must have tokens × hidden = ${length} elements, got ${a.length}`);
  return a;
}

/** View a [N, K] weight (or an [N] bias) as one group: [1, N, K] (or [1, N]). No copy. */
function withLead(t: Tensor): Tensor {
  return { data: t.data, shape: [1, ...t.shape], dtype: t.dtype } as Tensor;
}

