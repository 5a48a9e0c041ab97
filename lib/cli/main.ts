#!/usr/bin/env node
// The `moe-kernels` command (package.json "bin"): `npx moe-kernels doctor [--json] [--no-check]`,
// `npx moe-kernels bench [options]` (the benchmark suite, benchmarks/cli.ts: a source checkout only).
// Two commands do not need an argument parser; unknown input gets the usage and exit code 2.
//
// Exit codes: 0 = the native addon loaded and the layer check matched the reference (CUDA being
// unavailable on a machine without a GPU is not a failure); 1 = no native binary loaded, or a check failed;
// 2 = bad usage.

import { doctorReport, formatReport, packageVersion } from './doctor';

const USAGE = `usage: moe-kernels <command>

commands:
  doctor [--json] [--no-check]   what this machine can run and why: platform, the native binary in use,
                                 CPU features and SIMD path, threads, CUDA (compiled, devices, driver,
                                 error), which backend 'auto' picks for each op and why, environment
                                 switches, and a small layer run with 'auto' against the reference.
                                 --json: the same as one JSON object (attach it to bug reports).
                                 --no-check: skip the layer run.
  bench [options]                microbenchmarks of every op and of the layer on every backend, with
                                 the machine's measured ceilings and onnxruntime as a peer (from a
                                 source checkout; 'moe-kernels bench --help' lists the options)
  help                           this text
  version                        the package version`;

/** The benchmark suite (dist/benchmarks/cli.js beside dist/lib), which the published package does not ship. */
function bench(args: string[]): Promise<number> {
  let mod: { benchMain(argv: string[]): Promise<number> };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require('../../benchmarks/cli') as typeof mod;
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (err.code !== 'MODULE_NOT_FOUND' || !String(err.message).includes('benchmarks/cli')) throw e;
    console.error('moe-kernels bench: the benchmark suite runs from a source checkout (git clone, npm ci, npm run build); ' +
      'the published package does not include it');
    return Promise.resolve(1);
  }
  return mod.benchMain(args);
}

/** Runs one command; returns the exit code (a promise of it for `bench`). */
export function main(argv: string[]): number | Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'bench') return bench(rest);
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    console.log(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === 'version' || cmd === '--version' || cmd === '-v') {
    console.log(packageVersion());
    return 0;
  }
  if (cmd !== 'doctor') {
    console.error(`moe-kernels: unknown command '${cmd}'\n\n${USAGE}`);
    return 2;
  }
  const unknown = rest.filter((a) => a !== '--json' && a !== '--no-check');
  if (unknown.length) {
    console.error(`moe-kernels doctor: unknown option '${unknown[0]}'\n\n${USAGE}`);
    return 2;
  }
  const report = doctorReport({ check: !rest.includes('--no-check') });
  console.log(rest.includes('--json') ? JSON.stringify(report, null, 2) : formatReport(report));
  return report.binary.path !== null && report.checks.every((c) => c.ok) ? 0 : 1;
}

if (require.main === module) {
  Promise.resolve(main(process.argv.slice(2))).then((code) => { process.exitCode = code; }, (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
