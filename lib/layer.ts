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
//
// The config and weight types, their checks and the weights a config uses: lib/layer_config.ts. On the
// native cpu backend the same composition runs as one native call (lib/layer_native.ts), bitwise the same.

import type { BackendChoice, OpOptions } from './backends/backend';
import type { FloatDType } from './dtype';
import { Check } from './errors';
import { groupedGemm, groupedGemmAsync } from './ops/grouped_gemm';
import type { GroupedGemmArgs, GroupedGemmResult } from './ops/grouped_gemm.types';
import { permute, permuteAsync, permuteCapacity } from './ops/permute';
import type { PermuteArgs, PermuteResult } from './ops/permute.types';
import { route, routeAsync } from './ops/route';
import type { RouteArgs, RouteResult } from './ops/route.types';
import { routerStats, routerStatsAsync } from './ops/router_stats';
import type { RouterStats, RouterStatsArgs } from './ops/router_stats.types';
import { unpermute, unpermuteAsync } from './ops/unpermute';
import type { UnpermuteArgs, UnpermuteResult } from './ops/unpermute.types';
import { Tensor, TensorLike, toTensor } from './tensor';
import { Rng } from './random';
import { LayerWorkspace, WorkspaceLease } from './layer_workspace';
import { convert, overlaps } from './ops/convert';
import { resolve, routeCall, specialIds, weightSpecs, WEIGHT_NAMES } from './layer_config';
import { backendGeneration } from './backends';
import { FusedPlan, fusedSupport } from './layer_native';
import type { NativeAddon } from './native';
import type { MoELayerConfig, MoELayerWeights, Resolved, WeightName, WeightSpec } from './layer_config';

export type { MoELayerConfig, MoELayerWeights, RouterConfig } from './layer_config';


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


export interface LayerOptions extends OpOptions {
  /** On the cpu backend, run forward in one native call (lib/layer_native.ts: bitwise the op-by-op result,
   *  ~0.5 ms less per call at decode). Default true; false: one call per op (to time or debug the ops). */
  fused?: boolean;
}

export class MoELayer {
  readonly config: Readonly<Resolved>;
  private readonly w: Readonly<Record<string, Tensor | undefined>>;
  readonly backend: BackendChoice;
  private readonly ws = new LayerWorkspace();
  private readonly fusedOn: boolean;
  private fusedWhy: string | null | undefined = undefined;
  private fusedAddon: NativeAddon | null = null;
  private fusedGeneration = -1;
  private readonly fusedPlans: FusedPlan[] = [];

  /** Validates the config and every weight's dtype and shape now, so `forward` fails only on its input. */
  constructor(config: MoELayerConfig, weights: MoELayerWeights, opts: LayerOptions = {}) {
    const cfg = (this.config = resolve(config));
    const c = new Check('MoELayer');
    c.object('weights', weights);
    this.backend = c.oneOf('backend', opts.backend ?? 'auto', ['auto', 'reference', 'cpu', 'cuda'] as const);
    this.fusedOn = c.bool('fused', opts.fused ?? true);
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
  static random(config: MoELayerConfig, seed = 1, opts: LayerOptions = {}): MoELayer {
    const cfg = resolve(config);
    const rng = new Rng(seed);
    const weights: Partial<Record<WeightName, Tensor>> = {};
    try {
      for (const [name, spec] of Object.entries(weightSpecs(cfg)) as [WeightName, WeightSpec][]) {
        const n = spec.shape.reduce((a, b) => a * b, 1);
        const s = spec.fanIn === 'normal' ? 0 : 1 / Math.sqrt(Math.max(1, spec.fanIn));
        const data = spec.fanIn === 'normal' ? Float32Array.from({ length: n }, () => rng.normal()) : rng.f32(n, -s, s);
        const t: Tensor<'f32'> = { data, shape: spec.shape, dtype: 'f32' };
        weights[name] = spec.f32 || cfg.dtype === 'f32' ? t : convert({ x: t, to: cfg.dtype }, opts.backend === undefined ? {} : { backend: opts.backend }).y;
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
      const fused = this.fused(args, lease);
      if (fused) {
        fused.call.run();
        return fused.call.result();
      }
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
      const fused = this.fused(args, lease);
      if (fused) {
        await fused.call.runAsync();
        return fused.call.result();
      }
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
  /** forward's inputs, checked. */
  private inputs(args: ForwardArgs): { x: Tensor; T: number; prev?: Tensor; residual?: Tensor; out?: Float32Array | Uint16Array } {
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
    return { x, T, ...(prev ? { prev } : {}), ...(residual ? { residual } : {}), ...(out ? { out } : {}) };
  }

  /** The one-call native forward (lib/layer_native.ts) when this layer, its backend and these args allow
   *  it; null for the op-by-op path. */
  private fused(args: ForwardArgs, ws: WorkspaceLease | null): { call: ReturnType<FusedPlan['call']> } | null {
    if (this.fusedUnavailable !== null || (args as { routing?: unknown } | null)?.routing !== undefined) return null;
    const inp = this.inputs(args);
    // The residual may be exactly out's memory (an in-place add), as unpermute allows; any other overlap is
    // for unpermute's own check: the op-by-op path reports it.
    if (inp.residual && inp.out && overlaps(inp.out, inp.residual.data) && !(inp.out.buffer === inp.residual.data.buffer && inp.out.byteOffset === inp.residual.data.byteOffset && inp.out.byteLength === inp.residual.data.byteLength)) return null;
    const T = inp.T, dt = inp.x.dtype as FloatDType;
    let plan = this.fusedPlans.find((p) => p.tokens === T && p.dtype === dt && p.addon === this.fusedAddon);
    if (!plan) {
      plan = new FusedPlan(this.fusedAddon!, this.config, this.w, T, dt);
      // A few token counts (decode, a prefill chunk size, the last chunk) cover a model's calls.
      if (this.fusedPlans.unshift(plan) > 4) this.fusedPlans.pop();
    }
    return { call: plan.call(inp, ws) };
  }

  /** Why forward runs op by op on this layer (null: in one native call, except with external routing).
   *  Decided at the first forward (or read), and again after a backend is registered. */
  get fusedUnavailable(): string | null {
    if (!this.fusedOn) return "disabled ('fused: false')";
    if (this.fusedWhy === undefined || this.fusedGeneration !== backendGeneration()) {
      this.fusedGeneration = backendGeneration();
      const s = fusedSupport(this.config, this.backend);
      this.fusedAddon = 'addon' in s ? s.addon : null;
      this.fusedWhy = 'why' in s ? s.why : null;
    }
    return this.fusedWhy;
  }

  private *steps(args: ForwardArgs, ws: WorkspaceLease | null): Generator<OpCall, ForwardResult, unknown> {
    const cfg = this.config;
    const { x, T, prev, residual, out } = this.inputs(args);
    const N = cfg.totalExperts;
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

