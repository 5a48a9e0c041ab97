// The conformance harness (ggml's test-backend-ops, for us): runs one op's case table on every native
// backend that implements the op and, on the cpu backend, on every SIMD path the machine supports, and
// compares each result with the reference. Around every native run:
//   - outputs come from a poisoning allocator (lib/backends/alloc.ts): every element pre-filled with a
//     pattern no kernel should produce (f32 signalling NaN 0x7fa5a5a5, i32 0x5a5a5a5a, bf16 / f16 0x7d5a),
//     and GUARD elements before and after, which must be intact afterwards; an element still holding the
//     poison where the reference does not was never written;
//   - every typed array reachable from the arguments (outputs excepted) must be unmodified;
//   - the cpu backend runs with 1 and 2 threads, and the results must be bitwise identical;
//   - the async entry must give bitwise the sync result.
// The reference's self-check is bitwise too, except that any NaN matches any NaN: V8 does not fix a NaN's
// sign or payload (its interpreter and optimising tiers differ; a case flipped 0x7fc00000 / 0xffc00000
// between two runs of the same code), and SPEC §0 only asks that NaN propagates. Native outputs keep the
// strict check: C++ is compiled once, so its NaN bits are the same on every run and thread count.
// Skips (no addon, op not implemented natively, SIMD path not supported) are decided in plan(), in one
// place, and show up as skipped tests whose names give the reason. The reference also runs through the
// same checks against itself, so the harness does something useful on a machine without the addon.

import type { OpId, OpOptions } from '../../lib/backends/backend';
import { availableBackends, selectBackend } from '../../lib/backends';
import { Allocator, OutputArray, defaultAllocator, setAllocator } from '../../lib/backends/alloc';
import type { DType } from '../../lib/dtype';
import { loadNative, nativeLoadError } from '../../lib/native';
import { compare, Measure, nanBits } from './measures';

export { TOL, values } from './measures';
export type { Measure } from './measures';

export interface Case<A> {
  /** Printable: what the case covers, e.g. 'f32 -> bf16, n = 4097, random bits'. */
  name: string;
  /** Fresh arguments, called once per run. Create outputs (`out`) here with allocOutput() so that they are
   *  poisoned and guarded; inputs may be shared between runs (they are checked to stay unmodified). */
  args: () => A;
}

export interface Output {
  data: OutputArray;
  dtype: DType;
  measure: Measure;
}

export interface Suite<A, R> {
  op: OpId;
  cases: Case<A>[];
  run(args: A, opts: OpOptions): R;
  runAsync(args: A, opts: OpOptions): Promise<R>;
  /** The outputs to compare, by name. */
  outputs(r: R): Record<string, Output>;
}

export const POISON: Record<DType, number> = { f32: 0x7fa5a5a5, i32: 0x5a5a5a5a, bf16: 0x7d5a, f16: 0x7d5a };
/** Elements of guard on each side: more than one 512-bit vector of any dtype. */
export const GUARD = 64;

/** The raw bits of an output, as unsigned integers (a view, no copy). */
export function bitsOf(a: OutputArray): Uint32Array | Uint16Array {
  return a instanceof Uint16Array ? a : new Uint32Array(a.buffer, a.byteOffset, a.length);
}

interface Allocation {
  full: OutputArray;
  view: OutputArray;
  dtype: DType;
  guard: number;
}

/** An allocator whose arrays are poisoned views inside guarded buffers; check() verifies the guards. */
export class PoisonAllocator {
  readonly allocations: Allocation[] = [];
  readonly allocate: Allocator = (dtype, length) => {
    // 0, 1 or 2 elements off a 64-element boundary: kernels must not assume aligned outputs.
    const guard = GUARD + (this.allocations.length % 3);
    const full = defaultAllocator(dtype, length + 2 * guard);
    bitsOf(full).fill(POISON[dtype]);
    const view = full.subarray(guard, guard + length) as OutputArray;
    this.allocations.push({ full, view, dtype, guard });
    return view;
  };

  /** Messages for every guard element that changed. */
  guardErrors(): string[] {
    const errors: string[] = [];
    for (const [i, a] of this.allocations.entries()) {
      const bits = bitsOf(a.full);
      const end = a.guard + a.view.length;
      for (let j = 0; j < bits.length; j++) {
        if ((j < a.guard || j >= end) && bits[j] !== POISON[a.dtype]) {
          const where = j < a.guard ? `${a.guard - j} element(s) before the start` : `${j - end + 1} element(s) after the end`;
          errors.push(`allocation ${i} (${a.dtype}[${a.view.length}]): guard overwritten ${where}`);
          break;
        }
      }
    }
    return errors;
  }
}

/** Every typed array reachable from `v` (objects and short arrays, a few levels deep). */
export function typedArraysIn(v: unknown, found: ArrayBufferView[] = [], depth = 0): ArrayBufferView[] {
  if (ArrayBuffer.isView(v)) {
    if (!found.includes(v)) found.push(v);
  } else if (depth < 4 && typeof v === 'object' && v !== null && !(Array.isArray(v) && v.length > 64)) {
    for (const x of Object.values(v)) typedArraysIn(x, found, depth + 1);
  }
  return found;
}

const bytes = (v: ArrayBufferView): Uint8Array => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
const overlap = (x: ArrayBufferView, y: ArrayBufferView): boolean =>
  x.buffer === y.buffer && x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength;

/** One run of a case with every check but the comparison; returns the outputs and the problems found. */
async function checkedRun<A, R>(suite: Suite<A, R>, c: Case<A>, opts: OpOptions, mode: 'sync' | 'async',
  ref: Record<string, Output> | null): Promise<{ outs: Record<string, Output>; errors: string[] }> {
  const poison = new PoisonAllocator();
  const previous = setAllocator(poison.allocate);
  let outs: Record<string, Output>;
  let inputs: { view: ArrayBufferView; before: Uint8Array }[];
  try {
    const args = c.args();
    inputs = typedArraysIn(args).map((view) => ({ view, before: bytes(view).slice() }));
    outs = suite.outputs(mode === 'sync' ? suite.run(args, opts) : await suite.runAsync(args, opts));
  } finally {
    setAllocator(previous);
  }
  const errors = poison.guardErrors();
  const outArrays = Object.values(outs).map((o) => o.data);
  for (const { view, before } of inputs) {
    if (outArrays.some((o) => overlap(o, view))) continue; // an output (in place): written on purpose
    const after = bytes(view);
    const i = after.findIndex((b, j) => b !== before[j]);
    if (i >= 0) errors.push(`an input (${view.constructor.name}[${(view as Uint8Array).length}]) was modified at byte ${i}`);
  }
  if (ref) {
    for (const [name, o] of Object.entries(outs)) {
      const r = ref[name];
      if (!r || !poison.allocations.some((a) => a.view === o.data)) continue;
      const got = bitsOf(o.data);
      const want = bitsOf(r.data);
      const p = POISON[o.dtype];
      const i = got.findIndex((b, j) => b === p && want[j] !== p);
      if (i >= 0) errors.push(`'${name}' element ${i} was never written (still holds the poison)`);
    }
  }
  return { outs, errors };
}

/** Messages for every output of `a` whose bits differ from `b`'s; with `anyNaN`, NaN matches NaN. */
export function sameBits(a: Record<string, Output>, b: Record<string, Output>, anyNaN = false): string[] {
  const errors: string[] = [];
  for (const [name, o] of Object.entries(a)) {
    const x = bitsOf(o.data);
    const y = bitsOf(b[name]!.data);
    const same = (v: number, w: number): boolean => v === w || (anyNaN && nanBits(v, o.dtype) && nanBits(w, o.dtype));
    const i = x.length !== y.length ? 0 : x.findIndex((v, j) => !same(v, y[j]!));
    if (i >= 0) errors.push(`'${name}' differs at element ${i}: ${x[i]?.toString(16)} vs ${y[i]?.toString(16)}`);
  }
  return errors;
}

export interface Target {
  backend: 'reference' | 'cpu' | 'cuda';
  /** The SIMD path (cpu only). */
  simd?: 'scalar' | 'avx2' | 'avx512';
  label: string;
}

export interface Skip {
  what: string;
  reason: string;
}

/** Where an op's conformance cases run, and what is skipped and why: the one place skips are decided. */
export function plan(op: OpId): { targets: Target[]; skips: Skip[] } {
  const targets: Target[] = [{ backend: 'reference', label: 'reference (self-check)' }];
  const skips: Skip[] = [];
  const addon = loadNative();
  if (addon === null) {
    skips.push({ what: 'cpu and cuda backends', reason: `the native addon is not loaded: ${(nativeLoadError() ?? '').split('\n')[0]}` });
    return { targets, skips };
  }
  const available = availableBackends();
  for (const backend of ['cpu', 'cuda'] as const) {
    if (!available.includes(backend)) {
      skips.push({ what: `${backend} backend`, reason: backend === 'cuda' ? 'no CUDA backend in this version' : 'not registered' });
      continue;
    }
    try {
      selectBackend(op, backend);
    } catch (e) {
      skips.push({ what: `${backend} backend`, reason: (e as Error).message });
      continue;
    }
    if (backend !== 'cpu') {
      targets.push({ backend, label: backend });
      continue;
    }
    for (const simd of ['scalar', 'avx2', 'avx512'] as const) {
      const got = addon.setSimdPath(simd);
      if (got === simd) targets.push({ backend, simd, label: `cpu/${simd}` });
      else skips.push({ what: `cpu/${simd}`, reason: `this CPU (or MOE_CPU_DISABLE) does not support it; setSimdPath gave '${got}'` });
    }
    addon.setSimdPath('auto');
  }
  return { targets, skips };
}

/** Defines the jest tests of `suite`: one per (target, case). */
export function conformance<A, R>(suite: Suite<A, R>): void {
  const { targets, skips } = plan(suite.op);
  const refs = new Map<Case<A>, Record<string, Output>>();
  const reference = (c: Case<A>): Record<string, Output> => {
    let r = refs.get(c);
    if (!r) refs.set(c, (r = suite.outputs(suite.run(c.args(), { backend: 'reference' }))));
    return r;
  };
  const addon = loadNative();

  describe(`${suite.op} conformance`, () => {
    for (const s of skips) test.skip(`${s.what}: ${s.reason}`, () => undefined);
    afterAll(() => {
      addon?.setSimdPath('auto');
      addon?.setNumThreads(0);
    });
    for (const t of targets) {
      describe(t.label, () => {
        test.each(suite.cases)('$name', async (c) => {
          const ref = reference(c);
          const opts: OpOptions = { backend: t.backend };
          if (t.simd) expect(addon!.setSimdPath(t.simd)).toBe(t.simd);
          const errors: string[] = [];
          const threads = t.backend === 'cpu' ? [1, 2] : [0];
          let first: Record<string, Output> | null = null;
          try {
            for (const n of threads) {
              if (n > 0) addon!.setNumThreads(n);
              const run = await checkedRun(suite, c, opts, 'sync', ref);
              const label = n > 0 ? `${n} thread(s): ` : '';
              errors.push(...run.errors.map((e) => label + e));
              for (const [name, o] of Object.entries(run.outs)) {
                const e = compare(o, ref[name]!, o.measure);
                if (e) errors.push(`${label}'${name}' vs reference: ${e}`);
              }
              if (first) errors.push(...sameBits(run.outs, first).map((e) => `1 vs ${n} threads: ${e}`));
              first ??= run.outs;
            }
            const run = await checkedRun(suite, c, opts, 'async', ref);
            errors.push(...run.errors.map((e) => `async: ${e}`));
            errors.push(...sameBits(run.outs, first!, t.backend === 'reference').map((e) => `async vs sync: ${e}`));
          } finally {
            if (t.backend === 'cpu') addon!.setNumThreads(0);
          }
          expect(errors).toEqual([]);
        });
      });
    }
  });
}
