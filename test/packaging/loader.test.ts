// The loader's order (MOE_KERNELS_BINARY alone; prebuilt, then local build; PREBUILDS_ONLY), its libc
// filter, the child-process probe and its cache, and the error when nothing loads. Uses copies of the
// binary that `npm run build:native` made, in fake package roots under the temp dir.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadNativeFrom, nativeCandidates } from '../../lib/native';
import { notOurBinary, probeBinary } from '../../lib/native_probe';

const repo = path.resolve(__dirname, '..', '..');
const built = path.join(repo, 'build', 'Release', 'moe_kernels.node');
const tuple = `${process.platform}-${process.arch}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'moe-kernels-loader-'));
let n = 0;

/** A package root holding the given files (relative path -> content, or 'BINARY' for a copy of the build). */
function fakeRoot(files: Record<string, string>): string {
  const root = path.join(tmp, `root${n++}`);
  fs.mkdirSync(root);
  fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'moe-kernels', version: '0.0.0' }));
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (content === 'BINARY') fs.copyFileSync(built, p);
    else fs.writeFileSync(p, content);
  }
  return root;
}

const saved = { ...process.env };
afterEach(() => {
  for (const k of ['PREBUILDS_ONLY', 'MOE_KERNELS_BINARY', 'MOE_KERNELS_PROBE', 'LIBC']) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('nativeCandidates', () => {
  const prebuilt = `prebuilds/${tuple}/moe-kernels.glibc.node`;
  const files = { [prebuilt]: 'x', [`prebuilds/${tuple}/moe-kernels.musl.node`]: 'x', 'prebuilds/other-arch/moe-kernels.node': 'x',
    'build/Release/moe_kernels.node': 'x', 'build/Debug/moe_kernels.node': 'x', 'build/Release/notes.txt': 'x' };

  test('prebuilt first (this libc only), then build/Release, then build/Debug', () => {
    const root = fakeRoot(files);
    expect(nativeCandidates(root, { LIBC: 'glibc' }).map((c) => [c.source, path.relative(root, c.path)])).toEqual([
      ['prebuilt', prebuilt], ['local build', 'build/Release/moe_kernels.node'], ['local build', 'build/Debug/moe_kernels.node']]);
  });

  test('LIBC=musl picks the musl prebuild; PREBUILDS_ONLY drops local builds', () => {
    const root = fakeRoot(files);
    process.env.LIBC = 'musl';
    expect(nativeCandidates(root, {}).map((c) => path.basename(c.path))).toEqual(['moe-kernels.musl.node', 'moe_kernels.node', 'moe_kernels.node']);
    delete process.env.LIBC;
    expect(nativeCandidates(root, { PREBUILDS_ONLY: '1' }).map((c) => c.source)).toEqual(['prebuilt']);
    expect(nativeCandidates(fakeRoot({}), {})).toEqual([]);
  });
});

describe('loadNativeFrom', () => {
  test('the prebuilt wins over a local build when both load', () => {
    const root = fakeRoot({ [`prebuilds/${tuple}/moe-kernels.glibc.node`]: 'BINARY', 'build/Release/moe_kernels.node': 'BINARY' });
    const { addon, info } = loadNativeFrom(root);
    expect(addon).not.toBeNull();
    expect(info).toMatchObject({ source: 'prebuilt', path: path.join(root, 'prebuilds', tuple, 'moe-kernels.glibc.node'), rejected: [], error: null });
    expect(['probed', 'cached']).toContain(info.probe);
    expect(addon!.capabilities().version).toMatch(/^\d+\.\d+\.\d+/);
  });

  test('a prebuilt that fails to load gives way to the local build, and the reason is kept', () => {
    const root = fakeRoot({ [`prebuilds/${tuple}/moe-kernels.glibc.node`]: 'garbage', 'build/Release/moe_kernels.node': 'BINARY' });
    const { addon, info } = loadNativeFrom(root);
    expect(addon).not.toBeNull();
    expect(info.source).toBe('local build');
    expect(info.rejected).toHaveLength(1);
    expect(info.rejected[0]).toMatchObject({ source: 'prebuilt' });
    expect(info.rejected[0]!.error).toMatch(/^(file too short|invalid ELF header)/);
  });

  test('MOE_KERNELS_PROBE=0 loads without the child process', () => {
    process.env.MOE_KERNELS_PROBE = '0';
    const { addon, info } = loadNativeFrom(fakeRoot({ 'build/Release/moe_kernels.node': 'BINARY' }));
    expect(addon).not.toBeNull();
    expect(info.probe).toBe('skipped');
  });

  test('MOE_KERNELS_BINARY is used alone: no fallback when it fails', () => {
    const root = fakeRoot({ 'build/Release/moe_kernels.node': 'BINARY' });
    process.env.MOE_KERNELS_BINARY = path.join(root, 'missing.node');
    const { addon, info } = loadNativeFrom(root);
    expect(addon).toBeNull();
    expect(info.error).toMatch(/^MOE_KERNELS_BINARY=.*missing\.node: /);
    expect(info.rejected.map((r) => r.source)).toEqual(['MOE_KERNELS_BINARY']);
  });

  test('nothing loadable: the error names platform, arch, libc, Node and the build commands', () => {
    const root = fakeRoot({ [`prebuilds/${tuple}/moe-kernels.glibc.node`]: 'garbage' });
    const { addon, info } = loadNativeFrom(root);
    expect(addon).toBeNull();
    const e = info.error!;
    expect(e).toMatch(new RegExp(`^no usable native binary for ${tuple}, (glibc \\d+\\.\\d+|musl \\(no glibc\\)|no glibc), node ${process.versions.node.replace(/\./g, '\\.')}, Node-API \\d+ in `));
    expect(e).toContain(`prebuilt prebuilds/${tuple}/moe-kernels.glibc.node: `);
    expect(e).toContain('no local build in build/Release or build/Debug');
    expect(e).toContain('The reference backend (pure TypeScript) still runs every op.');
    for (const flag of ['', ' -- --cuda', ' -- --cpu']) expect(e).toContain(`cd '${root}' && npm run build-from-source${flag} `);
    const none = loadNativeFrom(fakeRoot({})).info.error!;
    expect(none).toContain(`no prebuilt binary in prebuilds/${tuple} for glibc (the published package carries one for linux-x64, glibc >= 2.34)`);
  });
});

describe('probeBinary', () => {
  const cacheDir = path.join(tmp, 'probe-cache');

  test('a good binary is probed once, then answered from the cache until the file changes', () => {
    const root = fakeRoot({ 'a.node': 'BINARY' });
    const file = path.join(root, 'a.node');
    expect(probeBinary(file, { cacheDir })).toEqual({ ok: true, how: 'probed' });
    expect(probeBinary(file, { cacheDir })).toEqual({ ok: true, how: 'cached' });
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000)); // a rebuilt binary: new mtime
    expect(probeBinary(file, { cacheDir })).toEqual({ ok: true, how: 'probed' });
  });

  test('a binary that kills the process is refused, and the failure is not cached', () => {
    const root = fakeRoot({ 'crash.js': "process.kill(process.pid, 'SIGSEGV');" });
    const file = path.join(root, 'crash.js');
    const r = probeBinary(file, { cacheDir });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(/crashed a child process \(SIGSEGV\).*driver/);
    expect(probeBinary(file, { cacheDir }).ok).toBe(false);
  });

  test('a module that is not ours, one that throws, and one that hangs', () => {
    const root = fakeRoot({ 'other.js': 'module.exports = { hello: 1 };', 'throws.js': "throw new Error('boom');", 'capsThrow.js':
        "module.exports = { capabilities() { throw new Error('no caps'); }, setNumThreads() {}, getNumThreads() { return 1; } };" });
    const at = (f: string): string => path.join(root, f);
    expect(probeBinary(at('other.js'), { cacheDir })).toEqual({ ok: false, error: notOurBinary(at('other.js')) });
    expect(probeBinary(at('throws.js'), { cacheDir })).toMatchObject({ ok: false, error: expect.stringContaining('boom') });
    expect(probeBinary(at('capsThrow.js'), { cacheDir })).toMatchObject({ ok: false, error: expect.stringContaining('capabilities() threw: no caps') });
    expect(probeBinary(at('missing.node'), { cacheDir })).toMatchObject({ ok: false, error: expect.stringContaining('ENOENT') });
    // A module whose load never returns (a driver stuck in init): the probe waits only so long.
    const hang = fakeRoot({ 'h.js': 'const t = Date.now(); while (Date.now() - t < 5000);' });
    expect(probeBinary(path.join(hang, 'h.js'), { cacheDir, timeoutMs: 500 })).toMatchObject({
      ok: false, error: expect.stringContaining('did not finish within 0.5 s; set MOE_KERNELS_PROBE=0') });
  });
});
