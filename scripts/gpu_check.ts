// The GPU check (GPU.md): everything worth doing on a GPU, in one command. Run through scripts/gpu-check.sh,
// which finds node and the prepared binary (.gpu/, scripts/gpu-prepare.sh); directly:
//   MOE_KERNELS_BINARY=.gpu/moe_kernels.node node .gpu/dist/scripts/gpu_check.js [options]
// Options: --sanitize (the correctness cases on small sizes under compute-sanitizer memcheck and racecheck),
// --quick (fewer sizes), --small, --no-timing, --no-correctness, --results DIR (default $MOE_RESULTS_DIR or
// ./gpu-results). Exit code: 0 all passed, 1 something failed, 2 no usable GPU (nothing was run).
//
// Order: device, driver and commit first; then every CUDA op against the reference and the CPU backend
// (poisoned outputs); then timings against ceilings measured in the same run, with torch peers when
// python3 + torch are there; a closing table; check.log and results.json in the results directory.

import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { capabilities, loadNative } from '../lib/native';
import { selectBackend } from '../lib/backends';
import type { BackendName, OpId } from '../lib/backends/backend';
import type { CudaNatives } from '../lib/backends/cuda/natives';
import { allCases } from './gpu_check/cases';
import { compare, withPoison } from './gpu_check/compare';
import { CaseResult, Log, Peer, Report, summary } from './gpu_check/report';
import { measureCopyCeiling } from './gpu_check/timing';
import { timeConvert, timeGemm, timePermute, timeRoute, timeUnpermute } from './gpu_check/timing_ops';

interface Options {
  sanitize: boolean;
  quick: boolean;
  small: boolean;
  timing: boolean;
  correctness: boolean;
  results: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { sanitize: false, quick: false, small: false, timing: true, correctness: true, results: process.env.MOE_RESULTS_DIR || path.resolve('gpu-results') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--sanitize') o.sanitize = true;
    else if (a === '--quick') o.quick = true;
    else if (a === '--small') o.small = true;
    else if (a === '--no-timing') o.timing = false;
    else if (a === '--no-correctness') o.correctness = false;
    else if (a === '--results') o.results = path.resolve(argv[++i] ?? '');
    else throw new Error(`gpu_check: unknown option '${a}' (known: --sanitize, --quick, --small, --no-timing, --no-correctness, --results DIR)`);
  }
  return o;
}

function run(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 }).trim();
  } catch {
    return null;
  }
}

function commit(): string {
  if (process.env.MOE_COMMIT) return process.env.MOE_COMMIT;
  const fromGit = run('git', ['rev-parse', 'HEAD']);
  return fromGit ? `${fromGit}${run('git', ['status', '--porcelain', '--untracked-files=no']) ? ' (dirty)' : ''}` : 'unknown';
}

function correctness(log: Log, o: Options, cases: CaseResult[]): void {
  log.print(`== correctness: every CUDA op vs the reference${''} and the CPU backend (outputs poisoned)`);
  const list = allCases({ small: o.small, quick: o.quick });
  const hasCpu = (op: OpId): boolean => {
    try {
      return selectBackend(op, 'cpu') !== null;
    } catch {
      return false;
    }
  };
  for (const c of list) {
    const record = (backend: BackendName, ok: boolean, detail: string): void => {
      cases.push({ op: c.op, name: c.name, backend, ok, detail });
      if (!ok) log.print(`  FAIL ${c.op} [${backend}] ${c.name}: ${detail}`);
    };
    let ref;
    try {
      ref = c.run('reference');
    } catch (e) {
      record('reference', false, `the reference threw: ${(e as Error).message}`);
      continue;
    }
    for (const backend of ['cuda', 'cpu'] as const) {
      if (backend === 'cpu' && !hasCpu(c.op)) continue;
      try {
        const got = withPoison(() => c.run(backend));
        const problems: string[] = [];
        let worst = 0;
        for (const [name, want] of Object.entries(ref)) {
          const g = got[name];
          if (!g) {
            problems.push(`'${name}' missing`);
            continue;
          }
          const r = compare(g, want);
          if (r.problem) problems.push(`'${name}': ${r.problem}`);
          else worst = Math.max(worst, r.err);
        }
        record(backend, problems.length === 0, problems.length ? problems.join('; ') : `max err ${worst.toExponential(2)}`);
      } catch (e) {
        record(backend, false, `threw: ${(e as Error).message}`);
      }
    }
  }
  const failed = cases.filter((c) => !c.ok).length;
  log.print(`  ${cases.length - failed} of ${cases.length} checks passed over ${list.length} cases`);
}

function sanitize(log: Log, o: Options, report: Report): void {
  const tools = ['memcheck', 'racecheck'];
  if (run('compute-sanitizer', ['--version']) === null) {
    report.notes.push('compute-sanitizer not found: sanitizer mode skipped');
    log.print('compute-sanitizer not found on PATH: the sanitizer mode cannot run');
    report.sanitizer.push({ tool: 'all', exitCode: null, log: 'compute-sanitizer not found' });
    return;
  }
  for (const tool of tools) {
    const file = path.join(o.results, `sanitizer-${tool}.log`);
    log.print(`== compute-sanitizer --tool ${tool} (small correctness cases; log ${file})`);
    const r = spawnSync('compute-sanitizer', ['--tool', tool, '--error-exitcode', '97', '--log-file', file,
      process.execPath, __filename, '--small', '--no-timing', '--results', path.join(o.results, `sanitize-${tool}`)],
    { stdio: 'inherit', env: process.env, timeout: 540_000 });
    report.sanitizer.push({ tool, exitCode: r.status, log: file });
    log.print(`  exit ${r.status}${r.status === 97 ? ' (the sanitizer reported errors)' : r.status === 0 ? ' (clean)' : ''}`);
  }
}

function peers(log: Log, report: Report): void {
  const script = process.env.MOE_PEERS_SCRIPT || path.resolve(__dirname, '../../scripts/gpu_peers.py');
  if (!fs.existsSync(script)) {
    report.notes.push(`no peers: ${script} not found`);
    return;
  }
  const shapes = {
    route: [{ label: 'qwen3 E128 k8, T=16384', T: 16384, E: 128, k: 8 }, { label: 'mixtral E8 k2, T=16384', T: 16384, E: 8, k: 2 }],
    permute: [{ label: 'qwen3 T=4096 k8 E128 H2048', T: 4096, k: 8, E: 128, H: 2048 }],
    grouped_gemm: [
      { label: 'qwen3-30b-a3b W1 swiglu, 4096 tok x k8', R: 32768, K: 2048, N: 1536, E: 128 },
      { label: 'mixtral W2, 4096 tok x k2', R: 8192, K: 14336, N: 4096, E: 8 },
      { label: 'dense 8192^3', R: 8192, K: 8192, N: 8192, E: 1 },
    ],
    unpermute: [{ label: 'qwen3 T=4096 k8 H2048 + residual', T: 4096, k: 8, H: 2048 }],
  };
  log.print('== peers: torch (scripts/gpu_peers.py)');
  const r = spawnSync('python3', [script, JSON.stringify(shapes)], { encoding: 'utf8', timeout: 400_000 });
  try {
    const j = JSON.parse((r.stdout || '').trim().split('\n').pop() || '{}') as { error?: string; torch?: string; ceilings?: { d2d_copy_gbps?: number; bf16_matmul_tflops?: number }; peers?: Peer[] };
    if (j.error) throw new Error(j.error);
    report.ceilings.torch = j.torch;
    report.ceilings.bf16MatmulTflops = j.ceilings?.bf16_matmul_tflops;
    report.peers.push(...(j.peers ?? []));
    log.print(`  torch ${j.torch}: bf16 matmul ${j.ceilings?.bf16_matmul_tflops?.toFixed(1)} TFLOP/s, D2D copy ${j.ceilings?.d2d_copy_gbps?.toFixed(0)} GB/s, ${j.peers?.length ?? 0} peers`);
  } catch (e) {
    const why = `no peers (${(e as Error).message}; python3 exit ${r.status}${r.stderr ? `: ${r.stderr.trim().split('\n').pop()}` : ''})`;
    report.notes.push(why);
    log.print(`  ${why}`);
  }
}

function timing(log: Log, o: Options, report: Report, n: CudaNatives): void {
  log.print('== timing (DeviceTensors; median of 50 back-to-back launches; inputs rotated past L2)');
  report.ceilings.d2dCopyGbps = measureCopyCeiling(n);
  log.print(`  ceiling: device-to-device copy ${report.ceilings.d2dCopyGbps.toFixed(0)} GB/s (read + write)`);
  const jobs: (() => void)[] = [];
  const add = (f: () => ReturnType<typeof timeRoute> | ReturnType<typeof timeGemm>) => jobs.push(() => {
    const m = f();
    for (const x of Array.isArray(m) ? m : [m]) {
      report.timings.push(x);
      log.print(`  ${x.op}: ${x.label}${x.variant ? ` [${x.variant}]` : ''}: ${x.msMedian.toFixed(4)} ms${x.gbps ? `, ${x.gbps.toFixed(1)} GB/s` : ''}${x.tflops ? `, ${x.tflops.toFixed(1)} TFLOP/s` : ''}; ${x.validated}`);
    }
  });
  for (const T of o.quick ? [16384] : [128, 16384]) {
    add(() => timeRoute(n, `mixtral E8 k2, T=${T}`, T, 8, 2, {}));
    add(() => timeRoute(n, `qwen3 E128 k8, T=${T}`, T, 128, 8, {}));
    add(() => timeRoute(n, `deepseek-v3 E256 k8 G8/4, T=${T}`, T, 256, 8, { method: 'sigmoid_topk', groups: 8, topkGroups: 4, groupTopN: 2, scale: 2.5 }));
    add(() => timeRoute(n, `xmoe E64 t0.9, T=${T}`, T, 64, 0, { method: 'xmoe_threshold', threshold: 0.9, renormalize: false }));
  }
  add(() => timePermute(n, 'qwen3 T=4096 k8 E128 H2048', 4096, 8, 128, 2048, 1));
  add(() => timePermute(n, 'deepseek-v3 T=4096 k8 E256 H7168 align128', 4096, 8, 256, 7168, 128));
  add(() => timeGemm(n, 'qwen3-30b-a3b W1 swiglu, 4096 tok x k8', 32768, 2048, 1536, 128, 'swiglu'));
  add(() => timeGemm(n, 'qwen3-30b-a3b W2, 4096 tok x k8', 32768, 768, 2048, 128, 'none'));
  add(() => timeGemm(n, 'mixtral W2, 4096 tok x k2', 8192, 14336, 4096, 8, 'none'));
  add(() => timeGemm(n, 'dense 8192^3', 8192, 8192, 8192, 1, 'none'));
  add(() => timeGemm(n, 'qwen3 decode W1 swiglu, 8 tok x k8', 64, 2048, 1536, 128, 'swiglu'));
  add(() => timeGemm(n, 'mixtral decode W1 swiglu, 8 tok x k2', 16, 4096, 28672, 8, 'swiglu'));
  add(() => timeUnpermute(n, 'qwen3 T=4096 k8 H2048 + residual', 4096, 8, 2048));
  add(() => timeUnpermute(n, 'mixtral T=16384 k2 H4096 + residual', 16384, 2, 4096));
  add(() => timeConvert(n, 1 << 28));
  for (const j of jobs) {
    try {
      j();
    } catch (e) {
      report.notes.push(`timing failed: ${(e as Error).message}`);
      log.print(`  FAIL timing: ${(e as Error).message}`);
    }
  }
  peers(log, report);
}

function main(): number {
  const o = parseArgs(process.argv.slice(2));
  const log = new Log(o.results);
  const report: Report = {
    status: 'pass', started: new Date().toISOString(), commit: commit(), device: [], driver: '?', capabilities: null,
    cases: [], ceilings: {}, timings: [], peers: [], sanitizer: [], notes: [],
  };
  log.print(`== moe-kernels GPU check, ${report.started}, node ${process.version}, commit ${report.commit}`);
  const smi = run('nvidia-smi', ['-L']);
  report.device = smi ? smi.split('\n') : [];
  log.print(smi ?? 'nvidia-smi: not found or failed');
  const q = run('nvidia-smi', ['--query-gpu=name,driver_version,memory.total,clocks.max.sm', '--format=csv,noheader']);
  if (q) {
    report.driver = q.split('\n')[0]!.split(',')[1]?.trim() ?? '?';
    log.print(`nvidia-smi: ${q}`);
  }
  const caps = capabilities();
  report.capabilities = caps;
  if (!caps.native || caps.cuda.devices <= 0) {
    const why = caps.native ? caps.cuda.error ?? 'no CUDA device' : `the native addon did not load: ${caps.error}`;
    log.print(`no GPU: ${why}`);
    log.print('Nothing was run. This check needs an NVIDIA GPU (H100 / H200) with a driver that supports CUDA 13.');
    report.status = 'no-gpu';
    log.save(report);
    return 2;
  }
  log.print(`CUDA: runtime ${caps.cuda.runtimeVersion}, driver API ${caps.cuda.driverVersion}, ${caps.cuda.devices} device(s); cpu simd ${caps.simd}`);
  const natives = loadNative() as unknown as CudaNatives;
  if (o.sanitize) {
    sanitize(log, o, report);
    if (report.sanitizer.some((s) => s.exitCode !== 0)) report.status = 'fail';
  } else {
    if (o.correctness) correctness(log, o, report.cases);
    if (o.timing) timing(log, o, report, natives);
    if (report.cases.some((c) => !c.ok) || report.timings.some((t) => !(t.validated === 'ok' || t.validated.startsWith('ok ')))) report.status = 'fail';
    if (report.notes.some((n) => n.startsWith('timing failed'))) report.status = 'fail';
  }
  summary(log, report);
  log.save(report);
  return report.status === 'pass' ? 0 : 1;
}

process.exitCode = main();
