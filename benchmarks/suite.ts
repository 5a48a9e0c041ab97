// One benchmark run: measure the ceilings, then for each shape make the weights once and, for each dtype
// and token count, run every op and the layer on every backend (validating before timing), then measure the
// ceilings again. Weights of one shape at a time: Mixtral's f32 weights alone are 5.6 GB.

import * as os from 'os';
import { availableBackends, capabilities } from '../lib';
import { loadNative, packageRoot } from '../lib/native';
import { CeilingSet, flushBytes, Flusher, machineInfo, measureCeilings, streamBytes } from './ceilings';
import { BenchContext, BenchOptions, runOpCase } from './context';
import { convertCases } from './convert.bench';
import { groupedGemmCases } from './grouped_gemm.bench';
import { benchLayer, LayerEnv } from './layer.bench';
import { loadOrt } from './peers/onnxruntime';
import { measurePaired, PairedResult } from './paired';
import { permuteCase } from './permute.bench';
import { Progress } from './progress';
import type { BenchRun } from './report';
import { routeCase } from './route.bench';
import { routerStatsCase } from './router_stats.bench';
import { configOf, dimsOf, makeWeights, shapeByKey, toDtype } from './shapes';
import { evaluateTargets } from './targets';
import type { TargetMachine } from './targets';
import { nowMs, QUICK_PLAN, FULL_PLAN } from './timing';
import { unpermuteCase } from './unpermute.bench';
import { opInputs } from './workload';
import type { MoELayerConfig, MoELayerWeights, Tensor } from '../lib';

export const OP_NAMES = ['route', 'permute', 'grouped_gemm', 'unpermute', 'router_stats', 'convert'] as const;

/** Steps of the progress bar: one per op case group and per layer. */
function countSteps(o: BenchOptions): number {
  let n = 0;
  for (const _ of o.shapes) {
    if (o.ops.includes('convert')) n++;
    for (const dtype of o.dtypes) {
      for (const _T of o.tokens) {
        for (const op of o.ops) if (op !== 'convert' && op !== 'layer' && (dtype === 'f32' || (op !== 'route' && op !== 'router_stats'))) n++;
        if (o.ops.includes('layer')) n++;
      }
    }
  }
  return n;
}

export async function runSuite(o: BenchOptions): Promise<BenchRun> {
  const progress = new Progress(countSteps(o), o.progress);
  // The bar's redraw timer must stop however the run ends, or the process would not exit after an error.
  try {
    return await runWith(o, progress);
  } finally {
    progress.end();
  }
}

async function runWith(o: BenchOptions, progress: Progress): Promise<BenchRun> {
  const t0 = nowMs();
  const addon = loadNative();
  const machine = machineInfo(packageRoot() ?? process.cwd());
  progress.log(`moe-kernels bench: ${machine.cpu}, ${machine.logicalCpus} CPUs, commit ${machine.commit}; backends ${o.backends.join(', ')}`);
  progress.log('measuring the machine: f32 FMA peak and read bandwidth...');
  const ceilings: CeilingSet = { start: measureCeilings(addon, o.threads, o.quick ? 200 : 600, streamBytes()) };
  for (const c of ceilings.start) progress.log(`  ${c.threads} thread(s): FMA peak ${c.fmaGflops?.toFixed(1) ?? '?'} GFLOP/s (${c.path}), bandwidth ${c.bwGBs.toFixed(2)} GB/s`);
  const flusher = new Flusher(addon, flushBytes());
  const ctx = new BenchContext(addon, o, o.quick ? QUICK_PLAN : FULL_PLAN, ceilings, flusher, progress);
  if (o.backends.includes('cuda')) {
    ctx.skip('GPU ceilings (device copy bandwidth, bf16 GEMM rate) and the torch / cuBLAS peers: scripts/gpu-check.sh measures them ' +
      '(docs/gpu-check.md); the cuda rows here go through host arrays, so they include the copies to and from the device');
  }
  const layerOps = o.ops.filter((x) => x !== 'layer' && x !== 'convert');
  const maxThreads = Math.max(...o.threads);
  let paired: PairedResult[] = [];

  for (const [i, key] of o.shapes.entries()) {
    const shape = shapeByKey(key);
    if (i > 0) (ceilings.between ??= []).push(measureCeilings(addon, o.threads, 300, streamBytes()));
    const cfg32 = configOf(shape, 'f32');
    const d = dimsOf(cfg32);
    const tw = nowMs();
    let wf32 = makeWeights(cfg32, 1);
    progress.log(`${key}: H=${d.H} I=${d.I} E=${d.E} k=${d.k}: weights made in ${((nowMs() - tw) / 1000).toFixed(1)} s`);
    if (o.ops.includes('convert')) {
      ctx.setThreads(maxThreads);
      for (const c of convertCases(wf32.w1 as Tensor<'f32'>, key)) runOpCase(ctx, c);
      progress.step(`${key} convert`);
    }
    // bf16 first: its weights are converted from the f32 ones and dropped before the f32 runs (and the
    // onnxruntime peer's interleaved copy), which keeps the peak memory at f32 + one half-size copy.
    const dtypes = [...o.dtypes].sort((a, b) => (a === 'f32' ? 1 : 0) - (b === 'f32' ? 1 : 0));
    for (const dtype of dtypes) {
      const cfg = configOf(shape, dtype);
      let w = toDtype(wf32, dtype);
      // Weights under 4 x the LLC could partly survive in it between samples: flush before each one.
      const env: LayerEnv = { shape, cfg, d, dtype, w, flushBelow: 4 * (machine.l3Bytes ?? 2 ** 28) };
      for (const T of o.tokens) {
        if (layerOps.length) {
          const sets = T <= 32 ? 4 : 2;
          const inp = opInputs(cfg, w, dtype, T, sets);
          for (const op of layerOps) {
            if (dtype !== 'f32' && (op === 'route' || op === 'router_stats')) continue;
            const cases = op === 'route' ? [routeCase(inp, key)] : op === 'permute' ? [permuteCase(inp, key)]
              : op === 'grouped_gemm' ? groupedGemmCases(inp, key, env.flushBelow) : op === 'unpermute' ? [unpermuteCase(inp, key)] : [routerStatsCase(inp, key)];
            for (const c of cases) runOpCase(ctx, c as Parameters<typeof runOpCase>[1]);
            progress.step(`${key} ${op} T=${T} ${dtype}`);
          }
        }
        if (o.ops.includes('layer')) {
          await benchLayer(ctx, env, T);
          progress.step(`${key} layer T=${T} ${dtype}`);
        }
      }
      w = undefined as never;
      env.w = undefined as never;
    }
    if (key === TARGET_SHAPE && addon && ctx.has('cpu') && ctx.whyNot('cpu', 'grouped_gemm') === null) {
      paired = pairedTargets(o, addon, flusher, cfg32, wf32, progress);
    }
    wf32 = undefined as never;
    (globalThis as { gc?: () => void }).gc?.();
  }
  flusher.release();
  progress.log('measuring the machine again...');
  ceilings.end = measureCeilings(addon, o.threads, o.quick ? 200 : 600, streamBytes());
  progress.end();
  machine.loadEnd = os.loadavg();
  const ort = loadOrt();
  return {
    machine, ceilings, options: o, results: ctx.results, skipped: ctx.skipped,
    targets: evaluateTargets(ctx.results, ceilings, paired, targetMachine()),
    paired,
    onnxruntime: ort.version ? `${ort.version} (com.microsoft MoE, CPU EP)` : null,
    durationS: (nowMs() - t0) / 1000,
  };
}

/** What the targets need to know of this CPU (without the addon: judged as if it had everything). */
function targetMachine(): TargetMachine {
  const caps = capabilities();
  return { avx512bf16: caps.native ? caps.cpu.avx512bf16 : true };
}

/** The shape of issue 3's targets. */
const TARGET_SHAPE = 'qwen3';

/** Issue 3's targets as side-by-side pairs (./paired) on the target shape's weights: the layer at the run's
 *  T = 1 / 32, the expert GEMMs at T = 512, on 2 threads when the run has them (else its most). */
function pairedTargets(o: BenchOptions, addon: NonNullable<ReturnType<typeof loadNative>>, flusher: Flusher,
  cfg32: MoELayerConfig, w32: MoELayerWeights, progress: Progress): PairedResult[] {
  const threads = o.threads.includes(2) ? 2 : Math.max(...o.threads);
  const bf16 = o.dtypes.includes('bf16');
  const layerTokens = o.ops.includes('layer') && o.dtypes.includes('f32') ? o.tokens : [];
  const gemms = o.ops.includes('grouped_gemm') && o.dtypes.includes('f32') && o.tokens.includes(512);
  if (!layerTokens.some((t) => t === 1 || t === 32) && !gemms) return [];
  const cfg16 = bf16 ? configOf(shapeByKey(TARGET_SHAPE), 'bf16') : undefined;
  const w16 = bf16 ? toDtype(w32, 'bf16') : undefined;
  return measurePaired({ addon, flusher, threads, cfg32, w32, cfg16, w16, layerTokens, gemms, log: (m) => progress.log(m) });
}

/** Backends that can run here: the reference always; cpu / cuda when registered; onnxruntime when it loads. */
export function availableBenchBackends(): { available: string[]; why: Record<string, string> } {
  const caps = capabilities();
  const why: Record<string, string> = {};
  const available: string[] = availableBackends();
  if (!available.includes('cpu')) why.cpu = caps.native ? 'not registered' : caps.error;
  if (!available.includes('cuda')) why.cuda = caps.native ? caps.cuda.error ?? 'no CUDA device' : 'no native addon';
  const ort = loadOrt();
  if (ort.ort) available.push('onnxruntime');
  else why.onnxruntime = ort.why ?? 'not loaded';
  return { available, why };
}
