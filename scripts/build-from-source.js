#!/usr/bin/env node
// `npm run build-from-source [-- --cuda | --cpu]`: builds build/Release/moe_kernels.node on this machine, in a
// source checkout or in an installed package (node_modules/moe-kernels), for platforms without a prebuilt
// binary or with a glibc older than the prebuilt needs.
//
//   (default)  CUDA code when nvcc is found (PATH, CUDACXX, $CUDA_HOME/bin, /usr/local/cuda/bin), else CPU only
//   --cuda     fail unless the CUDA code is compiled in (MOE_REQUIRE_CUDA=ON)
//   --cpu      CPU only, even where nvcc exists (much faster to build)
//   MOE_CUDA_ARCHS=<list>   GPU architectures (default 'release', every published arch; e.g. '90-real' for
//                           an H100 only builds in a fraction of the time)
//
// cmake-js is a devDependency, so an installed package does not carry it: we use the one `require` finds from
// the package (a checkout, or a project that installed it), else run the pinned version through `npm exec`,
// which fetches it into npm's cache, never into the user's project. No install script runs at any point.
'use strict';

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const CMAKE_JS = `cmake-js@${(pkg.devDependencies && pkg.devDependencies['cmake-js']) || '8.0.0'}`;

function fail(msg) {
  console.error(`build-from-source: ${msg}`);
  process.exit(1);
}

function onPath(cmd) {
  return (process.env.PATH || '').split(path.delimiter).some((d) => {
    try {
      fs.accessSync(path.join(d, cmd), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const args = process.argv.slice(2);
const bad = args.filter((a) => a !== '--cuda' && a !== '--cpu');
if (bad.length || (args.includes('--cuda') && args.includes('--cpu'))) {
  fail(`usage: npm run build-from-source [-- --cuda | --cpu] (got: ${args.join(' ')})`);
}
const mode = args.includes('--cuda') ? 'cuda' : args.includes('--cpu') ? 'cpu' : 'auto';
const archs = process.env.MOE_CUDA_ARCHS || 'release';

// The tools CMake needs, checked first: cmake-js's own errors name none of them clearly.
const missing = [];
if (!onPath('cmake')) missing.push('cmake (>= 3.18)');
if (!process.env.CXX && !['c++', 'g++', 'clang++'].some(onPath)) missing.push('a C++17 compiler (g++ or clang++)');
if (!onPath('ninja') && !onPath('make')) missing.push('ninja or make');
if (missing.length) {
  fail(`missing: ${missing.join(', ')}. On Debian/Ubuntu: sudo apt-get install cmake g++ ninja-build; ` +
    'for CUDA also the CUDA toolkit (nvcc; no GPU is needed to build).');
}

const cmakeArgs = ['rebuild', '--directory', root, `--CDMOE_CUDA_ARCHS=${archs}`];
// CMake treats a CUDA compiler set to OFF as "none": the CPU-only build without hiding nvcc from PATH.
if (mode === 'cpu') cmakeArgs.push('--CDCMAKE_CUDA_COMPILER=OFF');
if (mode === 'cuda') cmakeArgs.push('--CDMOE_REQUIRE_CUDA=ON');

let cmd;
try {
  cmd = [process.execPath, [require.resolve('cmake-js/bin/cmake-js', { paths: [root] }), ...cmakeArgs]];
} catch {
  // npm_execpath is npm's own CLI when we run under `npm run`.
  const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
  console.error(`build-from-source: cmake-js is not installed here; running ${CMAKE_JS} through npm exec`);
  cmd = [npm[0], [...npm[1], 'exec', '--yes', `--package=${CMAKE_JS}`, '--', 'cmake-js', ...cmakeArgs]];
}
console.error(`build-from-source: ${mode === 'cpu' ? 'CPU only' : mode === 'cuda' ? 'CUDA required' : 'CUDA if nvcc is found'}, ` +
  `MOE_CUDA_ARCHS=${archs}, in ${root}`);
const t0 = Date.now();
const r = spawnSync(cmd[0], cmd[1], { cwd: root, stdio: 'inherit' });
if (r.error) fail(`could not run cmake-js: ${r.error.message}`);
if (r.status !== 0) fail(`cmake-js exited with code ${r.status} (see above)`);

// A source checkout (it has lib/*.ts) also compiles the TypeScript, as `npm run build` does; an installed
// package ships dist/ and no TypeScript sources.
if (fs.existsSync(path.join(root, 'lib', 'index.ts'))) {
  try {
    const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
    const t = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
    if (t.status !== 0) fail('tsc failed (see above)');
    fs.copyFileSync(path.join(root, 'bindings.d.ts'), path.join(root, 'dist', 'bindings.d.ts'));
  } catch (e) {
    if (e && e.code === 'MODULE_NOT_FOUND') fail('typescript is not installed in this checkout: run npm ci first');
    throw e;
  }
}

// Load the result in a child, as the loader will, and say what it holds.
const file = path.join(root, 'build', 'Release', 'moe_kernels.node');
const c = spawnSync(process.execPath, ['-e',
  'process.stdout.write(JSON.stringify(require(process.argv[1]).capabilities()))', file], { encoding: 'utf8' });
if (c.status !== 0) fail(`the new binary does not load: ${c.stderr || c.signal}`);
const caps = JSON.parse(c.stdout);
console.error(`build-from-source: built ${file} in ${((Date.now() - t0) / 1000).toFixed(1)} s: SIMD ${caps.simd}, ` +
  `CUDA ${caps.cuda.compiled ? `compiled (${caps.cuda.devices} usable device(s)${caps.cuda.error ? `: ${caps.cuda.error}` : ''})` : 'not compiled'}`);
const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
if (fs.existsSync(prebuilt) && fs.readdirSync(prebuilt).some((f) => f.endsWith('.node'))) {
  console.error('build-from-source: note: the loader takes the prebuilt binary first and this build only where the ' +
    `prebuilt does not load; to use this build anyway, set MOE_KERNELS_BINARY=${file}`);
}
