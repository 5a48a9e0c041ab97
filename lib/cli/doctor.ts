// `npx moe-kernels doctor`: what this machine and this install can run, and why. Everything a bug report
// needs: platform, the binary in use and how it was found, CPU features and the SIMD path, threads, CUDA
// (compiled in? runtime, driver, devices, the error), which backend 'auto' picks for each op and why the others
// were passed over, the environment switches in effect, and a small layer run with 'auto' against the
// reference.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { availableBackends, capabilities, MoELayer, preset, tensor, Rng } from '../index';
import { selectBackend } from '../backends';
import type { BackendName, OpId } from '../backends';
import { OP_IDS } from '../backends/backend';
import { nativeLoadInfo, packageRoot, platformTag } from '../native';
import type { NativeLoadInfo } from '../native';

/** The environment switches doctor reports (run time and build time). */
export const ENV_SWITCHES = ['MOE_KERNELS_BINARY', 'PREBUILDS_ONLY', 'MOE_KERNELS_PROBE', 'MOE_SIMD',
  'CUDA_VISIBLE_DEVICES', 'MOE_CUDA_ARCHS', 'MOE_REQUIRE_CUDA', 'LIBC'] as const;

/** Norm-wise relative error a native layer may show against the reference (SPEC §12: f32 kernels 1e-5; a
 *  whole layer chains the router GEMM, routing and two GEMMs, hence 1e-4). */
export const CHECK_TOLERANCE = 1e-4;

export interface LayerCheck {
  /** What ran: a small Mixtral-style f32 layer with backend 'auto', against the same layer on the reference. */
  name: string;
  ok: boolean;
  /** ‖out − ref‖ / ‖ref‖, or null when the run threw. */
  relErr: number | null;
  ms: number | null;
  error: string | null;
}

export interface OpChoice {
  /** The backend 'auto' runs this op on. */
  auto: BackendName;
  /** Usable backends ahead of it in the order (cuda, cpu) that do not implement the op, and why. */
  passedOver: Partial<Record<BackendName, string>>;
}

export interface DoctorReport {
  package: { name: string; version: string; root: string | null };
  platform: { os: string; arch: string; summary: string; cpuModel: string; logicalCpus: number };
  binary: NativeLoadInfo;
  cpu: { simd: string; avx2: boolean; avx512f: boolean; avx512bf16: boolean; bf16Dot: boolean; threads: number } | null;
  cuda: { compiled: boolean; runtime: string | null; driver: string | null; devices: number; error: string | null } | null;
  backends: {
    available: BackendName[];
    /** Whether each backend can run ops here, and if not, why. */
    reasons: Record<BackendName, string>;
    /** 'auto' chooses per op: CUDA, then CPU, then the reference, among usable backends implementing it. */
    ops: Record<OpId, OpChoice>;
  };
  env: Record<string, string>;
  checks: LayerCheck[];
}

/** 13000 -> '13.0', 12080 -> '12.8'. */
function cudaVersion(v: number | null): string | null {
  return v === null ? null : `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A small layer with 'auto' (the ops on whichever backend implements them) against the reference. */
function checkLayer(): LayerCheck {
  const name = "layer (mixtral preset, hidden 64, intermediate 48, 5 tokens, f32), backend 'auto'";
  try {
    const cfg = preset('mixtral', { hidden: 64, intermediate: 48 });
    const x = tensor(new Rng(7).f32(5 * 64, -1, 1), [5, 64]);
    const ref = MoELayer.random(cfg, 3, { backend: 'reference' }).forward({ x }).out.data as Float32Array;
    const layer = MoELayer.random(cfg, 3, { backend: 'auto' });
    const t0 = process.hrtime.bigint();
    const out = layer.forward({ x }).out.data as Float32Array;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    let num = 0;
    let den = 0;
    for (let i = 0; i < ref.length; i++) {
      num += (out[i]! - ref[i]!) ** 2;
      den += ref[i]! ** 2;
    }
    const relErr = out.length === ref.length ? Math.sqrt(num / Math.max(den, 1e-30)) : Infinity;
    const ok = relErr <= CHECK_TOLERANCE; // false for NaN too
    return { name, ok, relErr, ms, error: ok ? null : `output differs from the reference (relative error ${relErr.toExponential(2)} > ${CHECK_TOLERANCE})` };
  } catch (e) {
    return { name, ok: false, relErr: null, ms: null, error: message(e) };
  }
}

/** Why `name` (usable here) does not run `op`: selectBackend's own explanation, without its framing. */
function whyNot(op: OpId, name: BackendName): string | null {
  try {
    selectBackend(op, name);
    return null;
  } catch (e) {
    const m = message(e);
    return /does not implement '[^']+': (.*); use backend/.exec(m)?.[1] ?? m;
  }
}

/** Why each backend is or is not usable, from the facts the loader and the addon report. */
function reasons(available: BackendName[], caps: ReturnType<typeof capabilities>): Record<BackendName, string> {
  const notLoaded = 'the native addon is not loaded (see binary)';
  const implemented = (b: BackendName): string => {
    const ops = OP_IDS.filter((op) => whyNot(op, b) === null);
    return ops.length === OP_IDS.length ? 'every op' : ops.length ? ops.join(', ') : 'no op yet';
  };
  let cuda: string;
  let cpu: string;
  if (!caps.native) {
    cuda = notLoaded;
    cpu = notLoaded;
  } else {
    cpu = available.includes('cpu')
      ? `usable: ${caps.simd} path, ${caps.cpu.threads} threads; implements ${implemented('cpu')}`
      : 'the addon loaded, but no CPU backend is registered';
    if (available.includes('cuda')) cuda = `usable: ${caps.cuda.devices} device(s); implements ${implemented('cuda')}`;
    else if (!caps.cuda.compiled) cuda = 'this binary was built without CUDA';
    else if (caps.cuda.error !== null) cuda = caps.cuda.error;
    else cuda = `${caps.cuda.devices} device(s) usable, but this version has no CUDA backend yet`;
  }
  return { cuda, cpu, reference: 'always available (pure TypeScript, the oracle)' };
}

/** For each op: the backend 'auto' picks, and why usable backends ahead of it were passed over. */
function opChoices(available: BackendName[]): Record<OpId, OpChoice> {
  const out = {} as Record<OpId, OpChoice>;
  for (const op of OP_IDS) {
    const auto = selectBackend(op, 'auto').name;
    const passedOver: Partial<Record<BackendName, string>> = {};
    const order: BackendName[] = ['cuda', 'cpu', 'reference'];
    for (const b of order.slice(0, order.indexOf(auto)).filter((n) => available.includes(n))) {
      passedOver[b] = whyNot(op, b) ?? 'implements it, yet was not chosen';
    }
    out[op] = { auto, passedOver };
  }
  return out;
}

/** The installed package's version (package.json), or 'unknown'. */
export function packageVersion(root: string | null = packageRoot()): string {
  try {
    if (root) return (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // fall through
  }
  return 'unknown';
}

export function doctorReport(opts: { check?: boolean } = {}): DoctorReport {
  const root = packageRoot();
  const version = packageVersion(root);
  const caps = capabilities(); // loads the addon (probe included) and initialises CUDA
  const available = availableBackends();
  const ops = opChoices(available);
  const env: Record<string, string> = {};
  for (const k of ENV_SWITCHES) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  const cpus = os.cpus();
  const anyNative = OP_IDS.some((op) => ops[op].auto !== 'reference');
  return {
    package: { name: 'moe-kernels', version, root },
    platform: { os: process.platform, arch: process.arch, summary: platformTag(), cpuModel: cpus[0]?.model.trim() ?? 'unknown', logicalCpus: cpus.length },
    binary: nativeLoadInfo(),
    cpu: caps.native ? { simd: caps.simd, ...caps.cpu } : null,
    cuda: caps.native
      ? { compiled: caps.cuda.compiled, runtime: cudaVersion(caps.cuda.runtimeVersion), driver: cudaVersion(caps.cuda.driverVersion), devices: caps.cuda.devices, error: caps.cuda.error }
      : null,
    backends: { available, reasons: reasons(available, caps), ops },
    env,
    // With every op on the reference, the check would compare the reference with itself.
    checks: opts.check === false || !anyNative ? [] : [checkLayer()],
  };
}

const yes = (b: boolean): string => (b ? 'yes' : 'no');

/** The report as aligned text (the JSON form is the report itself). */
export function formatReport(r: DoctorReport): string {
  const rows: [string, string][] = [];
  const add = (k: string, v: string): void => {
    v.split('\n').forEach((line, i) => rows.push([i === 0 ? k : '', line]));
  };
  add('package', `${r.package.name} ${r.package.version} (${r.package.root ?? 'root not found'})`);
  add('platform', `${r.platform.summary}; ${r.platform.logicalCpus} logical CPUs (${r.platform.cpuModel})`);
  const b = r.binary;
  if (b.path) add('binary', `${b.source}: ${b.path}\nprobe: ${b.probe === 'skipped' ? 'skipped (MOE_KERNELS_PROBE=0)' : `${b.probe} (loaded in a child process first)`}`);
  for (const x of b.rejected.filter(() => b.path !== null)) add('refused', `${x.source} ${x.path}: ${x.error}`);
  if (b.error) add('binary', `none loaded\n${b.error}`);
  if (r.cpu) {
    add('cpu', `SIMD path ${r.cpu.simd}${process.env.MOE_SIMD ? ` (MOE_SIMD=${process.env.MOE_SIMD})` : ''}; ` +
      `avx2 ${yes(r.cpu.avx2)}, avx512f ${yes(r.cpu.avx512f)}, avx512bf16 ${yes(r.cpu.avx512bf16)} (bf16 GEMMs with vdpbf16ps: ${yes(r.cpu.bf16Dot)}); ${r.cpu.threads} threads`);
  }
  if (r.cuda) {
    add('cuda', `compiled ${yes(r.cuda.compiled)}${r.cuda.runtime ? ` (runtime ${r.cuda.runtime})` : ''}; ` +
      `driver ${r.cuda.driver ?? 'none'}; devices ${r.cuda.devices}` + (r.cuda.error ? `\n${r.cuda.error}` : ''));
  }
  const names = Object.keys(r.backends.reasons) as BackendName[];
  const nw = Math.max(...names.map((n) => n.length));
  // The CUDA error is printed once, under cuda.
  const reason = (n: BackendName): string =>
    n === 'cuda' && r.cuda?.error && r.backends.reasons.cuda === r.cuda.error ? 'not usable (see cuda)' : r.backends.reasons[n];
  add('backends', names.map((n) => `${n.padEnd(nw)}  ${reason(n)}`).join('\n'));
  const ow = Math.max(...OP_IDS.map((op) => op.length));
  add('auto', OP_IDS.map((op) => {
    const c = r.backends.ops[op];
    const passed = Object.entries(c.passedOver).map(([b, why]) => `${b}: ${why}`);
    return `${op.padEnd(ow)}  ${c.auto}${passed.length ? ` (passed over ${passed.join('; ')})` : ''}`;
  }).join('\n'));
  const env = Object.entries(r.env);
  add('env', env.length ? env.map(([k, v]) => `${k}=${v}`).join('\n') : `none of ${ENV_SWITCHES.join(', ')} is set`);
  if (r.checks.length === 0) add('check', "skipped: 'auto' runs every op on the reference here (the oracle itself)");
  for (const c of r.checks) {
    add('check', `${c.ok ? 'ok' : 'FAILED'}: ${c.name}` +
      (c.relErr !== null ? `\nrelative error ${c.relErr.toExponential(2)} vs the reference` : '') +
      (c.ms !== null ? `, ${c.ms.toFixed(2)} ms` : '') + (c.error && !c.ok ? `\n${c.error}` : ''));
  }
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}
