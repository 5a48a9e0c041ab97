// MoELayer.forward in one native call on the cpu backend (native/common/layer_forward.h): the same op calls
// as the op-by-op forward of lib/layer.ts, in its order, each on the arguments lib/ops would build, so the
// result is bitwise the same. Why: at decode, 7 op calls from cold caches cost ~0.65 ms outside the expert
// GEMMs (Qwen3-30B-A3B T = 1, 2 threads): 11% of the f32 layer, 18% of the bf16 one.
//
// Covered: the one-layer router (with its bias), every scored route method with its options (selection
// bias, groups, thresholds, prune, MoE++'s zero gate), zero / copy / constant and shared experts, a
// residual. Not covered (the op-by-op forward runs them): capacity, external routing, the two-layer router,
// the gating residual, and any op that 'auto' would not give to the cpu backend.

import type { LayerForwardNativeArgs } from '../bindings';
import { selectBackend } from './backends';
import { allocOutput } from './backends/alloc';
import type { Backend, BackendChoice } from './backends/backend';
import { nativeCpuAddon } from './backends/cpu';
import { prepareRoute } from './backends/route_native';
import type { FloatDType } from './dtype';
import type { ForwardResult } from './layer';
import { routeCall, specialIds } from './layer_config';
import type { Resolved } from './layer_config';
import type { WorkspaceLease } from './layer_workspace';
import type { NativeAddon } from './native';
import { validateRoute } from './ops/route';
import type { RouterStats } from './ops/router_stats.types';
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

/** The native args of one forward and the result over them. Outputs come from allocOutput (the conformance
 *  suite poisons them); intermediates from the workspace when the forward holds it. */
export function fusedCall(cfg: Resolved, w: Readonly<Record<string, Tensor | undefined>>, inp: FusedInputs, ws: WorkspaceLease | null):
  { args: LayerForwardNativeArgs; result: () => ForwardResult } {
  const x = inp.x;
  const T = x.shape[0]!, H = cfg.hidden, N = cfg.totalExperts, E = cfg.experts, I = cfg.intermediate;
  const dt = x.dtype as FloatDType;
  const logits = allocOutput('f32', T * N);
  const logitsT: Tensor<'f32'> = { data: logits, shape: [T, N], dtype: 'f32' };
  const route = prepareRoute(validateRoute(routeCall(cfg, logitsT, w.selectionBias)));
  const K = route.args.kmax;
  const slots = T * K;
  const float = (slot: string, n: number) => (ws ? ws.float(slot, dt, n) : floatArray(dt, n));
  const int = (slot: string, n: number) => (ws ? ws.int(slot, n) : new Int32Array(n));
  const special = specialIds(cfg);
  const out = inp.out ?? allocOutput(dt, T * H);
  const stats = { counts: allocOutput('i32', N), top1Counts: allocOutput('i32', N), probSum: allocOutput('f32', N), totals: new Float64Array(4) };
  const w1 = w.w1!, w2 = w.w2!;
  const args: LayerForwardNativeArgs = {
    ...route.args,
    logits,
    scores: route.args.scores!,
    x: x.data as Float32Array | Uint16Array,
    xDtype: dt,
    hidden: H,
    router: w.router!.data as Float32Array,
    routerDtype: 'f32',
    ffnExperts: E,
    intermediate: I,
    inputScale: cfg.inputScale,
    activation: cfg.activation,
    gluLayout: cfg.gluLayout,
    w1: w1.data as Float32Array | Uint16Array,
    w1Dtype: w1.dtype as FloatDType,
    w2: w2.data as Float32Array | Uint16Array,
    w2Dtype: w2.dtype as FloatDType,
    rows: float('rows', slots * H),
    act: float('act', slots * I),
    y: float('y', slots * H),
    slotToRow: int('slotToRow', slots),
    rowToToken: int('rowToToken', slots),
    offsets: int('offsets', E + 1),
    zeroExperts: Int32Array.from(special.zero),
    copyExperts: Int32Array.from(special.copy),
    constantIds: Int32Array.from(special.constant),
    out,
    normalizeScores: cfg.router.method === 'sigmoid_topk',
    statCounts: stats.counts,
    statTop1Counts: stats.top1Counts,
    statProbSum: stats.probSum,
    statTotals: new Uint8Array(stats.totals.buffer),
  };
  if (w.routerBias) args.routerBias = w.routerBias.data as Float32Array;
  if (w.b1) args.b1 = w.b1.data as Float32Array;
  if (w.b2) args.b2 = w.b2.data as Float32Array;
  if (cfg.sharedExpert) {
    const sI = cfg.sharedExpert.intermediate;
    Object.assign(args, {
      sharedIntermediate: sI,
      sharedW1: w.sharedW1!.data, sharedW1Dtype: w.sharedW1!.dtype,
      sharedW2: w.sharedW2!.data, sharedW2Dtype: w.sharedW2!.dtype,
      sharedAct: float('sharedAct', T * sI), shared: float('shared', T * H),
    });
  }
  if (special.constant.length) Object.assign(args, { wc: w.constantWc!.data, v: w.constantV!.data });
  if (inp.residual) Object.assign(args, { residual: inp.residual.data, residualDtype: inp.residual.dtype });

  const result = (): ForwardResult => {
    const e = [N];
    const s: RouterStats = {
      counts: { data: stats.counts, shape: e, dtype: 'i32' },
      top1Counts: { data: stats.top1Counts, shape: e, dtype: 'i32' },
      probSum: { data: stats.probSum, shape: e, dtype: 'f32' },
      tokens: stats.totals[0]!,
      selections: stats.totals[1]!,
      entropySum: stats.totals[3]!,
      zSquareSum: stats.totals[2]!,
    };
    return { out: { data: out, shape: [T, H], dtype: dt } as Tensor, logits: logitsT, routing: route.result(), stats: s };
  };
  return { args, result };
}
