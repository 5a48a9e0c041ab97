// The machine, and its ceilings measured in this very run: the f32 FMA peak (native/cpu/ceilings.cpp: many
// independent FMA chains per thread on the SIMD path in effect) and the read bandwidth of a buffer several
// times the last-level cache, for each thread count the benchmarks use. A shared machine that is busy now
// lowers these and the kernels' rates together, so "% of peak" stays honest. They are measured at the start
// again before each shape and at the end of a run; percentages use the best of these measurements (the
// most the machine delivered during the run), so no kernel is flattered by a slow moment of the machine.

import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { capabilities } from '../lib';
import { nativeLoadInfo } from '../lib/native';
import type { NativeAddon } from '../lib/native';

export interface Ceiling {
  threads: number;
  /** f32 FMA peak, GFLOP/s over wall time (null without the native addon). */
  fmaGflops: number | null;
  /** The same loops over the threads' CPU time: the rate when the cores are ours. */
  fmaCpuGflops: number | null;
  /** Read bandwidth, GB/s (1e9 B/s). */
  bwGBs: number;
  /** SIMD path of the FMA loop. */
  path: string;
  /** 'native' or 'js' (no addon: a Float32Array sum in JS, which is slower than the memory). */
  how: 'native' | 'js';
}

export interface CeilingSet {
  start: Ceiling[];
  /** Measured again before each shape: a shared machine's bandwidth swings by 2-3x from minute to minute. */
  between?: Ceiling[][];
  end?: Ceiling[];
}

export interface MachineInfo {
  cpu: string;
  /** Vendor, family, model and the SIMD extensions that pick a kernel path (Linux /proc/cpuinfo), else null:
   *  the model name alone ("AMD EPYC" in these VMs) does not tell a Zen 3 from a Zen 5. */
  cpuId: string | null;
  logicalCpus: number;
  l3Bytes: number | null;
  memBytes: number;
  os: string;
  node: string;
  commit: string;
  simd: string | null;
  cuda: string;
  /** The native binary in use and how it was found. */
  binary: string;
  loadStart: number[];
  loadEnd?: number[];
  date: string;
}

function gitCommit(root: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return dirty ? `${head} (+ uncommitted changes)` : head;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** The last-level cache size from sysfs (Linux), else null. */
export function l3Bytes(): number | null {
  try {
    const dir = '/sys/devices/system/cpu/cpu0/cache';
    let best = 0;
    for (const idx of fs.readdirSync(dir)) {
      if (!idx.startsWith('index')) continue;
      const s = fs.readFileSync(path.join(dir, idx, 'size'), 'utf8').trim();
      const m = /^(\d+)([KMG]?)$/.exec(s);
      if (!m) continue;
      const v = Number(m[1]) * ({ '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as Record<string, number>)[m[2]!]!;
      best = Math.max(best, v);
    }
    return best || null;
  } catch {
    return null;
  }
}

/** "AuthenticAMD family 25 model 1; avx2 fma f16c" from /proc/cpuinfo's first processor, else null. */
export function cpuId(text?: string): string | null {
  try {
    const info = text ?? fs.readFileSync('/proc/cpuinfo', 'utf8');
    const first = info.split(/\n\s*\n/)[0] ?? '';
    const field = (k: string) => new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm').exec(first)?.[1]?.trim();
    const vendor = field('vendor_id'), family = field('cpu family'), model = field('model');
    if (!vendor || family === undefined || model === undefined) return null;
    const flags = new Set((field('flags') ?? '').split(/\s+/));
    const isa = ['avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_bf16'].filter((f) => flags.has(f));
    return `${vendor} family ${family} model ${model}; ${isa.length ? isa.join(' ') : 'no AVX2 / AVX-512'}`;
  } catch {
    return null;
  }
}

export function machineInfo(root: string): MachineInfo {
  const caps = capabilities();
  const cuda = !caps.native ? 'no native addon'
    : !caps.cuda.compiled ? 'not compiled in'
      : caps.cuda.devices > 0 ? `${caps.cuda.devices} device(s)` : `unavailable: ${caps.cuda.error ?? 'no device'}`;
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpuId: cpuId(),
    logicalCpus: os.cpus().length,
    l3Bytes: l3Bytes(),
    memBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    commit: gitCommit(root),
    simd: caps.native ? caps.simd : null,
    cuda,
    binary: (() => {
      const i = nativeLoadInfo();
      return i.path ? `${i.path} (${i.source})` : `none: ${i.error ?? 'not loaded'}`;
    })(),
    loadStart: os.loadavg(),
    date: new Date().toISOString(),
  };
}

/** Bytes of the buffer the bandwidth is measured on: 4 x the LLC, at least 1 GiB. */
export function streamBytes(): number {
  return Math.max(2 ** 30, 4 * (l3Bytes() ?? 0));
}

/** Bytes read to evict the caches before a sample: 1.5 x the LLC (1 GiB when its size is unknown). */
export function flushBytes(): number {
  const l3 = l3Bytes();
  return l3 === null ? 2 ** 30 : Math.max(2 ** 26, Math.ceil(1.5 * l3));
}

function jsBandwidth(bytes: number): number {
  const a = new Float32Array(Math.floor(bytes / 4)).fill(1);
  let best = 0;
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i]!;
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (s < 0) throw new Error('unreachable');
    best = Math.max(best, bytes / dt / 1e9);
  }
  return best;
}

/** Measures the ceilings for each thread count (about `ms` ms of FMA work per count, plus the bandwidth). */
export function measureCeilings(addon: NativeAddon | null, threadCounts: readonly number[], ms: number, bwBytes: number): Ceiling[] {
  return threadCounts.map((threads) => {
    if (addon?.measureFmaPeak && addon.measureBandwidth) {
      const p = addon.measureFmaPeak(threads, ms);
      const bw = addon.measureBandwidth(bwBytes, threads, 5);
      return { threads, fmaGflops: p.gflops, fmaCpuGflops: p.cpuGflops, bwGBs: bw, path: p.path, how: 'native' as const };
    }
    return { threads, fmaGflops: null, fmaCpuGflops: null, bwGBs: jsBandwidth(Math.min(bwBytes, 2 ** 28)), path: 'js', how: 'js' as const };
  });
}

/** The ceiling used for percentages: the best of every measurement of the run for `threads`. */
export function ceilingFor(set: CeilingSet, threads: number): Ceiling | undefined {
  const all = [set.start, ...(set.between ?? []), ...(set.end ? [set.end] : [])]
    .map((cs) => cs.find((c) => c.threads === threads)).filter((c): c is Ceiling => c !== undefined);
  if (!all.length) return undefined;
  const best = (f: (c: Ceiling) => number | null): number | null => {
    const xs = all.map(f).filter((x): x is number => x !== null);
    return xs.length ? Math.max(...xs) : null;
  };
  return { ...all[0]!, fmaGflops: best((c) => c.fmaGflops), fmaCpuGflops: best((c) => c.fmaCpuGflops), bwGBs: best((c) => c.bwGBs)! };
}

/** A cache flush: one read pass over flushBytes() (native, on `threads` threads; JS otherwise). Used before
 *  each sample of the calls that stream weights, when those weights would otherwise stay in the LLC between
 *  samples (decode at small shapes): in a real model the other layers evict them. */
export class Flusher {
  private buf: Float32Array | null = null;
  constructor(private readonly addon: NativeAddon | null, private readonly bytes: number) {}

  flush(threads = 2): void {
    if (!this.buf) this.buf = new Float32Array(Math.floor(this.bytes / 4)).fill(1);
    if (this.addon?.streamRead) {
      this.addon.streamRead(this.buf, Math.max(1, threads));
      return;
    }
    let s = 0;
    for (let i = 0; i < this.buf.length; i += 16) s += this.buf[i]!;
    if (Number.isNaN(s)) throw new Error('unreachable');
  }

  release(): void {
    this.buf = null;
  }
}
