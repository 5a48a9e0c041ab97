// The fuzz suite: every public op and MoELayer, on every backend that runs it (see test/fuzz/core.ts for
// what each case must satisfy), then every native cpu binding called directly with broken argument objects
// (test/fuzz/binding.ts). Each target runs in a child process (test/fuzz/run.ts), so a crash in native code
// or a hang fails that target with the case that caused it instead of taking jest down.
//
//   FUZZ_RUNS=5000 npx jest test/fuzz          # a longer run (default 150 cases per target and backend)
//   FUZZ_SEED=random npx jest test/fuzz        # new cases (default: a fixed seed; the report prints it)
//   FUZZ_SHRINK=1 ...                          # shrink a failing case to a minimal one (slower)
//   MOE_SIMD=avx2 ...                          # the native cases on another SIMD path (default: the best)
//   FUZZ_MEMORY_LIMIT_MB=0 ...                 # no address-space limit on the children (default 8192)

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { bindingOf, defaultRuns, targetsOf, type Report } from './run';
import { TARGETS } from './targets';

const REGISTER = path.join(__dirname, '..', 'stress', 'ts-register.js');
const RUNNER = path.join(__dirname, 'run.ts');
const runs = defaultRuns();
// A generous budget: about 0.1 s per case is typical on a busy 2-core machine; a target that needs far more
// is hanging. At least 2 minutes, so the first run (which also transpiles lib/) has room.
const CHILD_MS = Math.max(120_000, runs * 2 * 400);

// Fuzz cases are small: a child that maps more than this (MB) is allocating for sizes it should have refused.
// Under the limit such an allocation fails (a bad_alloc, a RangeError) instead of taking the machine's memory.
const MEMORY_LIMIT_MB = Number(process.env.FUZZ_MEMORY_LIMIT_MB ?? 8192);

/** The command line of a fuzz child: under an address-space limit where the shell can set one (Linux). */
function childCommand(argv: string[]): [string, string[]] {
  if (process.platform !== 'linux' || !(MEMORY_LIMIT_MB > 0)) return [argv[0]!, argv.slice(1)];
  const quoted = argv.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  return ['/bin/sh', ['-c', `ulimit -v ${MEMORY_LIMIT_MB * 1024} && exec ${quoted}`]];
}

function summary(r: Report): string {
  const parts = r.backends.map((b) => {
    const o = Object.entries(b.outcomes).sort().map(([k, v]) => `${k} ${v}`).join(', ');
    return `${b.backend}: ${b.cases} cases (${o})`;
  });
  const skips = r.skips.map((s) => `${s.backend} skipped: ${s.reason.split('\n')[0]}`);
  return `fuzz ${r.target} (seed ${r.seed}): ${[...parts, ...skips].join('; ')}`;
}

describe('fuzz', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'moe-fuzz-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  // Each public op and MoELayer on every backend, then each native binding directly.
  const jobs: { name: string; title: string }[] = [];
  for (const [name, f] of Object.entries(TARGETS)) {
    // Where it runs and what is skipped is decided here too, so skips show up as skipped tests with reasons.
    for (const s of targetsOf(f).skips) test.skip(`${name} on ${s.backend}: ${s.reason.split('\n')[0]}`, () => undefined);
    jobs.push({ name, title: `${name}: ${runs} cases per backend` });
  }
  for (const [name, f] of Object.entries(TARGETS)) {
    if ((f.opId === null || f.opId === 'host') && !f.binding) continue;
    const b = bindingOf(name);
    if ('why' in b) test.skip(`${name} binding: ${b.why.split('\n')[0]}`, () => undefined);
    else jobs.push({ name: `binding:${name}`, title: `${name} binding (${b.natives.join(', ')}): ${runs} broken argument objects, sync and async` });
  }

  for (const { name, title } of jobs) {
    test(title, () => {
      const progress = path.join(tmp, `${name.replace(':', '-')}.progress`);
      const child = spawnSync(...childCommand([process.execPath, '-r', REGISTER, RUNNER, name, progress]), {
        encoding: 'utf8', timeout: CHILD_MS, maxBuffer: 64 << 20, env: process.env,
      });
      const last = fs.existsSync(progress) ? fs.readFileSync(progress, 'utf8').trim() : '(no case started)';
      if (child.error || child.signal || child.status !== 0) {
        const why = child.error?.message ?? (child.signal ? `killed by ${child.signal}` : `exit code ${child.status}`);
        throw new Error(`the fuzz child for ${name} failed (${why}${child.signal === 'SIGTERM' ? `: over ${CHILD_MS} ms, a hang?` : ''}); ` +
          `the case running: ${last}\n${(child.stderr ?? '').slice(-4000)}`);
      }
      const report = JSON.parse(child.stdout.trim().split('\n').pop()!) as Report;
      console.log(summary(report));
      const failures = report.backends.filter((b) => b.failure).map((b) => `${b.backend}: ${b.failure}`);
      expect(failures).toEqual([]);
      if (!name.startsWith('binding:')) for (const b of report.backends) expect(b.cases).toBe(runs);
    }, CHILD_MS + 30_000);
  }
});
