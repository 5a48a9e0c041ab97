// The fuzz contract, shared by every op: a case is a valid configuration (drawn by fast-check), built into
// arguments inside an Arena, optionally broken by one mutation. On each backend the call must either
//   - throw a TypeError or RangeError (exactly those classes) whose message is "<op>: '<arg>' ..." naming an
//     argument of the call (or one the mutation names), or
//   - succeed, with every output matching the reference run on an unaliased deep copy of the arguments,
// and in both cases leave every byte outside its outputs untouched (inputs, gaps between views, guard words
// around fresh outputs) and write every element of its fresh outputs, within FUZZ_CASE_MS (a slow small case
// is a hang in waiting). The async twin must do the same thing as the sync call: the same error, or bitwise
// the same outputs (on the reference, NaNs of any sign: V8 does not keep a NaN's sign bit stable).

import fc from 'fast-check';
import type { BackendName, OpOptions } from '../../lib/backends/backend';
import { Allocator, OutputArray, defaultAllocator, setAllocator } from '../../lib/backends/alloc';
import { DType, FloatDType, f32ToBf16, f32ToF16 } from '../../lib/dtype';
import { Rng } from '../../lib/random';
import { compare, Measure, TOL } from '../conformance/measures';
import { Arena, cloneArgs } from './arena';
import { knownIssue } from './known';

export { TOL };
export type { Measure };

/** What a mutation promises about the call. No `must`: either outcome is allowed (the checks still apply). */
export interface Expect {
  must?: 'TypeError' | 'RangeError' | 'error';
  /** Argument names an error may name (the part before the first '.' or '['); default: any argument. */
  names?: string[];
  /** The call receives this instead of the args object (present even when null). */
  replaceArgs?: unknown;
}

export interface Mutation<S> {
  name: string;
  /** Whether the mutation means something for this configuration (default: always). */
  when?: (s: S) => boolean;
  /** Breaks `args` in place (the arrays live in g.arena) and says what must happen. */
  apply: (args: Record<string, unknown>, s: S, g: Gen) => Expect;
}

export interface Output {
  data: OutputArray;
  dtype: DType;
  measure: Measure;
  /** The result tensor's shape, compared with the reference's and with the data length. */
  shape?: readonly number[];
}

export interface OpFuzz<S, R> {
  /** The label, and the op id every error message must start with (several for a composite). */
  name: string;
  prefixes: string[];
  /** The backend op that decides where the case runs; null: a composite, run with 'auto' (native where it
   *  can be) against 'reference'; 'host': no backend at all, run once. */
  opId: string | null;
  /** A composite's own native binding (its op id in error messages, and its exports), fuzzed like an op's:
   *  MoELayer's layerForward. */
  binding?: { opId: string; natives: readonly string[] };
  spec: fc.Arbitrary<S>;
  build: (s: S, g: Gen) => Record<string, unknown>;
  mutations: Mutation<S>[];
  run: (args: Record<string, unknown>, o: OpOptions) => R;
  runAsync: (args: Record<string, unknown>, o: OpOptions) => Promise<R>;
  outputs: (r: R) => Record<string, Output>;
  /** Extra comparison with the reference (scalars, near ties); returns a problem or null. May mark the case
   *  as not comparable (e.g. a routing tie flipped by rounding) by returning 'skip'. */
  extra?: (got: R, want: R) => string | 'skip' | null;
}

/** Random data for a case: arrays come from the arena, values from one seeded generator. */
export class Gen {
  readonly arena: Arena;
  constructor(readonly rng: Rng) {
    this.arena = new Arena(rng);
  }

  /** `n` float elements of `dtype` (Uint16Array bits for half types), mostly in [-2, 2], with the occasional
   *  special value: 'all' = NaN, ±inf, ±0, subnormals and huge finite values; 'tame' = the same without the
   *  huge ones (sums of those overflow in f32 but not in the reference's f64: a difference of precision,
   *  not a bug). */
  floats(dtype: FloatDType, n: number, specials: 'all' | 'tame' | false = false, own = false): Float32Array | Uint16Array {
    const a = dtype === 'f32' ? this.arena.alloc('f32', n, own) : this.arena.alloc('u16', n, own);
    const enc = dtype === 'f32' ? (v: number) => v : dtype === 'bf16' ? f32ToBf16 : f32ToF16;
    for (let i = 0; i < n; i++) a[i] = enc(specials && this.rng.int(16) === 0 ? this.special(specials) : this.rng.uniform(-2, 2));
    return a;
  }

  special(kind: 'all' | 'tame'): number {
    const s = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -3e-39, 6e-8, ...(kind === 'all' ? [65504, 70000, 3e38, -1e30] : [])];
    return s[this.rng.int(s.length)]!;
  }

  i32(values: ArrayLike<number>, own = false): Int32Array {
    const a = this.arena.alloc('i32', values.length, own);
    a.set(values);
    return a;
  }

  u8(values: ArrayLike<number>): Uint8Array {
    const a = this.arena.alloc('u8', values.length);
    a.set(values);
    return a;
  }

  /** A fresh output array of `dtype` in its own buffer, marked as an output of the arena. */
  out(dtype: FloatDType, n: number): Float32Array | Uint16Array {
    return this.arena.output(dtype === 'f32' ? this.arena.alloc('f32', n, true) : this.arena.alloc('u16', n, true));
  }

  /** `k` distinct integers from [0, n) in random order. */
  distinct(n: number, k: number): number[] {
    const pool = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < k; i++) {
      const j = i + this.rng.int(n - i);
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    return pool.slice(0, k);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.rng.int(xs.length)]!;
  }
}

// ---- fresh outputs: poisoned, with guard words (what the op allocates through lib/backends/alloc.ts) ----

const POISON: Record<DType, number> = { f32: 0x7fa5a5a5, i32: 0x5a5a5a5a, bf16: 0x7d5a, f16: 0x7d5a };
const GUARD = 40;

/** The raw bits of an output (empty for an empty or detached one: typed-array methods throw on those). */
function bitsOf(a: OutputArray): Uint32Array | Uint16Array {
  if (a.length === 0) return new Uint32Array(0);
  return a instanceof Uint16Array ? a : new Uint32Array(a.buffer, a.byteOffset, a.length);
}

class Poison {
  readonly made: { full: OutputArray; view: OutputArray; dtype: DType }[] = [];
  readonly allocate: Allocator = (dtype, length) => {
    const full = defaultAllocator(dtype, length + 2 * GUARD);
    bitsOf(full).fill(POISON[dtype]);
    const view = full.subarray(GUARD, GUARD + length) as OutputArray;
    this.made.push({ full, view, dtype });
    return view;
  };

  guardError(): string | null {
    for (const m of this.made) {
      const bits = bitsOf(m.full);
      for (let j = 0; j < bits.length; j++) {
        if ((j < GUARD || j >= GUARD + m.view.length) && bits[j] !== POISON[m.dtype]) {
          return `a fresh ${m.dtype}[${m.view.length}] output: guard element ${j - GUARD} overwritten`;
        }
      }
    }
    return null;
  }

  /** An element of a fresh output still poisoned where the reference holds something else. */
  unwritten(outs: Record<string, Output>, ref: Record<string, Output>): string | null {
    for (const [name, o] of Object.entries(outs)) {
      const m = this.made.find((x) => x.view === o.data);
      const r = ref[name];
      if (!m || !r || r.data.length !== o.data.length) continue;
      const got = bitsOf(o.data);
      const want = bitsOf(r.data);
      const i = got.findIndex((b, j) => b === POISON[m.dtype] && want[j] !== b);
      if (i >= 0) return `'${name}' element ${i} was never written`;
    }
    return null;
  }
}

// ---- one case ----

export interface CaseInput<S> {
  spec: S;
  seed: number;
  /** Index into mutations, or null for the valid case. */
  mutation: number | null;
}

interface Attempt<R> {
  args: Record<string, unknown>;
  /** What the call receives: args, or the mutation's replacement. */
  passed: unknown;
  expect: Expect | null;
  arena: Arena;
  poison: Poison;
  result?: R;
  error?: unknown;
  label: string;
  ms?: number;
}

function prepare<S, R>(f: OpFuzz<S, R>, c: CaseInput<S>): Attempt<R> {
  const g = new Gen(new Rng(c.seed));
  const args = f.build(c.spec, g);
  let expect: Expect | null = null;
  let label = 'valid';
  if (c.mutation !== null) {
    const m = f.mutations[c.mutation]!;
    if (!m.when || m.when(c.spec)) {
      expect = m.apply(args, c.spec, g);
      label = m.name;
    }
  }
  const passed = expect && 'replaceArgs' in expect ? expect.replaceArgs : args;
  return { args, passed, expect, arena: g.arena, poison: new Poison(), label };
}

function argName(message: string, prefixes: string[]): string | null {
  for (const p of prefixes) {
    if (message.startsWith(`${p}: '`)) {
      const end = message.indexOf("'", p.length + 3);
      return end < 0 ? null : message.slice(p.length + 3, end);
    }
  }
  return null;
}

/** Problems with an error the call threw, or null when it is a proper argument error. */
function checkError(f: OpFuzz<unknown, unknown>, a: Attempt<unknown>, e: unknown): string | null {
  const msg = e instanceof Error ? e.message : String(e);
  const ctor = e instanceof Error ? e.constructor.name : typeof e;
  if (a.expect === null) return `valid arguments were rejected: ${ctor}: ${msg}`;
  if (ctor !== 'TypeError' && ctor !== 'RangeError') return `threw ${ctor} (not TypeError / RangeError): ${msg}`;
  if (a.expect.must && a.expect.must !== 'error' && a.expect.must !== ctor) return `threw ${ctor}, expected ${a.expect.must}: ${msg}`;
  const name = argName(msg, f.prefixes);
  if (name === null) return `the message does not start with "<op>: '<argument>'": ${ctor}: ${msg}`;
  const root = name.split(/[.[ ]/)[0]!;
  const allowed = a.expect.names ?? ['args', ...Object.keys(a.args)];
  if (!allowed.includes(root)) return `the error names '${name}', expected one of ${allowed.join(', ')}: ${msg}`;
  return null;
}

async function attempt<S, R>(f: OpFuzz<S, R>, c: CaseInput<S>, backend: BackendName, mode: 'sync' | 'async'): Promise<Attempt<R>> {
  const a = prepare(f, c);
  a.arena.snapshot();
  const previous = setAllocator(a.poison.allocate);
  const t0 = performance.now();
  try {
    const args = a.passed as Record<string, unknown>;
    a.result = mode === 'sync' ? f.run(args, { backend }) : await f.runAsync(args, { backend });
  } catch (e) {
    a.error = e;
  } finally {
    setAllocator(previous);
  }
  a.ms = performance.now() - t0;
  return a;
}

/** A case is small: one that runs longer than this (ms) is as bad as a hang (FUZZ_CASE_MS). */
const CASE_MS = Number(process.env.FUZZ_CASE_MS ?? 3000);

const isNaNBits = (dtype: DType, v: number): boolean =>
  dtype === 'f32' ? (v & 0x7fffffff) > 0x7f800000 : dtype === 'bf16' ? (v & 0x7fff) > 0x7f80 : dtype === 'f16' ? (v & 0x7fff) > 0x7c00 : false;

/** Bit equality; with `anyNaN`, NaNs of any sign and payload are equal. The reference needs that: JS does
 *  not define a NaN's bits, and V8 gives different signs from interpreted and optimised code. */
function sameBits(x: Record<string, Output>, y: Record<string, Output>, anyNaN: boolean): string | null {
  for (const [name, o] of Object.entries(x)) {
    const p = y[name];
    if (!p) return `'${name}' missing`;
    const a = bitsOf(o.data);
    const b = bitsOf(p.data);
    const same = (v: number, j: number): boolean => v === b[j] || (anyNaN && isNaNBits(o.dtype, v) && isNaNBits(o.dtype, b[j]!));
    const i = a.length !== b.length ? 0 : a.findIndex((v, j) => !same(v, j));
    if (i >= 0) return `'${name}' differs at element ${i}: bits ${a[i]?.toString(16)} vs ${b[i]?.toString(16)}`;
  }
  return null;
}

export interface CaseReport {
  /** 'ok', 'TypeError', 'RangeError', 'skip' (not comparable, e.g. a routing tie), or 'known <id>'. */
  outcome: string;
  mutation: string;
}

/** Runs one case on `backend` (sync, then async); throws an Error describing the first problem, or returns
 *  the outcome (a failure matching test/fuzz/known.ts counts as 'known <id>'). */
export async function runCase<S, R>(f: OpFuzz<S, R>, c: CaseInput<S>, backend: BackendName): Promise<CaseReport> {
  const fail = (a: Attempt<R>, what: string): never => {
    const known = knownIssue(f.name, backend, a.label, what);
    if (known) throw new KnownIssue(known.id);
    throw new Error(`${f.name} on '${backend}', ${a.label}: ${what}`);
  };
  try {
    return await checkCase(f, c, backend, fail);
  } catch (e) {
    if (e instanceof KnownIssue) return { outcome: `known ${e.id}`, mutation: 'known' };
    throw e;
  }
}

class KnownIssue extends Error {
  constructor(readonly id: string) {
    super(id);
  }
}

async function checkCase<S, R>(f: OpFuzz<S, R>, c: CaseInput<S>, backend: BackendName, fail: (a: Attempt<R>, what: string) => never): Promise<CaseReport> {
  const s = await attempt(f, c, backend, 'sync');
  if (s.ms! > CASE_MS) fail(s, `took ${Math.round(s.ms!)} ms (a small case; limit FUZZ_CASE_MS = ${CASE_MS})`);
  const changed = s.arena.changes() ?? s.poison.guardError();
  if (changed) fail(s, changed);
  let report: CaseReport;
  let outs: Record<string, Output> | null = null;
  if (s.error !== undefined) {
    const problem = checkError(f as OpFuzz<unknown, unknown>, s as Attempt<unknown>, s.error);
    if (problem) fail(s, problem);
    report = { outcome: (s.error as Error).constructor.name, mutation: s.label };
  } else {
    if (s.expect?.must) fail(s, `expected a ${s.expect.must}, but the call succeeded`);
    outs = f.outputs(s.result!);
    // The oracle: the reference on a fresh build of the same case, with the arrays copied apart (an output
    // aliasing an input in the case is separate there, so aliasing that changes the result shows up).
    const r = prepare(f, c);
    let ref: R;
    try {
      ref = f.run(cloneArgs(r.passed) as Record<string, unknown>, { backend: 'reference' });
    } catch (e) {
      return fail(s, `succeeded, but the reference rejects an unaliased copy: ${(e as Error).message}`);
    }
    const refOuts = f.outputs(ref);
    const skip = f.extra?.(s.result!, ref);
    if (skip !== 'skip') {
      if (skip) fail(s, skip);
      for (const [name, o] of Object.entries(outs)) {
        const w = refOuts[name];
        if (!w) fail(s, `output '${name}' is missing from the reference`);
        const e = o.data.length === 0 && w!.data.length === 0 ? null : compare(o, w!, o.measure);
        if (e) fail(s, `'${name}' vs reference: ${e}`);
        if (o.shape && String(o.shape) !== String(w!.shape ?? o.shape)) fail(s, `'${name}' has shape [${o.shape}], the reference [${w!.shape}]`);
        if (o.shape && o.shape.reduce((p, d) => p * d, 1) !== o.data.length) fail(s, `'${name}' has ${o.data.length} elements for shape [${o.shape}]`);
      }
      const unwritten = s.poison.unwritten(outs, refOuts);
      if (unwritten) fail(s, unwritten);
    }
    report = { outcome: skip === 'skip' ? 'skip' : 'ok', mutation: s.label };
  }
  // The async twin: the same outcome, bit for bit.
  const y = await attempt(f, c, backend, 'async');
  if (y.ms! > CASE_MS) fail(y, `async: took ${Math.round(y.ms!)} ms (limit FUZZ_CASE_MS = ${CASE_MS})`);
  const changedAsync = y.arena.changes() ?? y.poison.guardError();
  if (changedAsync) fail(y, `async: ${changedAsync}`);
  if (s.error !== undefined) {
    if (y.error === undefined) fail(y, `async succeeded where sync threw ${(s.error as Error).message}`);
    const same = (y.error as Error).constructor === (s.error as Error).constructor && (y.error as Error).message === (s.error as Error).message;
    if (!same) fail(y, `async threw "${String(y.error)}", sync threw "${String(s.error)}"`);
  } else {
    if (y.error !== undefined) fail(y, `async threw ${String(y.error)} where sync succeeded`);
    const d = sameBits(f.outputs(y.result!), outs!, backend === 'reference');
    if (d) fail(y, `async vs sync: ${d}`);
  }
  return report;
}

/** The fast-check arbitrary of cases for `f`: a valid spec, a data seed, and (three times in four) a mutation. */
export function caseArb<S, R>(f: OpFuzz<S, R>): fc.Arbitrary<CaseInput<S>> {
  return fc.record({
    spec: f.spec,
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
    mutation: fc.option(fc.nat({ max: Math.max(0, f.mutations.length - 1) }), { freq: 4, nil: null }),
  });
}
