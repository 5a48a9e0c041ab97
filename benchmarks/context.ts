// The state one benchmark run shares (options, ceilings, cache flusher, progress, results) and the generic
// runner of one op case: validate on every backend first, then time. The reference is timed only where it
// finishes in reasonable time (its cost is estimated, never extrapolated); elsewhere the native output is
// checked against the reference on a sample (sampled rows or tokens), as each case defines.

import type { BackendChoice, FloatDType } from '../lib';
import { selectBackend } from '../lib/backends';
import type { OpId } from '../lib/backends/backend';
import type { NativeAddon } from '../lib/native';
import { CeilingSet, Flusher } from './ceilings';
import type { Progress } from './progress';
import type { BackendId, BenchResult, Validation } from './results';
import { summarise, timeOnce, timeSync, TimingPlan } from './timing';

export interface BenchOptions {
  quick: boolean;
  /** Backends and peers to run, among those available. */
  backends: BackendId[];
  shapes: string[];
  tokens: number[];
  threads: number[];
  dtypes: FloatDType[];
  /** Op ids benchmarked one by one ('route', 'permute', 'grouped_gemm', 'unpermute', 'router_stats',
   *  'convert'); 'layer' for the whole layer. */
  ops: string[];
  json?: string;
  report?: string;
  markdown?: string;
  progress: boolean;
  /** The reference is timed on a call when its estimated multiply-adds are at most this. */
  refBudget: number;
  /** (shape, tokens) pairs where the reference layer is timed whatever it costs (issue 3's T=512 target). */
  forceReference: { shape: string; tokens: number }[];
  /** The command line, for the report. */
  command: string;
}

export class BenchContext {
  readonly results: BenchResult[] = [];
  /** Lines saying what was not run and why. */
  readonly skipped: string[] = [];
  private readonly implemented = new Map<string, string | null>();

  constructor(
    readonly addon: NativeAddon | null,
    readonly opts: BenchOptions,
    readonly plan: TimingPlan,
    readonly ceilings: CeilingSet,
    readonly flusher: Flusher,
    readonly progress: Progress,
  ) {}

  has(b: BackendId): boolean {
    return this.opts.backends.includes(b);
  }

  /** Null when `backend` runs `op` natively here, else why not (memoised). */
  whyNot(backend: 'cpu' | 'cuda', op: OpId): string | null {
    const key = `${backend}/${op}`;
    if (!this.implemented.has(key)) {
      try {
        selectBackend(op, backend);
        this.implemented.set(key, null);
      } catch (e) {
        this.implemented.set(key, (e as Error).message);
      }
    }
    return this.implemented.get(key)!;
  }

  setThreads(t: number): void {
    this.addon?.setNumThreads(t);
  }

  flush(threads: number): void {
    this.flusher.flush(threads);
  }

  add(r: BenchResult): void {
    this.results.push(r);
    if (!r.validation.ok) {
      this.progress.log(`VALIDATION FAILED: ${r.op} ${r.shape} T=${r.tokens} ${r.dtype} ${r.backend}` +
        `${r.threads ? ` ${r.threads} thr` : ''}: err ${r.validation.err} (tol ${r.validation.tol}) vs ${r.validation.against}` +
        `${r.validation.note ? `; ${r.validation.note}` : ''}`);
    }
  }

  skip(msg: string): void {
    if (!this.skipped.includes(msg)) this.skipped.push(msg);
  }
}

/** One op on one shape, dtype and token count. `run` must use input set `rep % n` so samples rotate. */
export interface OpCase<O> {
  op: string;
  opId: OpId;
  shape: string;
  tokens: number;
  dtype: string;
  flop: number;
  bytes: number;
  bytesKind: 'weights' | 'memory';
  /** Evict the caches before each sample (the call streams weights that would otherwise stay cached). */
  flush: boolean;
  /** Estimated multiply-adds (or element operations) of the reference: decides whether it is timed. */
  refCost: number;
  run(backend: BackendChoice, rep: number): O;
  /** The timed call, where the op takes caller-provided outputs: run's call writing into arrays allocated
   *  once per case, as a model's loop calls it. Fresh outputs cost more than some kernels: calloc zeroes
   *  them, and one over glibc's 32 MiB mmap threshold is new memory that faults on each 4 KiB page (permute
   *  Qwen3 T = 512 f32, 2 threads on the Zen 4 VM: 17.5 ms fresh, 1.87 ms into given arrays). Validation
   *  always runs on fresh outputs (run); the last timed output is compared bitwise with them. */
  into?(backend: BackendChoice, rep: number): O;
  /** Checks a rep-0 output; `ref` is the reference's rep-0 output when the reference was run, else null
   *  (the case then computes what it needs, on a sample where the full reference is too slow). */
  check(out: O, ref: O | null): Validation;
  /** Bitwise equality (native results must not depend on the thread count). */
  same(a: O, b: O): boolean;
  note?: string;
}

const ORACLE: Validation = { ok: true, err: 0, tol: 0, against: 'itself (the oracle)' };

/** Times the reference (when affordable), then each native backend and thread count, validating first. */
export function runOpCase<O>(ctx: BenchContext, c: OpCase<O>): void {
  const base = { op: c.op, shape: c.shape, tokens: c.tokens, dtype: c.dtype, flop: c.flop, bytes: c.bytes, bytesKind: c.bytesKind, ...(c.note ? { note: c.note } : {}) };
  let ref: O | null = null;
  const timed = (backend: BackendChoice, rep: number): O => (c.into ? c.into(backend, rep) : c.run(backend, rep));
  if (ctx.has('reference') && c.refCost <= ctx.opts.refBudget) {
    const once = timeOnce(() => c.run('reference', 0));
    ref = once.result;
    // A call that takes a second or more is timed once: its first run is the sample.
    const samples = once.samples.ms[0]! >= 1000 ? once.samples : timeSync((rep) => timed('reference', rep), ctx.plan, c.flush ? () => ctx.flush(2) : undefined);
    ctx.add({ ...base, backend: 'reference', threads: null, ...summarise(samples, 1), validation: ORACLE });
  } else if (ctx.has('reference')) {
    ctx.skip(`reference ${c.op} not timed at ${c.shape} T=${c.tokens} ${c.dtype} (over the budget of ${(ctx.opts.refBudget / 1e9).toFixed(1)} G multiply-adds): nothing is extrapolated`);
  }
  for (const backend of ['cpu', 'cuda'] as const) {
    if (!ctx.has(backend)) continue;
    const why = ctx.whyNot(backend, c.opId);
    if (why !== null) {
      ctx.skip(`${backend} ${c.opId}: ${why}`);
      continue;
    }
    const threadList: (number | null)[] = backend === 'cpu' ? ctx.opts.threads : [null];
    let first: O | null = null;
    for (const t of threadList) {
      if (t !== null) ctx.setThreads(t);
      const out = c.run(backend, 0);
      const v = c.check(out, ref);
      if (first === null) first = out;
      else if (!c.same(first, out)) {
        v.ok = false;
        v.note = `${v.note ? `${v.note}; ` : ''}output differs bitwise between thread counts`;
      }
      const flush = c.flush ? () => ctx.flush(t ?? 2) : undefined;
      const samples = timeSync((rep) => timed(backend, rep), ctx.plan, flush);
      if (c.into && !c.same(out, c.into(backend, 0))) {
        v.ok = false;
        v.note = `${v.note ? `${v.note}; ` : ''}output into given arrays differs bitwise from fresh outputs`;
      }
      ctx.add({ ...base, backend, threads: t, ...summarise(samples, t), validation: v });
    }
  }
}
