// The fuzz child: `node -r test/stress/ts-register.js test/fuzz/run.ts <target> <progress file>`.
// Runs one target's cases on every backend that runs it natively (plus the reference) and prints one JSON
// report as its last line. Each case is written to the progress file before it runs, so when this process
// dies (a crash in native code) or hangs, the parent (fuzz.test.ts) names the case that did it.
//
// FUZZ_RUNS: cases per backend (default in defaultRuns()); FUZZ_SEED: the fast-check seed (a number, or
// 'random'; default fixed, so CI runs the same cases every time and a failure reproduces).

import * as fs from 'fs';
import fc from 'fast-check';
import { availableBackends, selectBackend } from '../../lib/backends';
import { loadNative } from '../../lib/native';
import type { BackendName } from '../../lib/backends/backend';
import { caseArb, runCase, type OpFuzz } from './core';
import { fuzzBinding } from './binding';
import { TARGETS } from './targets';

export interface BackendReport {
  backend: BackendName | 'auto';
  cases: number;
  outcomes: Record<string, number>;
  failure: string | null;
}

export interface Report {
  target: string;
  seed: number;
  runs: number;
  backends: BackendReport[];
  skips: { backend: string; reason: string }[];
}

/** Where `f` runs: the reference, and each native backend that implements the op ('auto' for composites,
 *  which then mix native and reference ops). */
export function targetsOf(f: Pick<OpFuzz<unknown, unknown>, 'opId' | 'name'>): { run: (BackendName | 'auto')[]; skips: { backend: string; reason: string }[] } {
  const run: (BackendName | 'auto')[] = ['reference'];
  const skips: { backend: string; reason: string }[] = [];
  if (f.opId === 'host') {
    skips.push({ backend: 'cpu, cuda', reason: `${f.name} is host math with no backend (one implementation for all)` });
    return { run, skips };
  }
  const avail = availableBackends();
  if (f.opId === null) {
    if (avail.length > 1) run.push('auto');
    else skips.push({ backend: 'auto', reason: 'no native backend is available (auto = reference)' });
    return { run, skips };
  }
  for (const b of ['cpu', 'cuda'] as const) {
    if (!avail.includes(b)) {
      skips.push({ backend: b, reason: b === 'cuda' ? 'no usable CUDA device' : 'the native addon is not loaded' });
      continue;
    }
    try {
      selectBackend(f.opId, b);
      run.push(b);
    } catch (e) {
      skips.push({ backend: b, reason: (e as Error).message });
    }
  }
  return { run, skips };
}

export function defaultRuns(): number {
  const n = Number(process.env.FUZZ_RUNS ?? 150);
  return Number.isInteger(n) && n > 0 ? n : 150;
}

export function fuzzSeed(): number {
  const s = process.env.FUZZ_SEED;
  if (s === 'random') return Math.floor(Math.random() * 0x7fffffff);
  const n = Number(s ?? 20261123);
  return Number.isInteger(n) ? n : 20261123;
}

/** The cpu binding's native function names for `op`, or why the op has none to fuzz. */
export function bindingOf(op: string): { natives: readonly string[] } | { why: string } {
  const f = TARGETS[op];
  if (f?.binding) {
    if (!availableBackends().includes('cpu')) return { why: 'the native addon is not loaded' };
    const addon = loadNative() as unknown as Record<string, unknown>;
    const missing = f.binding.natives.filter((n) => typeof addon[n] !== 'function');
    return missing.length ? { why: `the loaded binary lacks ${missing.join(', ')}` } : { natives: f.binding.natives };
  }
  if (!f || f.opId === null || f.opId === 'host') return { why: `${op} has no binding of its own` };
  const t = targetsOf(f);
  if (!t.run.includes('cpu')) return { why: t.skips.find((s) => s.backend === 'cpu')?.reason ?? 'not native' };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const w = (require(`../../lib/backends/cpu/${f.opId}`) as { wiring: { natives: readonly string[] } }).wiring;
  return { natives: w.natives };
}

async function mainBinding(op: string, progress: string | undefined): Promise<void> {
  const b = bindingOf(op);
  if ('why' in b) throw new Error(`no binding to fuzz for ${op}: ${b.why}`);
  const seed = fuzzSeed();
  const runs = defaultRuns();
  const r = await fuzzBinding(TARGETS[op]!, b.natives, runs, seed, (what) => {
    if (progress) fs.writeFileSync(progress, `${op} binding: ${what}\n`);
  });
  const report: Report = { target: `${op} binding`, seed, runs, backends: [{ backend: 'cpu', ...r }], skips: [] };
  process.stdout.write(`\n${JSON.stringify(report)}\n`);
}

async function main(): Promise<void> {
  const [name, progress] = process.argv.slice(2);
  if (name?.startsWith('binding:')) return mainBinding(name.slice('binding:'.length), progress);
  const f = TARGETS[name!];
  if (!f) throw new Error(`unknown fuzz target '${name}' (known: ${Object.keys(TARGETS).join(', ')})`);
  const seed = fuzzSeed();
  const runs = defaultRuns();
  const { run, skips } = targetsOf(f);
  const report: Report = { target: f.name, seed, runs, backends: [], skips };
  for (const backend of run) {
    const r: BackendReport = { backend, cases: 0, outcomes: {}, failure: null };
    report.backends.push(r);
    const property = fc.asyncProperty(caseArb(f), async (c) => {
      if (progress) fs.writeFileSync(progress, `${f.name} on '${backend}': ${JSON.stringify(c)}\n`);
      const out = await runCase(f, c, backend as BackendName);
      r.cases++;
      const key = out.mutation === 'valid' ? `valid ${out.outcome}` : out.outcome;
      r.outcomes[key] = (r.outcomes[key] ?? 0) + 1;
    });
    const result = await fc.check(property, { numRuns: runs, seed, endOnFailure: process.env.FUZZ_SHRINK !== '1' });
    if (result.failed) {
      const err = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
      r.failure = `${err}\n  counterexample: ${JSON.stringify(result.counterexample)}\n  reproduce: FUZZ_SEED=${seed} (path ${result.counterexamplePath})`;
    }
  }
  process.stdout.write(`\n${JSON.stringify(report)}\n`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
      process.exit(2);
    },
  );
}
