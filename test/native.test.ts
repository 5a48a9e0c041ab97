// The native addon as built by `npm run build:native` (CUDA required): loader, capabilities() shape,
// argument errors, MOE_SIMD, and loading in a worker thread. Runs on machines with or without a GPU.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { capabilities, loadNative, nativeLoadError, packageRoot } from '../lib/native';

const root = path.resolve(__dirname, '..');
const binary = path.join(root, 'build', 'Release', 'moe_kernels.node');
const pkgVersion = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
// /proc/driver/nvidia exists exactly when the NVIDIA kernel driver is loaded.
const hasDriver = fs.existsSync('/proc/driver/nvidia/version');

/** Errors thrown by the addon come from Node's realm, not Jest's, so match on name rather than instanceof. */
function expectNativeArgError(fn: () => unknown, name: 'TypeError' | 'RangeError', arg: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeDefined();
  const err = caught as Error;
  expect(err.name).toBe(name);
  expect(err.constructor.name).toBe(name);
  expect(err.message).toMatch(new RegExp(`^setNumThreads: '${arg}' must be`));
}

/** Runs `script` in a fresh node with the built binary named by MOE_KERNELS_BINARY; returns its JSON. */
function runChild(script: string, env: Record<string, string>): { out: unknown; stderr: string } {
  const r = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, MOE_KERNELS_BINARY: binary, ...env },
    encoding: 'utf8',
    timeout: 30000,
  });
  if (r.status !== 0) throw new Error(`child exited with ${r.status}: ${r.stderr}`);
  return { out: JSON.parse(r.stdout), stderr: r.stderr };
}

const simdScript = `
  const { Worker } = require('worker_threads');
  const a = require(process.env.MOE_KERNELS_BINARY);
  const w = new Worker("const { parentPort } = require('worker_threads');" +
    "parentPort.postMessage(require(process.env.MOE_KERNELS_BINARY).capabilities().simd);", { eval: true });
  w.on('message', (m) => { console.log(JSON.stringify({ main: a.capabilities().simd, worker: m })); w.terminate(); });
  w.on('error', (e) => { console.error(e); process.exit(2); });
`;

describe('native addon', () => {
  test('loads from build/Release through node-gyp-build', () => {
    expect(fs.existsSync(binary)).toBe(true);
    expect(nativeLoadError()).toBeNull();
    expect(loadNative()).not.toBeNull();
    expect(loadNative()).toBe(loadNative()); // cached
  });

  test('capabilities() has exactly the declared shape', () => {
    const c = capabilities();
    if (!c.native) throw new Error(c.error);
    expect(Object.keys(c).sort()).toEqual(['cpu', 'cuda', 'native', 'simd', 'version']);
    expect(Object.keys(c.cpu).sort()).toEqual(['avx2', 'avx512bf16', 'avx512f', 'bf16Dot', 'threads']);
    expect(Object.keys(c.cuda).sort()).toEqual(['compiled', 'devices', 'driverVersion', 'error', 'runtimeVersion']);
    expect(c.version).toBe(pkgVersion);
    expect(['scalar', 'avx2', 'avx512']).toContain(c.simd);
    for (const k of ['avx2', 'avx512f', 'avx512bf16', 'bf16Dot'] as const) expect(typeof c.cpu[k]).toBe('boolean');
    expect(Number.isInteger(c.cpu.threads) && c.cpu.threads >= 1).toBe(true);
    // The chosen path never exceeds what the CPU and OS support.
    if (c.simd === 'avx512') expect(c.cpu.avx512f && c.cpu.avx2).toBe(true);
    if (c.simd === 'avx2') expect(c.cpu.avx2).toBe(true);
    if (c.cpu.avx512bf16) expect(c.cpu.avx512f).toBe(true);
    if (c.cpu.bf16Dot) expect(c.cpu.avx512bf16).toBe(true);
  });

  test('CUDA is compiled in and reports the device state plainly', () => {
    const c = capabilities();
    if (!c.native) throw new Error(c.error);
    expect(c.cuda.compiled).toBe(true); // build:native sets MOE_REQUIRE_CUDA=ON
    expect(c.cuda.runtimeVersion).toBeGreaterThanOrEqual(13000);
    if (!hasDriver) {
      expect(c.cuda.devices).toBe(0);
      expect(c.cuda.driverVersion).toBeNull();
      expect(c.cuda.error).toMatch(/^no usable GPU \(driver missing or older than R580\): cudaErrorInsufficientDriver/);
    } else if (c.cuda.error === null) {
      expect(c.cuda.devices).toBeGreaterThanOrEqual(1);
      expect(c.cuda.driverVersion).toBeGreaterThanOrEqual(13000);
    } else {
      expect(c.cuda.devices).toBe(0);
      expect(c.cuda.error).toMatch(/^no usable GPU/);
    }
  });

  test('setNumThreads / getNumThreads', () => {
    const addon = loadNative()!;
    const initial = addon.getNumThreads();
    try {
      addon.setNumThreads(3);
      expect(addon.getNumThreads()).toBe(3);
      const c = capabilities();
      expect(c.native && c.cpu.threads).toBe(3);
      addon.setNumThreads(0); // back to the default
      expect(addon.getNumThreads()).toBe(initial);
      addon.setNumThreads(1024);
      expect(addon.getNumThreads()).toBe(1024);
    } finally {
      addon.setNumThreads(0);
    }
  });

  test('setNumThreads rejects bad arguments with errors naming n', () => {
    const set = loadNative()!.setNumThreads as (n: unknown) => void;
    for (const v of [undefined, null, '4', true, {}, [4], 4n]) expectNativeArgError(() => set(v), 'TypeError', 'n');
    for (const v of [2.5, -1, 1025, NaN, Infinity, -Infinity]) expectNativeArgError(() => set(v), 'RangeError', 'n');
    expect(() => set(undefined)).toThrow("setNumThreads: 'n' must be an integer, got undefined");
    expect(() => set(2.5)).toThrow("setNumThreads: 'n' must be an integer in [0, 1024], got 2.5");
  });

  test('packageRoot finds the package from lib/ and from dist/lib/', () => {
    expect(packageRoot()).toBe(root);
    expect(packageRoot(path.join(root, 'dist', 'lib'))).toBe(root);
    expect(packageRoot('/')).toBeNull();
  });
});

describe('MOE_KERNELS_BINARY and MOE_SIMD', () => {
  const saved = process.env.MOE_KERNELS_BINARY;
  afterEach(() => {
    if (saved === undefined) delete process.env.MOE_KERNELS_BINARY;
    else process.env.MOE_KERNELS_BINARY = saved;
  });

  /** A fresh copy of lib/native (its cache empty) loaded under the current environment. */
  function freshLoader(): typeof import('../lib/native') {
    let m: typeof import('../lib/native') | undefined;
    jest.isolateModules(() => {
      m = require('../lib/native') as typeof import('../lib/native');
    });
    return m!;
  }

  test('an explicit binary path is loaded', () => {
    process.env.MOE_KERNELS_BINARY = binary;
    const m = freshLoader();
    expect(m.nativeLoadError()).toBeNull();
    expect(m.capabilities().native).toBe(true);
  });

  test('a missing binary does not throw at import; capabilities() says why', () => {
    process.env.MOE_KERNELS_BINARY = path.join(root, 'no-such-dir', 'moe_kernels.node');
    const m = freshLoader();
    expect(m.loadNative()).toBeNull();
    expect(m.nativeLoadError()).toMatch(/^MOE_KERNELS_BINARY=.*no-such-dir/);
    const c = m.capabilities();
    expect(c).toEqual({ native: false, error: m.nativeLoadError() });
  });

  test('a file that is not our addon is refused', () => {
    process.env.MOE_KERNELS_BINARY = path.join(root, 'jest.config.js');
    const m = freshLoader();
    expect(m.loadNative()).toBeNull();
    expect(m.nativeLoadError()).toMatch(/is not a moe-kernels binary/);
  });

  test('MOE_SIMD=scalar forces the scalar path, in the main thread and in a worker', () => {
    const { out } = runChild(simdScript, { MOE_SIMD: 'scalar' });
    expect(out).toEqual({ main: 'scalar', worker: 'scalar' });
  });

  test('MOE_SIMD never raises the path above what the CPU supports', () => {
    // The best path, asked of a child too: this process may itself run under some MOE_SIMD.
    const best = (runChild(simdScript, { MOE_SIMD: 'auto' }).out as { main: string }).main;
    const order = ['scalar', 'avx2', 'avx512'];
    expect(order).toContain(best);
    const expected = order[Math.min(1, order.indexOf(best))];
    expect(runChild(simdScript, { MOE_SIMD: 'avx2' }).out).toEqual({ main: expected, worker: expected });
    expect(runChild(simdScript, { MOE_SIMD: 'avx512' }).out).toEqual({ main: best, worker: best });
  });

  test('an unknown MOE_SIMD value warns on stderr and uses the best path', () => {
    const best = (runChild(simdScript, { MOE_SIMD: 'auto' }).out as { main: string }).main;
    const { out, stderr } = runChild(simdScript, { MOE_SIMD: 'sse9' });
    expect(out).toEqual({ main: best, worker: best });
    expect(stderr).toContain("MOE_SIMD='sse9' is not one of 'scalar', 'avx2', 'avx512', 'auto'");
  });
});
