// MoELayer.forward in one native call on the cpu backend (native/common/layer_forward.h): the same op calls
// as the op-by-op forward of lib/layer.ts, in its order, each on the arguments lib/ops would build, so the
// result is bitwise the same. Why: at decode, 7 op calls from cold caches cost ~0.65 ms outside the expert
// GEMMs (Qwen3-30B-A3B T = 1, 2 threads): 11% of the f32 layer, 18% of the bf16 one.
//
// Covered: the one-layer router (with its bias), every scored route method with its options (selection
// bias, groups, thresholds, prune, MoE++'s zero gate), zero / copy / constant and shared experts, a
// residual. Not covered (the op-by-op forward runs them): capacity, external routing, the two-layer router,
// the gating residual, and any op that 'auto' would not give to the cpu backend.

import type { LayerForwardNativeArgs, RouteNativeArgs } from '../bindings';
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
  if (!addon?.layerForward || !addon.layerForwardAsync) return { why: 'the loaded binary has no layerForward (rebuild it: npm run build:native)' };
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
  private args: LayerForwardNativeArgs | undefined;

  constructor(private readonly cfg: Resolved, w: Readonly<Record<string, Tensor | undefined>>, readonly tokens: number, readonly dtype: FloatDType) {
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

  /** The native args of one forward and the result over them. Outputs come from slabAllocator (one
   *  ArrayBuffer at decode; under a test allocator, such as the conformance suite's poisoning one, allocOutput's),
   *  intermediates from the workspace when the forward holds it. The args object is the plan's own, refilled
   *  each call: building a fresh one of ~60 fields from cold caches took 60 us. The addon reads it during the
   *  call (an async call keeps what it read), so reuse is safe. */
  call(inp: FusedInputs, ws: WorkspaceLease | null): { args: LayerForwardNativeArgs; result: () => ForwardResult } {
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
    const args = (this.args ??= { ...route.args, ...this.fixed } as LayerForwardNativeArgs);
    const r = route.args;
    args.ids = r.ids;
    args.weights = r.weights;
    args.counts = r.counts;
    args.scores = r.scores!;
    args.logits = logits;
    args.x = inp.x.data as Float32Array | Uint16Array;
    args.rows = float('rows', slots * H);
    args.act = float('act', slots * I);
    args.y = float('y', slots * H);
    args.slotToRow = int('slotToRow', slots);
    args.rowToToken = int('rowToToken', slots);
    args.offsets = int('offsets', cfg.experts + 1);
    args.out = out;
    args.statCounts = stats.counts;
    args.statTop1Counts = stats.top1Counts;
    args.statProbSum = stats.probSum;
    args.statTotals = new Uint8Array(stats.totals.buffer);
    if (cfg.sharedExpert) {
      args.sharedAct = float('sharedAct', T * cfg.sharedExpert.intermediate);
      args.shared = float('shared', T * H);
    }
    args.residual = inp.residual?.data as Float32Array | Uint16Array | undefined;
    args.residualDtype = inp.residual?.dtype as FloatDType | undefined;

    const result = (): ForwardResult =>
      ({ out: { data: out, shape: [T, H], dtype: dt } as Tensor, logits: logitsT, routing: route.result(), stats: statsResult(stats, N, true) });
    return { args, result };
  }
}

/** One forward's native args without a kept plan (tests, tools). */
export function fusedCall(cfg: Resolved, w: Readonly<Record<string, Tensor | undefined>>, inp: FusedInputs, ws: WorkspaceLease | null):
  { args: LayerForwardNativeArgs; result: () => ForwardResult } {
  return new FusedPlan(cfg, w, inp.x.shape[0]!, inp.x.dtype as FloatDType).call(inp, ws);
}
