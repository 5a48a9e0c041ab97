#!/usr/bin/env node
// The `moe-kernels` command (package.json "bin"): `npx moe-kernels doctor [--json] [--no-check]`,
// `npx moe-kernels bench [options]` (the benchmark suite, benchmarks/cli.ts: a source checkout only).
// commander parses the command line (lib/cli/command.ts); bench's options are parsed by the suite itself.
//
// Exit codes: 0 = the native addon loaded and the layer check matched the reference (CUDA being
// unavailable on a machine without a GPU is not a failure); 1 = no native binary loaded, or a check failed;
// 2 = bad usage.

import type { Command } from 'commander';
import { cliCommand, exitCodeOf } from './command';
import { doctorReport, formatReport, packageVersion } from './doctor';

/** The benchmark suite (dist/benchmarks/cli.js beside dist/lib), which the published package does not ship. */
function bench(args: string[]): Promise<number> {
  let mod: { benchMain(argv: string[]): Promise<number> };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require('../../benchmarks/cli') as typeof mod;
  } catch (e) {
    const err = e as { code?: string; message?: string };
    // Only the suite itself missing means "not a checkout": the message's first line names the module not
    // found (the lines after it are the require stack, which names benchmarks/cli whatever was missing,
    // e.g. a dev dependency of the suite after `npm ci --omit=dev`).
    if (err.code !== 'MODULE_NOT_FOUND' || !String(err.message).split('\n')[0]!.includes('benchmarks/cli')) throw e;
    console.error('moe-kernels bench: the benchmark suite runs from a source checkout (git clone, npm ci, npm run build); ' +
      'the published package does not include it');
    return Promise.resolve(1);
  }
  return mod.benchMain(args);
}

function doctor(opts: { json?: boolean; check: boolean }): number {
  const report = doctorReport({ check: opts.check });
  console.log(opts.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return report.binary.path !== null && report.checks.every((c) => c.ok) ? 0 : 1;
}

/** The command line; each action stores its exit code in `done` (commander's parse returns the program). */
function program(done: (code: number | Promise<number>) => void): Command {
  const p = cliCommand('moe-kernels')
    .description('Mixture-of-Experts kernels for TypeScript: what this machine runs (doctor) and how fast (bench).')
    .version(packageVersion(), '-v, --version', 'the package version')
    // Options after a command are that command's: `bench --version` is bench's business, not the package version.
    .enablePositionalOptions()
    .addHelpText('after', `
Run 'moe-kernels help <command>' for a command's options.
Exit codes: 0 = the addon loaded and the check passed (no GPU is not a failure), 1 = no native binary loaded
or a check failed (doctor) or a validation failed (bench), 2 = bad usage.`);
  p.addCommand(cliCommand('doctor', 'moe-kernels doctor')
    .description('what this machine can run and why: platform, the native binary in use, CPU features and SIMD ' +
      "path, threads, CUDA (compiled, devices, driver, error), which backend 'auto' picks for each op and why, " +
      "environment switches, and a small layer run with 'auto' against the reference")
    .option('--json', 'the same as one JSON object (attach it to bug reports)')
    .option('--no-check', 'skip the layer run')
    .action((opts: { json?: boolean; check: boolean }) => done(doctor(opts))));
  // The suite has its own parser (benchmarks/cli.ts, not in the published package): pass everything through.
  p.command('bench')
    .description("microbenchmarks of every op and of the layer on every backend, with the machine's measured " +
      "ceilings and onnxruntime as a peer (from a source checkout; 'moe-kernels bench --help' lists the options)")
    .argument('[options...]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action((_args: string[], _opts: unknown, cmd: Command) => done(bench(cmd.args)));
  p.command('version')
    .description('the package version')
    .action(() => {
      console.log(packageVersion());
      done(0);
    });
  return p;
}

/** Runs one command; returns the exit code (a promise of it for `bench`). */
export function main(argv: string[]): number | Promise<number> {
  let code: number | Promise<number> = 0;
  try {
    program((c) => { code = c; }).parse(argv, { from: 'user' });
  } catch (e) {
    return exitCodeOf(e);
  }
  return code;
}

if (require.main === module) {
  Promise.resolve(main(process.argv.slice(2))).then((code) => { process.exitCode = code; }, (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
