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
import { groupedGemm, groupedGemmAsync } from './ops/grouped_gemm';
import type { Activation, GluLayout, GroupedGemmArgs, GroupedGemmResult } from './ops/grouped_gemm.types';
import { permute, permuteAsync } from './ops/permute';
import type { PermuteArgs, PermuteResult } from './ops/permute.types';
import { route, routeAsync } from './ops/route';
import type { RouteArgs, RouteResult } from './ops/route.types';
import { routerStats, routerStatsAsync } from './ops/router_stats';
import type { RouterStats, RouterStatsArgs } from './ops/router_stats.types';
import { unpermute, unpermuteAsync } from './ops/unpermute';
import type { UnpermuteArgs, UnpermuteResult } from './ops/unpermute.types';
import { Tensor, TensorLike, toTensor } from './tensor';
import { Rng } from './random';
import { convert } from './ops/convert';

/** Routing options of a layer: everything `route` takes except the per-call tensors and k. */
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

function resolve(cfg: MoELayerConfig): Resolved {
  const c = new Check('MoELayer');
  c.object('config', cfg);
  const hidden = c.int('config.hidden', cfg.hidden, 1);
  const intermediate = c.int('config.intermediate', cfg.intermediate, 1);
  const experts = c.int('config.experts', cfg.experts, 1);
  const zeroExperts = c.int('config.zeroExperts', cfg.zeroExperts ?? 0, 0);
  const copyExperts = c.int('config.copyExperts', cfg.copyExperts ?? 0, 0);
  const constantExperts = c.int('config.constantExperts', cfg.constantExperts ?? 0, 0);
  const totalExperts = experts + zeroExperts + copyExperts + constantExperts;
  const topK = c.int('config.topK', cfg.topK, 1, totalExperts);
  const activation = c.oneOf('config.activation', cfg.activation ?? 'swiglu', ['none', 'relu', 'gelu', 'gelu_tanh', 'silu', 'swiglu', 'geglu', 'tanh', 'sigmoid'] as const);
  const routerLayers = cfg.routerLayers ?? 1;
  if (routerLayers !== 1 && routerLayers !== 2) c.range('config.routerLayers', `must be 1 or 2, got ${String(routerLayers)}`);
  const sharedExpert = cfg.sharedExpert === undefined ? undefined : { intermediate: c.int('config.sharedExpert.intermediate', c.object('config.sharedExpert', cfg.sharedExpert).intermediate, 1) };
  return {
    hidden, intermediate, experts, topK, totalExperts, zeroExperts, copyExperts, constantExperts, activation, routerLayers, sharedExpert,
    router: cfg.router === undefined ? { method: 'softmax_topk', renormalize: true } : (c.object('config.router', cfg.router) as RouterConfig),
    routerHidden: c.int('config.routerHidden', cfg.routerHidden ?? 8 * totalExperts, 1),
    routerBias: c.bool('config.routerBias', cfg.routerBias ?? false),
    selectionBias: c.bool('config.selectionBias', cfg.selectionBias ?? false),
    gatingResidual: c.bool('config.gatingResidual', cfg.gatingResidual ?? false),
    gluLayout: c.oneOf('config.gluLayout', cfg.gluLayout ?? 'halves', ['halves', 'interleaved'] as const),
    expertBias: c.bool('config.expertBias', cfg.expertBias ?? false),
    zeroGateRenormalize: c.bool('config.zeroGateRenormalize', cfg.zeroGateRenormalize ?? zeroExperts > 0),
    inputScale: c.num('config.inputScale', cfg.inputScale ?? 1),
    dtype: c.oneOf('config.dtype', cfg.dtype ?? 'f32', ['f32', 'bf16', 'f16'] as const),
  };
}

const isGlu = (a: Activation): boolean => a === 'swiglu' || a === 'geglu';
const isThreshold = (m: RouteArgs['method']): boolean => m === 'xmoe_threshold' || m === 'top_p';

export class MoELayer {
  readonly config: Readonly<Resolved>;
  private readonly w: Readonly<Record<string, Tensor | undefined>>;
  readonly backend: BackendChoice;

  /** Validates the config and every weight's dtype and shape now, so `forward` fails only on its input. */
  constructor(config: MoELayerConfig, weights: MoELayerWeights, opts: OpOptions = {}) {
    const cfg = (this.config = resolve(config));
    const c = new Check('MoELayer');
    c.object('weights', weights);
    this.backend = c.oneOf('backend', opts.backend ?? 'auto', ['auto', 'reference', 'cpu', 'cuda'] as const);
    const { hidden: H, intermediate: I, experts: E, totalExperts: N } = cfg;
    const f32 = ['f32'] as const;
    const wdt = [cfg.dtype] as const;
    const need = (name: keyof MoELayerWeights, on: boolean, shape: number[], dtypes: readonly ('f32' | 'bf16' | 'f16')[], dims: string[]): Tensor | undefined => {
      const v = weights[name];
      if (!on) {
        if (v !== undefined) c.range(`weights.${name}`, `is given but the config does not use it`);
        return undefined;
      }
      if (v === undefined) c.type(`weights.${name}`, `a tensor [${dims.join(', ')}] = [${shape.join(', ')}]`, v);
      return toTensor(c, `weights.${name}`, v, { dtypes, shape, dims });
    };
    const w1Rows = isGlu(cfg.activation) ? 2 * I : I;
    const sI = cfg.sharedExpert?.intermediate ?? 0;
    const sRows = isGlu(cfg.activation) ? 2 * sI : sI;
    this.w = {
      router: need('router', cfg.routerLayers === 1, [N, H], f32, ['expertsAll', 'hidden']),
      routerBias: need('routerBias', cfg.routerBias, [N], f32, ['expertsAll']),
      router1: need('router1', cfg.routerLayers === 2, [cfg.routerHidden, H], f32, ['routerHidden', 'hidden']),
      router2: need('router2', cfg.routerLayers === 2, [N, cfg.routerHidden], f32, ['expertsAll', 'routerHidden']),
      selectionBias: need('selectionBias', cfg.selectionBias, [N], f32, ['expertsAll']),
      gatingResidual: need('gatingResidual', cfg.gatingResidual, [N, N], f32, ['expertsAll', 'expertsAll']),
      w1: need('w1', true, [E, w1Rows, H], wdt, ['experts', isGlu(cfg.activation) ? '2*intermediate' : 'intermediate', 'hidden']),
      w2: need('w2', true, [E, H, I], wdt, ['experts', 'hidden', 'intermediate']),
      b1: need('b1', cfg.expertBias, [E, w1Rows], f32, ['experts', 'w1 rows']),
      b2: need('b2', cfg.expertBias, [E, H], f32, ['experts', 'hidden']),
      sharedW1: need('sharedW1', sI > 0, [1, sRows, H], wdt, ['1', 'shared rows', 'hidden']),
      sharedW2: need('sharedW2', sI > 0, [1, H, sI], wdt, ['1', 'hidden', 'shared intermediate']),
      constantWc: need('constantWc', cfg.constantExperts > 0, [cfg.constantExperts, 2, H], f32, ['constantExperts', '2', 'hidden']),
      constantV: need('constantV', cfg.constantExperts > 0, [cfg.constantExperts, H], f32, ['constantExperts', 'hidden']),
    };
  }

  /** Random weights (uniform ±1/sqrt(fan_in), seeded) for demos, tests and benchmarks. */
  static random(config: MoELayerConfig, seed = 1, opts: OpOptions = {}): MoELayer {
    const cfg = resolve(config);
    const rng = new Rng(seed);
    const { hidden: H, intermediate: I, experts: E, totalExperts: N } = cfg;
    const glu = isGlu(cfg.activation) ? 2 : 1;
    const f32t = (shape: number[], fanIn: number): Tensor<'f32'> => {
      const n = shape.reduce((a, b) => a * b, 1);
      const s = 1 / Math.sqrt(Math.max(1, fanIn));
      return { data: rng.f32(n, -s, s), shape, dtype: 'f32' };
    };
    const wt = (shape: number[], fanIn: number): Tensor => {
      const t = f32t(shape, fanIn);
      return cfg.dtype === 'f32' ? t : convert({ x: t, to: cfg.dtype }, opts).y;
    };
    const sI = cfg.sharedExpert?.intermediate ?? 0;
    const weights: MoELayerWeights = {
      w1: wt([E, glu * I, H], H),
      w2: wt([E, H, I], I),
      ...(cfg.routerLayers === 1 ? { router: f32t([N, H], H) } : { router1: f32t([cfg.routerHidden, H], H), router2: f32t([N, cfg.routerHidden], cfg.routerHidden) }),
      ...(cfg.routerBias ? { routerBias: f32t([N], 1) } : {}),
      ...(cfg.selectionBias ? { selectionBias: f32t([N], 100) } : {}),
      ...(cfg.gatingResidual ? { gatingResidual: f32t([N, N], N) } : {}),
      ...(cfg.expertBias ? { b1: f32t([E, glu * I], H), b2: f32t([E, H], I) } : {}),
      ...(sI > 0 ? { sharedW1: wt([1, glu * sI, H], H), sharedW2: wt([1, H, sI], sI) } : {}),
      ...(cfg.constantExperts > 0 ? { constantWc: f32t([cfg.constantExperts, 2, H], H), constantV: { data: Float32Array.from({ length: cfg.constantExperts * H }, () => rng.normal()), shape: [cfg.constantExperts, H], dtype: 'f32' } } : {}),
    };
    return new MoELayer(config, weights, opts);
  }

  /** Expert ids of the zero-computation experts, by kind (see the layout at the top of this file). */
  specialExperts(): { constant: number[]; copy: number[]; zero: number[] } {
    const { experts: E, constantExperts: nc, copyExperts: ncp, zeroExperts: nz } = this.config;
    const range = (start: number, n: number): number[] => Array.from({ length: n }, (_, i) => start + i);
    return { constant: range(E, nc), copy: range(E + nc, ncp), zero: range(E + nc + ncp, nz) };
  }

  /** out = Σ_slots w · expert(u) (+ shared expert) (+ residual); see the data path at the top of this file. */
  forward(args: ForwardArgs): ForwardResult {
    const o: OpOptions = { backend: this.backend };
    const steps = this.steps(args);
    for (let r = steps.next(); ; ) {
      if (r.done) return r.value;
      r = steps.next(runSync(r.value, o));
    }
  }

  /**
   * forward() with the async ops: each op runs off the JS thread on a native backend, so the event loop
   * stays free during a long prefill. The same steps as forward() (one generator drives both), so the
   * result is bitwise the same on one backend. Bad arguments reject the promise. Leave `args`' arrays alone
   * until it settles.
   */
  async forwardAsync(args: ForwardArgs): Promise<ForwardResult> {
    const o: OpOptions = { backend: this.backend };
    const steps = this.steps(args);
    for (let r = steps.next(); ; ) {
      if (r.done) return r.value;
      r = steps.next(await runAsync(r.value, o));
    }
  }

  /** The layer as a sequence of op calls: each `yield* call(...)` hands one op to the driver (sync or async). */
  private *steps(args: ForwardArgs): Generator<OpCall, ForwardResult, unknown> {
    const cfg = this.config;
    const c = new Check('MoELayer.forward');
    c.object('args', args);
    const x = toTensor(c, 'x', args.x, { dtypes: ['f32', 'bf16', 'f16'], shape: [-1, cfg.hidden], dims: ['tokens', 'hidden'] });
    const T = x.shape[0]!;
    const N = cfg.totalExperts;
    const prev = args.prevLogits === undefined ? undefined : toTensor(c, 'prevLogits', args.prevLogits, { dtypes: ['f32'], shape: [T, N], dims: ['tokens', 'expertsAll'] });
    if (prev && !cfg.gatingResidual) c.range('prevLogits', 'is given but the config has no gatingResidual');
    const residual = args.residual === undefined ? undefined : toTensor(c, 'residual', args.residual, { shape: [T, cfg.hidden], dims: ['tokens', 'hidden'] });
    const w = this.w;

    const special = this.specialExperts();
    const logits = args.routing === undefined ? yield* this.logits(x, prev) : undefined;
    const routing = logits === undefined
      ? yield* call('route', {
        method: 'external', ids: args.routing!.ids, experts: N,
        ...(args.routing!.weights ? { weights: args.routing!.weights } : {}),
        ...(cfg.router.capacity ? { capacity: cfg.router.capacity } : {}),
      })
      : yield* call('route', {
        ...cfg.router,
        logits,
        ...(isThreshold(cfg.router.method) ? { kmax: cfg.router.kmax ?? cfg.topK } : { k: cfg.topK }),
        ...(w.selectionBias ? { bias: w.selectionBias } : {}),
        ...(cfg.zeroGateRenormalize && special.zero.length ? { zeroGateExperts: special.zero, renormalize: true } : {}),
      });

    const perm = yield* call('permute', { x, ids: routing.ids, experts: cfg.experts, totalExperts: N, scale: cfg.inputScale });
    const act = (yield* call('groupedGemm', { a: perm.rows, w: w.w1!, offsets: perm.offsets, activation: cfg.activation, gluLayout: cfg.gluLayout, ...(w.b1 ? { bias: w.b1 } : {}) })).y;
    const y = (yield* call('groupedGemm', { a: act, w: w.w2!, offsets: perm.offsets, ...(w.b2 ? { bias: w.b2 } : {}) })).y;

    let shared: Tensor | undefined;
    if (w.sharedW1) {
      const sAct = (yield* call('groupedGemm', { a: x, w: w.sharedW1, activation: cfg.activation, gluLayout: cfg.gluLayout })).y;
      shared = (yield* call('groupedGemm', { a: sAct, w: w.sharedW2! })).y;
    }

    const out = (yield* call('unpermute', {
      y, ids: routing.ids, weights: routing.weights, slotToRow: perm.slotToRow,
      ...(special.zero.length ? { zeroExperts: special.zero } : {}),
      ...(special.copy.length ? { copyExperts: special.copy } : {}),
      ...(special.constant.length ? { constantExperts: { ids: special.constant, wc: w.constantWc!, v: w.constantV! } } : {}),
      ...(special.copy.length || special.constant.length ? { x, inputScale: cfg.inputScale } : {}),
      ...(shared ? { shared } : {}),
      ...(residual ? { residual } : {}),
      outDtype: x.dtype as FloatDType,
    })).out;

    if (logits === undefined) return { out, routing };
    // Megatron renormalises sigmoid scores per token before averaging them for the balance loss (SPEC §6).
    const normalizeScores = cfg.router.method === 'sigmoid_topk';
    const stats = yield* call('routerStats', { ids: routing.capacity?.selectedIds ?? routing.ids, scores: routing.scores!, logits, normalizeScores });
    return { out, logits, routing, stats };
  }

  /** Router logits z = r + W_res z_prev: the residual term enters the last router GEMM as its addend. */
  private *logits(x: Tensor, prev: Tensor | undefined): Generator<OpCall, Tensor<'f32'>, unknown> {
    const w = this.w;
    const res = prev && w.gatingResidual ? (yield* call('groupedGemm', { a: prev, w: withLead(w.gatingResidual), outDtype: 'f32' })).y : undefined;
    const addend = res ? { addend: res } : {};
    if (this.config.routerLayers === 2) {
      const h = (yield* call('groupedGemm', { a: x, w: withLead(w.router1!), activation: 'tanh', outDtype: 'f32' })).y;
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

/** View a [N, K] weight (or an [N] bias) as one group: [1, N, K] (or [1, N]). No copy. */
function withLead(t: Tensor): Tensor {
  return { data: t.data, shape: [1, ...t.shape], dtype: t.dtype } as Tensor;
}

