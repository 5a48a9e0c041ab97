// MoELayer.forward in one native call on the cpu backend (native/common/layer_forward.h): the same op calls
// as the op-by-op forward of lib/layer.ts, in its order, each on the arguments lib/ops would build, so the
// result is bitwise the same. Why: at decode, 7 op calls from cold caches cost ~0.65 ms outside the expert
// GEMMs (Qwen3-30B-A3B T = 1, 2 threads): 11% of the f32 layer, 18% of the bf16 one.
//
// Covered: the one-layer router (with its bias), every scored route method with its options (selection
// bias, groups, thresholds, prune, MoE++'s zero gate), zero / copy / constant and shared experts, a
// residual. Not covered (the op-by-op forward runs them): capacity, external routing, the two-layer router,
// the gating residual, and any op that 'auto' would not give to the cpu backend.
//
// Each FusedPlan (one per token count and x dtype) makes a native plan at its first call (layerPlan,
// native/addon/layer_plan.cpp: the whole args object read and checked once, the weights kept); every call
// then passes only its ~20 per-call arrays, positionally. The binding's reading and checking went from ~85 us
// to ~28 us per Qwen3-30B-A3B T = 1 forward from cold caches (Zen 4 VM, median of 40).

import type { LayerForwardNativeArgs, LayerPlanHandle, RouteNativeArgs } from '../bindings';
import { selectBackend } from './backends';
import { slabAllocator } from './backends/alloc';
import type { Backend, BackendChoice } from './backends/backend';
import { nativeCpuAddon } from './backends/cpu';
import { statsOutputs, statsResult } from './backends/cpu/router_stats';
import { prepareRoute } from './backends/route_native';
import type { FloatDType } from './dtype';
import type { ForwardResult } from './layer';
import { routeCall, specialIds } from './layer_config';
import type { Resolved } from './layer_config';
import type { WorkspaceLease } from './layer_workspace';
import type { NativeAddon } from './native';
import { validateRoute } from './ops/route';
import type { RouteValidated } from './ops/route.types';
import type { Tensor } from './tensor';

const LAYER_OPS = ['grouped_gemm', 'route', 'permute', 'unpermute', 'router_stats'] as const;

/** The addon when the whole forward of `cfg` on `backend` can be one native call, else why not. */
export function fusedSupport(cfg: Resolved, backend: BackendChoice): { addon: NativeAddon } | { why: string } {
  if (backend !== 'cpu' && backend !== 'auto') return { why: `backend '${backend}'` };
  if (cfg.routerLayers !== 1) return { why: 'the two-layer router' };
  if (cfg.gatingResidual) return { why: 'the gating residual' };
  if (cfg.router.capacity) return { why: 'capacity' };
  let addon: NativeAddon | null = null;
  for (const op of LAYER_OPS) {
    let b: Backend;
    try {
      b = selectBackend(op, backend);
    } catch (e) {
      return { why: (e as Error).message };
    }
    const a = nativeCpuAddon(b);
    if (!a || (addon && a !== addon)) return { why: `'${op}' runs on the ${b.name} backend${b.name === 'cpu' ? ' registered in place of the native one' : ''}` };
    addon = a;
  }
  if (!addon?.layerPlan || !addon.layerForwardPlanned || !addon.layerForwardPlannedAsync) {
    return { why: 'the loaded binary has no layerPlan (rebuild it: npm run build:native)' };
  }
  return { addon };
}

/** The validated inputs of one forward (lib/layer.ts checks them). */
export interface FusedInputs {
  x: Tensor;
  residual?: Tensor;
  out?: Float32Array | Uint16Array;
}

const floatArray = (dtype: FloatDType, n: number): Float32Array | Uint16Array =>
  dtype === 'f32' ? new Float32Array(n) : new Uint16Array(n);

type Fixed = Omit<LayerForwardNativeArgs, keyof RouteNativeArgs | 'logits' | 'scores' | 'x' | 'rows' | 'act' | 'y' | 'slotToRow' |
  'rowToToken' | 'offsets' | 'sharedAct' | 'shared' | 'residual' | 'residualDtype' | 'out' | 'statCounts' | 'statTop1Counts' |
  'statProbSum' | 'statTotals'>;

/**
 * What the native args of every forward of one layer share for one token count and x dtype: the validated
 * route call (only its logits change) and every field that is not a per-call array. The layer keeps it:
 * validating the route call and building these fields from cold caches took ~0.2 ms per forward (Qwen3-30B-A3B
 * T = 1, caches flushed before each forward), a tenth of a bf16 decode.
 */
export class FusedPlan {
  private readonly route: RouteValidated;
  private readonly fixed: Fixed;
  private handle: LayerPlanHandle | undefined;

  constructor(readonly addon: NativeAddon | null, private readonly cfg: Resolved, w: Readonly<Record<string, Tensor | undefined>>,
    readonly tokens: number, readonly dtype: FloatDType) {
    const T = tokens, N = cfg.totalExperts;
    // Validated on stand-in logits of the right shape (validation reads no values), kept without them.
    const v = validateRoute(routeCall(cfg, { data: new Float32Array(T * N), shape: [T, N], dtype: 'f32' }, w.selectionBias));
    this.route = { ...v, logits: null };
    const special = specialIds(cfg);
    const w1 = w.w1!, w2 = w.w2!;
    const fixed: Fixed = {
      xDtype: dtype,
      hidden: cfg.hidden,
      router: w.router!.data as Float32Array,
      routerDtype: 'f32',
      ffnExperts: cfg.experts,
      intermediate: cfg.intermediate,
      inputScale: cfg.inputScale,
      activation: cfg.activation,
      gluLayout: cfg.gluLayout,
      w1: w1.data as Float32Array | Uint16Array,
      w1Dtype: w1.dtype as FloatDType,
      w2: w2.data as Float32Array | Uint16Array,
      w2Dtype: w2.dtype as FloatDType,
      zeroExperts: Int32Array.from(special.zero),
      copyExperts: Int32Array.from(special.copy),
      constantIds: Int32Array.from(special.constant),
      normalizeScores: cfg.router.method === 'sigmoid_topk',
    };
    if (w.routerBias) fixed.routerBias = w.routerBias.data as Float32Array;
    if (w.b1) fixed.b1 = w.b1.data as Float32Array;
    if (w.b2) fixed.b2 = w.b2.data as Float32Array;
    if (cfg.sharedExpert) {
      Object.assign(fixed, {
        sharedIntermediate: cfg.sharedExpert.intermediate,
        sharedW1: w.sharedW1!.data, sharedW1Dtype: w.sharedW1!.dtype,
        sharedW2: w.sharedW2!.data, sharedW2Dtype: w.sharedW2!.dtype,
      });
    }
    if (special.constant.length) Object.assign(fixed, { wc: w.constantWc!.data, v: w.constantV!.data });
    this.fixed = fixed;
  }

  /** One forward: its per-call arrays, run() / runAsync() over them, and the result. Outputs come from
   *  slabAllocator (one ArrayBuffer at decode; under a test allocator, such as the conformance suite's
   *  poisoning one, allocOutput's), intermediates from the workspace when the forward holds it. The first call
   *  makes the native plan (layerPlan, native/addon/layer_plan.cpp) from the whole args object; every call then
   *  passes the plan and its per-call arrays (layerForwardPlanned). */
  call(inp: FusedInputs, ws: WorkspaceLease | null): { run: () => void; runAsync: () => Promise<void>; result: () => ForwardResult } {
    const c = this.arrays(inp, ws);
    const addon = this.addon!;
    const plan = (this.handle ??= addon.layerPlan!(this.fullArgs(c)));
    const a = c.arrays;
    return {
      run: () => addon.layerForwardPlanned!(plan, a.x, a.out, a.residual, a.residualDtype, a.logits, a.scores, a.ids, a.weights, a.counts,
        a.rows, a.act, a.y, a.slotToRow, a.rowToToken, a.offsets, a.statCounts, a.statTop1Counts, a.statProbSum, a.statTotals,
        a.sharedAct, a.shared),
      runAsync: () => addon.layerForwardPlannedAsync!(plan, a.x, a.out, a.residual, a.residualDtype, a.logits, a.scores, a.ids, a.weights,
        a.counts, a.rows, a.act, a.y, a.slotToRow, a.rowToToken, a.offsets, a.statCounts, a.statTop1Counts, a.statProbSum, a.statTotals,
        a.sharedAct, a.shared),
      result: c.result,
    };
  }

  /** The whole args object of layerForward over one call's arrays (layerPlan reads the same object). */
  fullArgs(c: CallArrays): LayerForwardNativeArgs {
    const args = { ...c.routeArgs, ...this.fixed, ...c.arrays } as LayerForwardNativeArgs;
    // Absent optional arrays are left out, as layerForward's optional fields.
    for (const k of ['residual', 'residualDtype', 'sharedAct', 'shared'] as const) if (args[k] === undefined) delete args[k];
    return args;
  }

  /** One forward's arrays and the result over them. */
  arrays(inp: FusedInputs, ws: WorkspaceLease | null): CallArrays {
    const { cfg, dtype: dt } = this;
    const T = this.tokens, H = cfg.hidden, N = cfg.totalExperts, I = cfg.intermediate;
    const slots = T * this.route.kmax;
    // Every output of the call, in the order asked for below: one ArrayBuffer at decode.
    const alloc = slabAllocator([['f32', T * N], ...(inp.out ? [] : [[dt, T * H] as const]), ['i32', slots], ['f32', slots], ['i32', T],
      ['f32', T * N], ['i32', N], ['i32', N], ['f32', N]]);
    const logits = alloc('f32', T * N);
    const logitsT: Tensor<'f32'> = { data: logits, shape: [T, N], dtype: 'f32' };
    const out = inp.out ?? alloc(dt, T * H);
    const route = prepareRoute({ ...this.route, logits: logitsT }, alloc);
    const float = (slot: string, n: number) => (ws ? ws.float(slot, dt, n) : floatArray(dt, n));
    const int = (slot: string, n: number) => (ws ? ws.int(slot, n) : new Int32Array(n));
    const stats = statsOutputs(N, alloc);
    const r = route.args;
    const shared = cfg.sharedExpert;
    const arrays: PerCall = {
      x: inp.x.data as Float32Array | Uint16Array,
      out,
      residual: inp.residual?.data as Float32Array | Uint16Array | undefined,
      residualDtype: inp.residual?.dtype as FloatDType | undefined,
      logits,
      scores: r.scores!,
      ids: r.ids,
      weights: r.weights,
      counts: r.counts,
      rows: float('rows', slots * H),
      act: float('act', slots * I),
      y: float('y', slots * H),
      slotToRow: int('slotToRow', slots),
      rowToToken: int('rowToToken', slots),
      offsets: int('offsets', cfg.experts + 1),
      statCounts: stats.counts,
      statTop1Counts: stats.top1Counts,
      statProbSum: stats.probSum,
      statTotals: new Uint8Array(stats.totals.buffer),
      sharedAct: shared ? float('sharedAct', T * shared.intermediate) : undefined,
      shared: shared ? float('shared', T * H) : undefined,
    };
    const result = (): ForwardResult =>
      ({ out: { data: out, shape: [T, H], dtype: dt } as Tensor, logits: logitsT, routing: route.result(), stats: statsResult(stats, N, true) });
    return { arrays, routeArgs: r, result };
  }
}

/** The per-call arrays of one forward, under layerForward's field names (undefined: absent). */
type PerCall = Pick<LayerForwardNativeArgs, 'x' | 'out' | 'logits' | 'scores' | 'ids' | 'weights' | 'counts' | 'rows' | 'act' | 'y' |
  'slotToRow' | 'rowToToken' | 'offsets' | 'statCounts' | 'statTop1Counts' | 'statProbSum' | 'statTotals'> &
  { [K in 'residual' | 'residualDtype' | 'sharedAct' | 'shared']: LayerForwardNativeArgs[K] | undefined };

export interface CallArrays {
  arrays: PerCall;
  routeArgs: RouteNativeArgs;
  result: () => ForwardResult;
}

/** One forward's whole layerForward args object, without a plan (tests, tools). */
export function fusedCall(cfg: Resolved, w: Readonly<Record<string, Tensor | undefined>>, inp: FusedInputs, ws: WorkspaceLease | null):
  { args: LayerForwardNativeArgs; result: () => ForwardResult } {
  const plan = new FusedPlan(null, cfg, w, inp.x.shape[0]!, inp.x.dtype as FloatDType);
  const c = plan.arrays(inp, ws);
  return { args: plan.fullArgs(c), result: c.result };
}
