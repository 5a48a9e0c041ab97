// The loader of the native addon (build/Release/moe_kernels.node or prebuilds/<platform>-<arch>/*.node).
// Loading never throws: a missing or broken binary leaves the reference backend working, and the reason is
// kept for capabilities() and for the error a native backend raises when asked for explicitly.

import * as fs from 'fs';
import * as path from 'path';
import type { Capabilities, NativeAddon } from '../bindings';

export type { Capabilities, CpuCapabilities, CudaCapabilities, NativeAddon } from '../bindings';

/** What capabilities() says: the addon's answer, or why there is no addon. */
export type NativeCapabilities = ({ native: true } & Capabilities) | { native: false; error: string };

const PACKAGE_NAME = 'moe-kernels';

let loaded: { addon: NativeAddon | null; error: string | null } | undefined;

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

function platformTag(): string {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  const libc = header?.glibcVersionRuntime ? `glibc ${header.glibcVersionRuntime}` : 'no glibc (musl or not Linux)';
  return `${process.platform}-${process.arch}, ${libc}, node ${process.versions.node}, Node-API ${process.versions.napi}`;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A module that does not export our functions is somebody else's binary (or a stale one): refuse it. */
function checkShape(m: unknown, from: string): NativeAddon {
  const a = m as Partial<Record<keyof NativeAddon, unknown>> | null;
  if (!a || typeof a.capabilities !== 'function' || typeof a.setNumThreads !== 'function' ||
      typeof a.getNumThreads !== 'function') {
    throw new Error(`${from} is not a moe-kernels binary (it does not export capabilities/setNumThreads/getNumThreads)`);
  }
  return a as NativeAddon;
}

function tryLoad(): NativeAddon {
  // 1. An explicit path: the GPU check runs from a folder with no node_modules and no package.json.
  const explicit = process.env.MOE_KERNELS_BINARY;
  if (explicit) {
    const file = path.resolve(explicit);
    try {
      return checkShape(require(file), file);
    } catch (e) {
      // No fallback: whoever names a binary wants that one, and a silent substitute would hide the problem.
      throw new Error(`MOE_KERNELS_BINARY=${explicit}: ${message(e)}`);
    }
  }
  // 2. node-gyp-build: build/Release first (a local build), then prebuilds/<platform>-<arch>/.
  const root = packageRoot();
  if (root === null) throw new Error(`cannot find the ${PACKAGE_NAME} package root above ${__dirname}`);
  try {
    // Required here, not at the top: the explicit path above must work without node_modules.
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    return checkShape(nodeGypBuild(root), root);
  } catch (e) {
    throw new Error(
      `no usable native binary for ${platformTag()} in ${root} (${message(e)}). ` +
        `Build one with 'npm run build-from-source' (needs cmake, a C++17 compiler and, for CUDA, nvcc).`,
    );
  }
}

/** The native addon, loaded on the first call and cached (also when loading failed). Never throws. */
export function loadNative(): NativeAddon | null {
  if (loaded === undefined) {
    try {
      loaded = { addon: tryLoad(), error: null };
    } catch (e) {
      loaded = { addon: null, error: message(e) };
    }
  }
  return loaded.addon;
}

/** Why the addon did not load, or null when it loaded (or was not tried yet: this call tries). */
export function nativeLoadError(): string | null {
  loadNative();
  return loaded!.error;
}

/**
 * What this machine can run: the addon's capabilities (SIMD path, CPU features, threads, CUDA devices and
 * why CUDA is unusable), or `{native: false, error}` when the addon is not loaded. The first call
 * initialises CUDA (with a GPU: a context and one tiny kernel); the answer is then cached.
 */
export function capabilities(): NativeCapabilities {
  const addon = loadNative();
  if (addon === null) return { native: false, error: loaded!.error ?? 'native addon not loaded' };
  return { native: true, ...addon.capabilities() };
}
