// The user's path, end to end: `npm pack` (prepack: tsc + the release prebuild through prebuildify and the
// cmake-js shim), then `npm install <tgz> --strict-allow-scripts` into a fresh project with no compiler on PATH,
// then the prebuilt binary loads (PREBUILDS_ONLY=1), a layer runs, the CLI and the type declarations work.
// Then the installed package's own `npm run build-from-source -- --cpu`, and the loader's fallback from a
// broken prebuilt to that local build, and its error when nothing loads.
//
// npm pack runs on a copy of the sources (node_modules linked), so it never touches this checkout's build/
// while other test files use it. A release build of the CUDA kernels (6 GPU archs) takes many minutes, so by
// default the prebuilt is the binary `npm test` has just built (MOE_PREBUILD_FROM: prebuildify and the shim run,
// cmake-js does not); MOE_PACK_TEST_RELEASE=1 makes the test run the real release build and check its archs.
// About 30 s by default, most of it `build-from-source -- --cpu`.

import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'moe-kernels-pack-'));
const src = path.join(tmp, 'src');
const app = path.join(tmp, 'app');
const bareBin = path.join(tmp, 'bin');
const pkgDir = path.join(app, 'node_modules', 'moe-kernels');
const prebuilt = path.join(pkgDir, 'prebuilds', `${process.platform}-${process.arch}`, 'moe-kernels.glibc.node');
const localBuild = path.join(pkgDir, 'build', 'Release', 'moe_kernels.node');
const RELEASE_ARCHS = '75-real,80-real,86-real,89-real,90-real,90-virtual';
const COMPILERS = ['cc', 'c++', 'gcc', 'g++', 'clang', 'clang++', 'cmake', 'make', 'ninja', 'nvcc'];
const release = process.env.MOE_PACK_TEST_RELEASE === '1';
const repoBinary = path.join(root, 'build', 'Release', 'moe_kernels.node');
const packTimeout = release ? 3600000 : 240000;

/** The environment without the npm_* variables of the `npm test` that may be running us (nor an outer
 *  MOE_PREBUILD_FROM: each test says whether it wants one). */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^npm_/i.test(k) && k !== 'MOE_PREBUILD_FROM') env[k] = v;
  }
  return { ...env, npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', ...extra };
}

/** A user's shell with no build tools: PATH is a folder holding node, npm, npx and sh only. */
function bareEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = cleanEnv(extra);
  for (const k of ['PREBUILDS_ONLY', 'MOE_KERNELS_BINARY', 'MOE_KERNELS_PROBE', 'MOE_SIMD', 'CC', 'CXX', 'CUDACXX']) {
    if (!(k in extra)) delete env[k];
  }
  return { ...env, PATH: bareBin };
}

function run(cmd: string, args: string[], cwd: string, env: Record<string, string>, timeout = 120000): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} exited with ${r.status ?? r.signal}:\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`);
  return r.stdout;
}

/** `moe-kernels doctor --json` through the installed bin link (its shebang finds node on the bare PATH). */
function doctor(env: Record<string, string>): { code: number | null; report: any } {
  const r = run(path.join(app, 'node_modules', '.bin', 'moe-kernels'), ['doctor', '--json'], app, env);
  return { code: r.status, report: JSON.parse(r.stdout) };
}

const CHECK_JS = `
const m = require('moe-kernels');
const caps = m.capabilities();
const cfg = m.preset('mixtral', { hidden: 64, intermediate: 48 });
const x = m.tensor(new m.Rng(5).f32(7 * 64), [7, 64]);
const out = m.MoELayer.random(cfg, 1).forward({ x }).out;
const ref = m.MoELayer.random(cfg, 1, { backend: 'reference' }).forward({ x }).out;
let num = 0, den = 0;
for (let i = 0; i < ref.data.length; i++) { num += (out.data[i] - ref.data[i]) ** 2; den += ref.data[i] ** 2; }
process.stdout.write(JSON.stringify({ caps, backends: m.availableBackends(), shape: out.shape,
  relErr: Math.sqrt(num / den), finite: Array.from(out.data).every(Number.isFinite), resolved: require.resolve('moe-kernels') }));
`;

const TS_CONSUMER = `
import { capabilities, MoELayer, preset, route, tensor } from 'moe-kernels';
import type { RouteResult, Tensor } from 'moe-kernels';
const c = capabilities();
const simd: 'avx512' | 'avx2' | 'scalar' | null = c.native ? c.simd : null;
const layer = MoELayer.random(preset('switch', { hidden: 8, intermediate: 4 }), 1);
const x: Tensor<'f32'> = tensor(new Float32Array(16), [2, 8]);
const r: RouteResult = route({ logits: tensor(new Float32Array(16), [2, 8]), method: 'softmax_topk', k: 2 });
export const used = [simd, layer.forward({ x }).out.shape, r.ids.shape];
`;

let tarball = '';
let packFiles: string[] = [];

beforeAll(() => {
  fs.mkdirSync(bareBin);
  for (const t of ['node', 'npm', 'npx', 'sh']) {
    const found = (process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, t)).find((p) => fs.existsSync(p));
    if (!found) throw new Error(`${t} is not on PATH`);
    fs.symlinkSync(t === 'node' ? process.execPath : found, path.join(bareBin, t));
  }
  const skip = new Set(['node_modules', 'build', 'dist', 'prebuilds', '.git', 'test', '.gpu']);
  fs.cpSync(root, src, {
    recursive: true,
    filter: (p) => {
      const rel = path.relative(root, p);
      return !skip.has(rel.split(path.sep)[0]!) && !rel.endsWith('.tgz');
    },
  });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(src, 'node_modules'));
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
});

afterAll(() => {
  if (!process.env.MOE_KEEP_PACK_TEST) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('npm pack', () => {
  test('prepack makes the prebuild; the tarball holds dist, declarations, the prebuild and sources, nothing else', () => {
    const t0 = Date.now();
    if (!release) expect(fs.existsSync(repoBinary)).toBe(true); // `npm run build:native` first
    const env = cleanEnv(release ? {} : { MOE_PREBUILD_FROM: repoBinary });
    const r = run('npm', ['pack', '--json', '--pack-destination', tmp], src, env, packTimeout);
    const out = ok(r, 'npm pack');
    expect(r.stderr).toContain(release ? 'archs 75-real,80-real,86-real,89-real,90-real,90-virtual' : 'NOT a release binary');
    const info = (JSON.parse(out) as { filename: string; files: { path: string }[] }[])[0]!;
    tarball = path.join(tmp, info.filename);
    packFiles = info.files.map((f) => f.path);
    console.log(`npm pack: ${((Date.now() - t0) / 1000).toFixed(1)} s, ${packFiles.length} files`);
    expect(fs.existsSync(tarball)).toBe(true);
    for (const f of ['package.json', 'README.md', 'CMakeLists.txt', 'dist/lib/index.js', 'dist/lib/index.d.ts',
      'dist/lib/native.js', 'dist/lib/cli/main.js', 'dist/bindings.d.ts', 'scripts/build-from-source.js',
      'native/addon/addon.cpp', `prebuilds/${process.platform}-${process.arch}/moe-kernels.glibc.node`]) {
      expect(packFiles).toContain(f);
    }
    expect(packFiles.filter((f) => f.endsWith('.node'))).toHaveLength(1);
    const allowed = /^(package\.json|README\.md|CMakeLists\.txt|dist\/bindings\.d\.ts|dist\/lib\/.*\.(js|d\.ts)|native\/.*|prebuilds\/[^/]+\/[^/]+\.node|scripts\/build-from-source\.js)$/;
    expect(packFiles.filter((f) => !allowed.test(f))).toEqual([]);
    // postpack removed the prebuild from the sources; the release build never used their build/Release.
    expect(fs.existsSync(path.join(src, 'prebuilds'))).toBe(false);
    expect(fs.existsSync(path.join(src, 'build', 'Release'))).toBe(false);
  }, packTimeout);

  test('the shim builds release settings whatever prebuildify passes; publish refuses a copied binary', () => {
    const { shimArgs } = require(path.join(root, 'scripts', 'prebuild-shim.js')) as { shimArgs(a: string[], r: string, c: string): string[] };
    expect(shimArgs(['rebuild', '--target=22.11.0', '--devdir=/tmp/pf/node', '--arch=x64', '--release'], '/pkg', '/stage')).toEqual(
      ['rebuild', '--directory', '/pkg', '--out', '/stage/build', '--CDMOE_REQUIRE_CUDA=ON', '--CDMOE_CUDA_ARCHS=release', '--arch', 'x64']);
    expect(() => shimArgs(['configure'], '/pkg', '/stage')).toThrow("expected 'rebuild' from prebuildify");
    const guard = (extra: Record<string, string>): SpawnSyncReturns<string> =>
      run(process.execPath, [path.join(src, 'scripts', 'prebuild.js'), '--check-publish'], src, cleanEnv(extra));
    const refused = guard({ MOE_PREBUILD_FROM: repoBinary });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('refusing to publish: MOE_PREBUILD_FROM=');
    expect(guard({}).status).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(src, 'package.json'), 'utf8')).scripts.prepublishOnly).toBe('node scripts/prebuild.js --check-publish');
  });

  test('the package runs no install script and declares the CLI', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(src, 'package.json'), 'utf8'));
    for (const s of ['preinstall', 'install', 'postinstall', 'prepare', 'prebuild']) expect(pkg.scripts[s]).toBeUndefined();
    expect(pkg.gypfile).toBeUndefined();
    expect(packFiles).not.toContain('binding.gyp'); // npm would invent `node-gyp rebuild` as an install script
    expect(pkg.bin).toEqual({ 'moe-kernels': 'dist/lib/cli/main.js' });
  });
});

describe('a fresh project, no compiler on PATH', () => {
  test('npm install <tgz> --strict-allow-scripts', () => {
    expect(tarball).not.toBe('');
    for (const c of COMPILERS) expect(fs.existsSync(path.join(bareBin, c))).toBe(false);
    const r = run('npm', ['install', tarball, '--strict-allow-scripts'], app, bareEnv());
    ok(r, 'npm install');
    expect(fs.existsSync(prebuilt)).toBe(true);
    expect(fs.existsSync(path.join(pkgDir, 'build'))).toBe(false); // nothing was compiled
  }, 120000);

  test('the prebuilt binary needs no glibc newer than 2.34 (and, in a release build, carries every release arch)', () => {
    const buf = fs.readFileSync(prebuilt);
    if (release) expect(buf.includes(RELEASE_ARCHS)).toBe(true);
    const glibc = [...buf.toString('latin1').matchAll(/GLIBC_2\.(\d+)/g)].map((m) => Number(m[1]));
    expect(Math.max(...glibc)).toBeLessThanOrEqual(34); // README: glibc >= 2.34
  });

  test('loads the prebuilt (PREBUILDS_ONLY=1) and runs a layer', () => {
    const out = JSON.parse(ok(run('node', ['-e', CHECK_JS], app, bareEnv({ PREBUILDS_ONLY: '1' })), 'check.js'));
    expect(out.resolved).toBe(path.join(pkgDir, 'dist', 'lib', 'index.js'));
    expect(out.caps.native).toBe(true);
    expect(out.caps.cuda.compiled).toBe(true);
    expect(out.shape).toEqual([7, 64]);
    expect(out.finite).toBe(true);
    expect(out.relErr).toBeLessThan(1e-4); // 'auto' (a native backend once registered) vs the reference
  });

  test('`moe-kernels doctor --json` names the prebuilt; `npx moe-kernels doctor` prints the report', () => {
    const { code, report } = doctor(bareEnv({ PREBUILDS_ONLY: '1' }));
    expect(code).toBe(0);
    expect(report.binary).toMatchObject({ path: prebuilt, source: 'prebuilt', error: null, rejected: [] });
    expect(['probed', 'cached']).toContain(report.binary.probe);
    expect(report.env).toEqual({ PREBUILDS_ONLY: '1' });
    expect(report.cuda.compiled).toBe(true);
    const text = ok(run('npx', ['--offline', 'moe-kernels', 'doctor'], app, bareEnv()), 'npx moe-kernels doctor');
    expect(text).toMatch(/^binary +prebuilt: .*moe-kernels\.glibc\.node$/m);
    expect(text).toMatch(/^auto +route +(cuda|cpu|reference)/m);
  });

  test('the type declarations compile in a strict TypeScript project without @types/node', () => {
    fs.writeFileSync(path.join(app, 'consumer.ts'), TS_CONSUMER);
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, skipLibCheck: false, types: [], lib: ['ES2022'], target: 'ES2022', module: 'commonjs', moduleResolution: 'node10' },
      files: ['consumer.ts'],
    }));
    const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
    ok(run(process.execPath, [tsc, '-p', 'tsconfig.json'], app, bareEnv()), 'tsc (consumer)');
  }, 60000);
});

describe('build from source in the installed package', () => {
  test('`npm run build-from-source -- --cpu` builds build/Release (cmake-js through npm exec)', () => {
    const t0 = Date.now();
    const r = run('npm', ['run', 'build-from-source', '--', '--cpu'], pkgDir, cleanEnv(), 300000);
    ok(r, 'build-from-source');
    expect(r.stderr).toContain('cmake-js is not installed here; running cmake-js@8.0.0 through npm exec');
    console.log(`build-from-source --cpu: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(fs.existsSync(localBuild)).toBe(true);
    // The prebuilt still comes first while it loads.
    expect(doctor(bareEnv()).report.binary.source).toBe('prebuilt');
  }, 300000);

  test('a prebuilt that does not load gives way to the local build, and doctor says why', () => {
    fs.writeFileSync(prebuilt, 'not an ELF file\n');
    const { code, report } = doctor(bareEnv());
    expect(code).toBe(0);
    expect(report.binary).toMatchObject({ path: localBuild, source: 'local build', error: null });
    expect(report.binary.rejected).toHaveLength(1);
    expect(report.binary.rejected[0]).toMatchObject({ path: prebuilt, source: 'prebuilt' });
    expect(report.binary.rejected[0].error).toMatch(/invalid ELF header|file too short/);
    expect(report.cuda.compiled).toBe(false); // the --cpu build
  });

  test('with PREBUILDS_ONLY=1 nothing loads: the error names the platform and the build command', () => {
    const { code, report } = doctor(bareEnv({ PREBUILDS_ONLY: '1' }));
    expect(code).toBe(1);
    expect(report.binary.path).toBeNull();
    const e: string = report.binary.error;
    expect(e).toContain(`${process.platform}-${process.arch}`);
    expect(e).toMatch(/glibc \d+\.\d+/);
    expect(e).toContain(`node ${process.versions.node}`);
    expect(e).toContain('local builds not tried: PREBUILDS_ONLY is set');
    expect(e).toContain(`cd '${pkgDir}' && npm run build-from-source`);
    expect(e).toContain('npm run build-from-source -- --cuda');
    expect(e).toContain('npm run build-from-source -- --cpu');
    for (const c of Object.values(report.backends.ops) as { auto: string }[]) expect(c.auto).toBe('reference'); // still runs every op
  });
});
