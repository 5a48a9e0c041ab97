// The loader of the native addon. Loading never throws: a missing or broken binary leaves the reference backend
// working, and the reason is kept for capabilities(), for `npx moe-kernels doctor` and for the error a native
// backend raises when asked for explicitly.
//
// Order: MOE_KERNELS_BINARY alone when set; else the prebuilt binary shipped in the package
// (prebuilds/<platform>-<arch>/*.node), then a local build (build/Release, build/Debug; skipped when
// PREBUILDS_ONLY is set). Prebuilt first, unlike node-gyp-build's loader (we use only its tag matcher): the prebuilt is the
// binary that was tested, with CUDA for every release GPU; a local build only takes over where it fails to load
// (another platform, glibc older than 2.34), so a stray CPU-only `build/` cannot silently hide the GPU build.
// Use MOE_KERNELS_BINARY to run a local build where the prebuilt works.
//
// Each candidate is first probed in a child process (lib/native_probe.ts; MOE_KERNELS_PROBE=0 skips it),
// so a binary that crashes on this machine is refused instead of taking the user's process down.

import * as fs from 'fs';
import * as path from 'path';
import type { Capabilities, NativeAddon } from '../bindings';
import { notOurBinary, probeBinary } from './native_probe';

export type { Capabilities, CpuCapabilities, CudaCapabilities, NativeAddon } from '../bindings';

/** What capabilities() says: the addon's answer, or why there is no addon. */
export type NativeCapabilities = ({ native: true } & Capabilities) | { native: false; error: string };

export type BinarySource = 'MOE_KERNELS_BINARY' | 'prebuilt' | 'local build';

export interface BinaryCandidate {
  path: string;
  source: BinarySource;
}

/** How the addon was found: what doctor prints. */
export interface NativeLoadInfo {
  /** The binary in use, or null when none loaded. */
  path: string | null;
  source: BinarySource | null;
  /** 'cached': an earlier probe of this very file passed; 'probed': it passed now; 'skipped': MOE_KERNELS_PROBE=0. */
  probe: 'cached' | 'probed' | 'skipped' | null;
  /** Candidates tried before (or instead of) the one in use, each with the reason it was refused. */
  rejected: (BinaryCandidate & { error: string })[];
  /** Why no binary loaded (with the build-from-source commands), or null. */
  error: string | null;
}

const PACKAGE_NAME = 'moe-kernels';
/** Oldest glibc the prebuilt binaries load on (static cudart uses the 2.34 pthread/dl symbols). */
export const PREBUILT_MIN_GLIBC = '2.34';

let loaded: { addon: NativeAddon | null; info: NativeLoadInfo } | undefined;

/**
 * The package root: the nearest directory above this file whose package.json is ours. Found by looking,
 * not by a fixed '..', because this file runs both as lib/native.ts (ts-jest) and dist/lib/native.js (tsc).
 */
export function packageRoot(from: string = __dirname): string | null {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    try {
      if ((JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return dir;
    } catch {
      // no package.json here, or not readable: keep looking upward
    }
    if (path.dirname(dir) === dir) return null;
  }
}

/** The running C library: node-gyp-build's and prebuildify's rule (LIBC overrides; Alpine means musl). */
function libcTag(): string {
  return process.env.LIBC || (process.platform === 'linux' && fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc');
}

/** glibc's version from the process report (about 5 ms, so only on the error path), or null. */
export function glibcVersion(): string | null {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ?? null;
}

export function platformTag(): string {
  const glibc = glibcVersion();
  const libc = glibc ? `glibc ${glibc}` : process.platform === 'linux' ? 'musl (no glibc)' : 'no glibc';
  return `${process.platform}-${process.arch}, ${libc}, node ${process.versions.node}, Node-API ${process.versions.napi}`;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function nodeFiles(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((f) => f.endsWith('.node')).sort().map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

interface GypBuildTags { runtime?: string; napi?: boolean; abi?: string; libc?: string; specificity: number }
interface NodeGypBuild {
  parseTags(file: string): GypBuildTags | undefined;
  matchTags(runtime: string, abi: string): (t: GypBuildTags | undefined) => boolean;
  compareTags(runtime: string): (a: GypBuildTags, b: GypBuildTags) => number;
}

/**
 * The prebuilt files that fit this process, best first, by node-gyp-build's own tag rules (runtime, Node-API,
 * libc: the tags prebuildify writes). We use its matcher but not its loader, whose order is local build first.
 * Where node-gyp-build cannot be required (a bare folder with only the .node, as in the GPU check), fall back
 * to the libc tag alone.
 */
function matchingPrebuilds(files: string[]): string[] {
  let gyp: NodeGypBuild | undefined;
  try {
    gyp = require('node-gyp-build') as NodeGypBuild;
  } catch {
    gyp = undefined;
  }
  if (!gyp) {
    const libc = libcTag();
    return files.filter((f) => !['glibc', 'musl'].some((t) => t !== libc && path.basename(f).split('.').includes(t)));
  }
  const g = gyp;
  const match = g.matchTags('node', process.versions.modules);
  // node-gyp-build reads LIBC once, when it is first required; we read it on every call (tests and doctor set it).
  const libc = libcTag();
  return files
    .map((f) => ({ f, tags: g.parseTags(path.basename(f)) }))
    .filter((x) => x.tags !== undefined && match({ ...x.tags, libc: undefined }) && (!x.tags.libc || x.tags.libc === libc))
    .sort((a, b) => g.compareTags('node')(a.tags!, b.tags!))
    .map((x) => x.f);
}

/**
 * The binaries to try, in order: prebuilds/<platform>-<arch>/*.node whose libc tag (a `glibc` or `musl` part of
 * the file name, as prebuildify --tag-libc writes it) fits this process, then build/Release and build/Debug
 * unless PREBUILDS_ONLY is set (to any non-empty value, as node-gyp-build reads it).
 */
export function nativeCandidates(root: string, env: Record<string, string | undefined> = process.env): BinaryCandidate[] {
  const prebuilt = matchingPrebuilds(nodeFiles(path.join(root, 'prebuilds', `${process.platform}-${process.arch}`)));
  const out: BinaryCandidate[] = prebuilt.map((p) => ({ path: p, source: 'prebuilt' }));
  if (!env.PREBUILDS_ONLY) {
    for (const cfg of ['Release', 'Debug']) {
      for (const p of nodeFiles(path.join(root, 'build', cfg))) out.push({ path: p, source: 'local build' });
    }
  }
  return out;
}

/** dlopen's messages start with the file's path, which the report already gives. */
function reason(file: string, e: unknown): string {
  const m = message(e);
  return m.startsWith(`${file}: `) ? m.slice(file.length + 2) : m;
}

/** Probes (unless MOE_KERNELS_PROBE=0), requires and shape-checks one binary; throws with the reason. */
function loadOne(file: string): { addon: NativeAddon; probe: NativeLoadInfo['probe'] } {
  let probe: NativeLoadInfo['probe'] = 'skipped';
  if (process.env.MOE_KERNELS_PROBE !== '0') {
    const r = probeBinary(file);
    if (!r.ok) throw new Error(r.error);
    probe = r.how;
  }
  const a = require(file) as Partial<Record<keyof NativeAddon, unknown>> | null;
  if (!a || typeof a.capabilities !== 'function' || typeof a.setNumThreads !== 'function' ||
      typeof a.getNumThreads !== 'function') {
    throw new Error(notOurBinary(file));
  }
  return { addon: a as NativeAddon, probe };
}

/** The error when nothing loaded: where we looked, why each failed, and how to build a binary here. */
function noBinaryError(root: string, rejected: NativeLoadInfo['rejected']): string {
  const rel = (p: string): string => path.relative(root, p) || p;
  const lines = [`no usable native binary for ${platformTag()} in ${root}:`];
  for (const r of rejected) lines.push(`  ${r.source} ${rel(r.path)}: ${r.error}`);
  if (!rejected.some((r) => r.source === 'prebuilt')) {
    lines.push(`  no prebuilt binary in prebuilds/${process.platform}-${process.arch} for ${libcTag()} (the published ` +
      `package carries one for linux-x64, glibc >= ${PREBUILT_MIN_GLIBC})`);
  }
  const glibc = glibcVersion();
  if (glibc && rejected.some((r) => r.source === 'prebuilt') &&
      Number(glibc.split('.')[1]) < Number(PREBUILT_MIN_GLIBC.split('.')[1])) {
    lines.push(`  the prebuilt binary needs glibc >= ${PREBUILT_MIN_GLIBC}; this system has ${glibc}`);
  }
  if (process.env.PREBUILDS_ONLY) lines.push('  local builds not tried: PREBUILDS_ONLY is set');
  else if (!rejected.some((r) => r.source === 'local build')) lines.push('  no local build in build/Release or build/Debug');
  const cd = `cd '${root}' && npm run build-from-source`;
  lines.push('The reference backend (pure TypeScript) still runs every op. To build the addon on this machine',
    '(CMake >= 3.18, a C++17 compiler, ninja or make; for CUDA also nvcc from CUDA 12.x or 13.x):',
    `  ${cd}             # with CUDA when nvcc is found, else CPU only`,
    `  ${cd} -- --cuda   # fail unless CUDA is compiled in`,
    `  ${cd} -- --cpu    # CPU only (faster to build)`);
  return lines.join('\n');
}

/**
 * One load attempt from the package at `root` (default: ours), uncached: MOE_KERNELS_BINARY alone when set,
 * else nativeCandidates(root) in order. Never throws. loadNative() caches its answer; tests call this.
 */
export function loadNativeFrom(root: string | null = packageRoot()): { addon: NativeAddon | null; info: NativeLoadInfo } {
  const info: NativeLoadInfo = { path: null, source: null, probe: null, rejected: [], error: null };
  // 1. An explicit path: the GPU check runs from a folder with no node_modules and no package.json.
  const explicit = process.env.MOE_KERNELS_BINARY;
  if (explicit) {
    const file = path.resolve(explicit);
    try {
      const { addon, probe } = loadOne(file);
      Object.assign(info, { path: file, source: 'MOE_KERNELS_BINARY', probe });
      return { addon, info };
    } catch (e) {
      // No fallback: whoever names a binary wants that one, and a silent substitute would hide the problem.
      info.rejected.push({ path: file, source: 'MOE_KERNELS_BINARY', error: reason(file, e) });
      info.error = `MOE_KERNELS_BINARY=${explicit}: ${message(e)}`;
      return { addon: null, info };
    }
  }
  if (root === null) {
    info.error = `cannot find the ${PACKAGE_NAME} package root above ${__dirname}`;
    return { addon: null, info };
  }
  // 2. The prebuilt, then a local build: the first that passes its probe and loads.
  for (const c of nativeCandidates(root)) {
    try {
      const { addon, probe } = loadOne(c.path);
      Object.assign(info, { path: c.path, source: c.source, probe });
      return { addon, info };
    } catch (e) {
      info.rejected.push({ ...c, error: reason(c.path, e) });
    }
  }
  info.error = noBinaryError(root, info.rejected);
  return { addon: null, info };
}

/** The native addon, loaded on the first call and cached (also when loading failed). Never throws. */
export function loadNative(): NativeAddon | null {
  if (loaded === undefined) {
    try {
      loaded = loadNativeFrom();
    } catch (e) {
      // loadNativeFrom catches per candidate; this is the last guard of "never throws".
      loaded = { addon: null, info: { path: null, source: null, probe: null, rejected: [], error: message(e) } };
    }
  }
  return loaded.addon;
}

/** Why the addon did not load, or null when it loaded (or was not tried yet: this call tries). */
export function nativeLoadError(): string | null {
  loadNative();
  return loaded!.info.error;
}

/** Which binary is in use, how it was checked, and what was refused on the way. */
export function nativeLoadInfo(): NativeLoadInfo {
  loadNative();
  return structuredClone(loaded!.info);
}

/**
 * What this machine can run: the addon's capabilities (SIMD path, CPU features, threads, CUDA devices and
 * why CUDA is unusable), or `{native: false, error}` when the addon is not loaded. The first call
 * initialises CUDA (with a GPU: a context and one tiny kernel); the answer is then cached.
 */
export function capabilities(): NativeCapabilities {
  const addon = loadNative();
  if (addon === null) return { native: false, error: loaded!.info.error ?? 'native addon not loaded' };
  return { native: true, ...addon.capabilities() };
}
