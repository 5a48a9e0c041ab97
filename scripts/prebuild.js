#!/usr/bin/env node
// The release binary of this platform, prebuilds/<platform>-<arch>/moe-kernels.<libc>.node: CPU and CUDA code
// in one file, every release GPU architecture, built by prebuildify (--napi --strip --tag-libc) through
// scripts/prebuild-shim.js (cmake-js). `prepack` runs it, so `npm pack` and `npm publish` always ship a binary
// built from the sources being packed; `postpack` runs it with --clean.
//
//   node scripts/prebuild.js                  build, then load the result in a child process and check it
//   node scripts/prebuild.js --clean          remove prebuilds/<platform>-<arch> again
//   node scripts/prebuild.js --check-publish  (prepublishOnly) refuse to publish with MOE_PREBUILD_FROM set
//
// The build runs in build/prebuild/ (prebuildify's cwd), never in build/Release: a developer's local build and
// the tests using it are left alone. --clean exists because the loader prefers a prebuilt binary to a local
// build (lib/native.ts): one left in a source checkout would shadow every later `npm run build:native`.
'use strict';

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const tuple = `${process.platform}-${process.arch}`;
const outDir = path.join(root, 'prebuilds', tuple);
const staging = path.join(root, 'build', 'prebuild');
const shim = path.join(__dirname, 'prebuild-shim.js');
// What CMakeLists.txt bakes into the binary for MOE_CUDA_ARCHS=release (the list, comma-separated).
const RELEASE_ARCHS = '75-real,80-real,86-real,89-real,90-real,90-virtual';

function clean() {
  fs.rmSync(outDir, { recursive: true, force: true });
  const parent = path.dirname(outDir);
  if (fs.existsSync(parent) && fs.readdirSync(parent).length === 0) fs.rmdirSync(parent);
  fs.rmSync(staging, { recursive: true, force: true });
}

/** The newest GLIBC_2.x symbol version the binary asks for: the oldest glibc it loads on. */
function glibcNeeded(buf) {
  let minor = -1;
  for (const m of buf.toString('latin1').matchAll(/GLIBC_2\.(\d+)/g)) minor = Math.max(minor, Number(m[1]));
  return minor < 0 ? null : `2.${minor}`;
}

function build() {
  clean(); // a stale file in prebuilds/<tuple> (another name, another libc tag) must not be packed
  fs.mkdirSync(staging, { recursive: true });
  // prebuildify spawns the node-gyp stand-in without a shell, so it must be executable (git keeps the bit;
  // an archive or a copy may not).
  try {
    fs.accessSync(shim, fs.constants.X_OK);
  } catch {
    fs.chmodSync(shim, 0o755);
  }
  const prebuildify = require(require.resolve('prebuildify', { paths: [root] }));
  const t0 = Date.now();
  prebuildify({
    cwd: staging, out: root, name: pkg.name, napi: true, strip: true, tagLibc: true, nodeGyp: shim, targets: [],
  }, (err) => {
    if (err) {
      console.error(`prebuild: ${err.message || err}`);
      process.exit(1);
    }
    fs.rmSync(staging, { recursive: true, force: true });
    report(Date.now() - t0);
  });
}

/** Loads the new binary in a child (a broken one must fail here, not in a user's process) and prints it. */
function report(ms) {
  const files = fs.readdirSync(outDir).filter((f) => f.endsWith('.node'));
  if (files.length !== 1) throw new Error(`prebuild: expected one .node in ${outDir}, found ${files.join(', ') || 'none'}`);
  const file = path.join(outDir, files[0]);
  const r = spawnSync(process.execPath, ['-e',
    'process.stdout.write(JSON.stringify(require(process.argv[1]).capabilities()))', file], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`prebuild: ${file} does not load: ${r.stderr || r.error}`);
    process.exit(1);
  }
  const caps = JSON.parse(r.stdout);
  const buf = fs.readFileSync(file);
  const problems = [];
  if (caps.version !== pkg.version) problems.push(`it reports version ${caps.version}, package.json says ${pkg.version}`);
  if (!caps.cuda.compiled) problems.push('it holds no CUDA code');
  const from = process.env.MOE_PREBUILD_FROM;
  if (!from && caps.cuda.compiled && !buf.includes(RELEASE_ARCHS)) problems.push(`it was not built for the release CUDA archs (${RELEASE_ARCHS})`);
  if (problems.length) {
    console.error(`prebuild: ${file} is not a release binary: ${problems.join('; ')}`);
    process.exit(1);
  }
  console.error(`prebuild: ${path.relative(root, file)} (${(buf.length / 1048576).toFixed(1)} MiB, ` +
    `CUDA ${caps.cuda.runtimeVersion / 1000}, ${from ? `copied from MOE_PREBUILD_FROM=${from}: NOT a release binary` : `archs ${RELEASE_ARCHS}`}, ` +
    `needs glibc >= ${glibcNeeded(buf)}) in ${(ms / 1000).toFixed(1)} s`);
}

/** MOE_PREBUILD_FROM (see prebuild-shim.js) makes a tarball for tests, never one to publish. */
function checkPublish() {
  if (process.env.MOE_PREBUILD_FROM) {
    console.error(`prebuild: refusing to publish: MOE_PREBUILD_FROM=${process.env.MOE_PREBUILD_FROM} is set, so the ` +
      'tarball would carry that binary instead of a release build; unset it');
    process.exit(1);
  }
}

if (process.argv.includes('--clean')) clean();
else if (process.argv.includes('--check-publish')) checkPublish();
else build();
