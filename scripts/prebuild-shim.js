#!/usr/bin/env node
// prebuildify's stand-in for node-gyp. prebuildify 6 has no cmake-js backend: it always runs
// `<node-gyp> rebuild --target=<v> --devdir=<dir> --arch=<a> --release|--debug` in its cwd and then takes the
// first build/Release/*.node there. This shim keeps --arch and --debug, drops --target and --devdir (Node-API
// binaries do not depend on the Node version, and cmake-js needs no header download in Node-API mode), and runs
// `cmake-js rebuild` on the package's CMakeLists.txt with the build folder in prebuildify's cwd, so a release
// build never touches the developer's build/.
//
// Release settings are fixed here, not taken from the environment: every published binary carries CUDA code
// (MOE_REQUIRE_CUDA=ON) for every release architecture (MOE_CUDA_ARCHS=release), whatever the shell exports.
//
// MOE_PREBUILD_FROM=<file.node> copies that binary instead of building (the packaging test reuses the build
// `npm test` just made: a release build of the CUDA kernels takes many minutes). scripts/prebuild.js marks
// such a tarball as not a release, and `npm publish` refuses to run with the variable set.
'use strict';

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

/** cmake-js's arguments for prebuildify's node-gyp arguments `argv`, building `root` into `<cwd>/build`. */
function shimArgs(argv, root, cwd) {
  if (argv[0] !== 'rebuild') throw new Error(`expected 'rebuild' from prebuildify, got: ${argv.join(' ')}`);
  const args = ['rebuild', '--directory', root, '--out', path.join(cwd, 'build'),
    '--CDMOE_REQUIRE_CUDA=ON', '--CDMOE_CUDA_ARCHS=release'];
  for (const a of argv.slice(1)) {
    if (a.startsWith('--arch=')) args.push('--arch', a.slice('--arch='.length));
    else if (a === '--debug') args.push('--debug');
    // --target, --devdir, --release and anything else: not meaningful to cmake-js in Node-API mode.
  }
  return args;
}

function main() {
  const root = path.resolve(__dirname, '..');
  let args;
  try {
    args = shimArgs(process.argv.slice(2), root, process.cwd());
  } catch (e) {
    console.error(`prebuild-shim: ${e.message}`);
    return 2;
  }
  const from = process.env.MOE_PREBUILD_FROM;
  if (from) {
    const dir = path.join(process.cwd(), 'build', args.includes('--debug') ? 'Debug' : 'Release');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(from, path.join(dir, path.basename(from)));
    console.error(`prebuild-shim: MOE_PREBUILD_FROM=${from}: copied instead of building`);
    return 0;
  }
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  console.error(`prebuild-shim: cmake-js ${args.join(' ')}`);
  // The build log goes to stderr: stdout stays clean for `npm pack --json`.
  const r = spawnSync(process.execPath, [cmakeJs, ...args], { stdio: ['ignore', 2, 2] });
  if (r.error) {
    console.error(`prebuild-shim: could not run cmake-js: ${r.error.message}`);
    return 1;
  }
  return r.status ?? 1;
}

module.exports = { shimArgs };
if (require.main === module) process.exitCode = main();
