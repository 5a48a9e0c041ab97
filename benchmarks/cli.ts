// `moe-kernels bench` (and `npm run bench`): the options, the run, the table, and the files it writes.
//
//   moe-kernels bench [--quick] [--backend reference,cpu,cuda,onnxruntime] [--shape qwen3,mixtral,...]
//                     [--tokens 1,32,512] [--threads 1,2] [--dtype f32,bf16] [--ops route,...,layer]
//                     [--json FILE] [--report FILE.html] [--markdown FILE.md] [--no-progress]
//
// Exit code: 0 when every validation passed, 1 when one failed, 2 for bad usage. commander parses the options
// (lib/cli/command.ts has the settings shared with `moe-kernels doctor`); each list is checked as it is parsed.

import * as fs from 'fs';
import * as os from 'os';
import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { capabilities } from '../lib';
import type { FloatDType } from '../lib';
import { cliCommand, exitCodeOf } from '../lib/cli/command';
import type { BenchOptions } from './context';
import { formatTable, toHtml, toJson, toMarkdown } from './report';
import type { BackendId } from './results';
import { SHAPE_KEYS } from './shapes';
import { availableBenchBackends, OP_NAMES, runSuite } from './suite';
import { targetStatus } from './targets';

const BACKENDS = ['reference', 'cpu', 'cuda', 'onnxruntime'];
const DTYPES = ['f32', 'bf16'];

/** A comma-separated list whose items are among `allowed` (all of them listed when one is not). */
function list(allowed?: readonly string[]): (v: string) => string[] {
  return (v) => {
    const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
    if (!xs.length) throw new InvalidArgumentError('It needs a comma-separated list.');
    for (const x of xs) if (allowed && !allowed.includes(x)) throw new InvalidArgumentError(`'${x}' is not one of: ${allowed.join(', ')}.`);
    return xs;
  };
}

/** A comma-separated list of integers in [lo, hi]. */
function ints(lo: number, hi: number): (v: string) => number[] {
  return (v) => list()(v).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new InvalidArgumentError(`Values must be integers in [${lo}, ${hi}], got '${s}'.`);
    return n;
  });
}

function budget(v: string): number {
  const g = Number(v);
  if (v.trim() === '' || !(g >= 0)) throw new InvalidArgumentError('It must be a number >= 0.');
  return g;
}

/** What commander hands back: an option given on the command line, or its default (none for lists, whose
 *  default depends on --quick). */
interface Parsed {
  quick?: boolean; backend?: string[]; shape?: string[]; tokens?: number[]; threads?: number[]; dtype?: string[];
  ops?: string[]; json?: string; report?: string; markdown?: string; refBudget?: number; progress: boolean;
}

/** The command line of the suite. */
export function benchCommand(): Command {
  return cliCommand('moe-kernels bench')
    .description("Microbenchmarks of every op and of the whole MoE layer on every available backend, next to the machine's " +
      "f32 FMA peak and memory bandwidth measured in the same run, with onnxruntime's MoE operator as a peer. " +
      'Each kernel is validated against the TypeScript reference before it is timed.')
    .option('--quick', 'under a minute: Qwen3-30B-A3B, T = 1 and 32, max threads (what npm start runs)')
    .option('--backend <list>', `${BACKENDS.join(', ')} (default: all available)`, list(BACKENDS))
    .option('--shape <list>', `${SHAPE_KEYS.join(', ')} (default: all; --quick: qwen3)`, list(SHAPE_KEYS))
    .option('--tokens <list>', 'tokens per call (default 1,32,512; --quick 1,32)', ints(1, 1 << 16))
    .option('--threads <list>', "CPU threads (default 1 and the machine's count; --quick the machine's count)", ints(1, 1024))
    .option('--dtype <list>', `${DTYPES.join(', ')} weights (default both)`, list(DTYPES))
    .option('--ops <list>', `${OP_NAMES.join(', ')}, layer (default all)`, list([...OP_NAMES, 'layer']))
    .option('--json <file>', 'write every row, the ceilings and the targets as JSON')
    .option('--report <file>', 'write a self-contained HTML report with charts')
    .option('--markdown <file>', 'write the Markdown of BENCHMARKS.md')
    .option('--ref-budget <G>', 'time the reference where it costs at most G billion multiply-adds (default 3; --quick 0.4)', budget)
    .option('--no-progress', 'no progress bar on stderr (there is none when stderr is not a terminal)')
    .helpOption('-h, --help', 'this text');
}

/** The options of `moe-kernels bench ARGV`. Throws commander's CommanderError for bad usage and after --help
 *  (which it has printed by then). */
export function parseBenchArgs(argv: string[]): BenchOptions {
  const v = benchCommand().parse(argv, { from: 'user' }).opts<Parsed>();
  const quick = v.quick === true;
  const caps = capabilities();
  const hw = caps.native ? caps.cpu.threads : os.cpus().length;
  const budgetG = v.refBudget ?? (quick ? 0.4 : 3);
  return {
    quick,
    backends: (v.backend ?? availableBenchBackends().available) as BackendId[],
    shapes: v.shape ?? (quick ? ['qwen3'] : [...SHAPE_KEYS]),
    tokens: v.tokens ?? (quick ? [1, 32] : [1, 32, 512]),
    threads: v.threads ?? (quick ? [hw] : [...new Set([1, hw])]),
    dtypes: (v.dtype ?? DTYPES) as FloatDType[],
    ops: v.ops ?? [...OP_NAMES, 'layer'],
    ...(v.json !== undefined ? { json: v.json } : {}),
    ...(v.report !== undefined ? { report: v.report } : {}),
    ...(v.markdown !== undefined ? { markdown: v.markdown } : {}),
    progress: v.progress,
    refBudget: budgetG * 1e9,
    // Issue 3 asks for the layer's ratio to the reference at T = 512: measured once, whatever it costs.
    forceReference: quick ? [] : [{ shape: 'qwen3', tokens: 512 }],
    command: `moe-kernels bench${argv.length ? ` ${argv.join(' ')}` : ''}`,
  };
}

/** Runs `moe-kernels bench ARGS`; resolves to the exit code. */
export async function benchMain(argv: string[]): Promise<number> {
  let o: BenchOptions;
  try {
    o = parseBenchArgs(argv);
  } catch (e) {
    return exitCodeOf(e);
  }
  const { available, why } = availableBenchBackends();
  for (const b of o.backends) if (!available.includes(b)) console.error(`bench: backend '${b}' is not available here: ${why[b] ?? 'unknown'}; skipping it`);
  o.backends = o.backends.filter((b) => available.includes(b));
  const run = await runSuite(o);
  console.log(formatTable(run));
  console.log('\nIssue 3 targets (Qwen3-30B-A3B layer):');
  for (const t of run.targets) console.log(`  [${targetStatus(t)}] ${t.target}: ${t.measured}`);
  if (run.skipped.length) console.log(`\nnot run:\n${run.skipped.map((s) => `  - ${s}`).join('\n')}`);
  console.log(`\n${run.machine.cpu}; commit ${run.machine.commit}; ${run.durationS.toFixed(0)} s`);
  if (o.json) fs.writeFileSync(o.json, toJson(run));
  if (o.report) fs.writeFileSync(o.report, toHtml(run));
  if (o.markdown) fs.writeFileSync(o.markdown, toMarkdown(run));
  for (const [what, f] of [['JSON', o.json], ['HTML report', o.report], ['Markdown', o.markdown]] as const) if (f) console.log(`${what} written to ${f}`);
  return run.results.every((r) => r.validation.ok) ? 0 : 1;
}

if (require.main === module) {
  benchMain(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
