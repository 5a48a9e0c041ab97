// Fuzz of the native bindings themselves, below lib/ops validation: the binding is the last line of defence
// (ARCHITECTURE.md), so a caller that bypasses lib/ (or a stale build) must get an error, never a crash or a
// write out of bounds. A case takes the args object the cpu wiring passes to the addon for a valid op call,
// breaks one field (a typed array shorter, longer, empty, detached, of another type or aliasing another
// field, or a getter that shrinks another array's resizable buffer when the binding reads it; a size NaN, negative, fractional, huge or off by one; an id or offset out of range; a dtype name
// unknown or swapped), moves every array into a guarded buffer, and calls the sync and async exports.
// The call must return, or throw / reject with a TypeError, RangeError or Error whose message starts with
// the op id; the guard bytes around every array must be intact afterwards.

import fc from 'fast-check';
import { loadNative } from '../../lib/native';
import { Rng } from '../../lib/random';
import { Gen, type OpFuzz } from './core';
import { detach } from './arena';
import { knownBindingIssue } from './known';

type Native = Record<string, (a: Record<string, unknown>) => unknown>;
type View = Float32Array | Uint16Array | Int32Array | Uint8Array;

const GUARD = 64;

/** True while the binding is being called: a shrinking getter (mutation 7) acts only then. */
let calling = false;

/** The args objects the wiring passed to the addon's sync functions during `call`. */
function capture(addon: Native, names: readonly string[], call: () => void): { name: string; args: Record<string, unknown> }[] {
  const seen: { name: string; args: Record<string, unknown> }[] = [];
  const saved = names.map((n) => [n, addon[n]!] as const);
  for (const [n, fn] of saved) {
    if (n.endsWith('Async')) continue;
    addon[n] = (a) => {
      seen.push({ name: n, args: { ...a } });
      return fn(a);
    };
  }
  try {
    call();
  } finally {
    for (const [n, fn] of saved) addon[n] = fn;
  }
  return seen;
}

/** A copy of `v` inside a buffer with GUARD bytes of a known pattern on each side. */
function guarded(v: View, guards: { buf: Uint8Array; start: number; end: number }[]): View {
  const C = v.constructor as new (b: ArrayBuffer, o: number, n: number) => View;
  const size = v.BYTES_PER_ELEMENT;
  const buffer = new ArrayBuffer(v.byteLength + 2 * GUARD);
  const all = new Uint8Array(buffer);
  all.fill(0xc3);
  const copy = new C(buffer, GUARD, v.length);
  if (v.length) copy.set(v as never);
  guards.push({ buf: all, start: GUARD, end: GUARD + v.length * size });
  return copy;
}

// An ES2024 resizable ArrayBuffer (Node 20 has them; this project's TypeScript lib has not their types).
type Resizable = ArrayBuffer & { resize(bytes: number): void };
const resizable = (bytes: number, max: number): Resizable =>
  new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable)(bytes, { maxByteLength: max });

const BAD_NUMBERS = [NaN, -1, 0.5, 2 ** 31, 2 ** 31 - 1, 2 ** 32 + 1, 2 ** 53, 1e300, -0, Infinity, -Infinity];

/** Breaks one field of `a` in place; returns the field and a description. */
function mutate(a: Record<string, unknown>, rng: Rng): { key: string; what: string } {
  const keys = Object.keys(a);
  const key = keys[rng.int(keys.length)]!;
  return { key, what: mutateField(a, key, keys, rng) };
}

function mutateField(a: Record<string, unknown>, key: string, keys: string[], rng: Rng): string {
  const v = a[key];
  const g = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  if (ArrayBuffer.isView(v)) {
    const arr = v as View;
    const C = arr.constructor as new (n: number) => View;
    const how = rng.int(9);
    if (how === 0) a[key] = new C(Math.max(0, arr.length - 1 - rng.int(3)));
    else if (how === 1) a[key] = new C(arr.length + 1 + rng.int(3));
    else if (how === 2) a[key] = new C(0);
    else if (how === 3) a[key] = new (g([Float64Array, Uint8Array, Int8Array, Float32Array, Uint16Array, Int32Array, Uint32Array]))(arr.length);
    else if (how === 4) detach(arr);
    else if (how === 5) a[key] = g(['x', 3, null, undefined, [1, 2], {}]);
    else if (how === 6 && arr instanceof Int32Array && arr.length) arr[rng.int(arr.length)] = g([-2, -(2 ** 31), 2 ** 31 - 1, arr.length, 1 << 20, 7]);
    else if (how === 7) {
      // Reading this field shrinks another array, made a length-tracking view of a resizable buffer (it
      // leaves its guarded copy): read before, it must be caught; read after, it is just short.
      const others = keys.filter((k) => k !== key && ArrayBuffer.isView(a[k]) && (a[k] as View).length > 0);
      if (!others.length) return `${key}: unchanged`;
      const ok = g(others);
      const o = a[ok] as View;
      // The array starts 1 MiB in, so a shrink returns whole pages to the OS: a kernel that still used the old
      // length crashed (a binding that trusted the length it read first).
      const at = 1 << 20;
      const rab = resizable(at + o.byteLength, at + o.byteLength);
      const view = new (o.constructor as new (b: ArrayBuffer, off: number) => View)(rab, at);
      view.set(o as never);
      a[ok] = view;
      const to = at + g([0, Math.floor(o.length / 2), o.length - 1]) * o.BYTES_PER_ELEMENT;
      const value = a[key];
      Object.defineProperty(a, key, { get: () => { if (calling) rab.resize(to); return value; }, enumerable: true, configurable: true });
      return `${key}: its getter shrinks '${ok}' to ${to - at} bytes`;
    }
    else {
      // Alias another array field (an output onto an input or the reverse), or a shifted view of the same buffer.
      const others = keys.filter((k) => k !== key && ArrayBuffer.isView(a[k]));
      if (!others.length) return `${key}: unchanged`;
      const o = a[g(others)] as View;
      const C2 = arr.constructor as new (b: ArrayBuffer, off: number, n: number) => View;
      const size = arr.BYTES_PER_ELEMENT;
      const off = Math.ceil(o.byteOffset / size) * size;
      const n = Math.min(arr.length, Math.floor((o.byteOffset + o.byteLength - off) / size)); // inside o, not its guards
      a[key] = new C2(o.buffer as ArrayBuffer, off, Math.max(0, n));
      return `${key}: aliases another field`;
    }
    return `${key}: array mutation ${how}`;
  }
  if (typeof v === 'number') {
    a[key] = g([...BAD_NUMBERS, v + 1, v - 1, v * 2 + 1, String(v), undefined]);
    return `${key}: ${String(a[key])} (was ${v})`;
  }
  if (typeof v === 'string') {
    a[key] = g(['f32', 'bf16', 'f16', 'i32', 'F32', '', 'halves', 'none', 7, undefined]);
    return `${key}: ${String(a[key])} (was ${v})`;
  }
  if (typeof v === 'boolean') {
    a[key] = g([!v, 1, 'true', undefined]);
    return `${key}: ${String(a[key])}`;
  }
  delete a[key];
  return `${key}: deleted`;
}

export interface BindingReport {
  cases: number;
  outcomes: Record<string, number>;
  failure: string | null;
}

/** Fuzzes the cpu binding of `f`'s op; `progress` is told each case before it runs. */
export async function fuzzBinding(f: OpFuzz<unknown, unknown>, natives: readonly string[], runs: number, seed: number,
  progress: (what: string) => void): Promise<BindingReport> {
  const addon = loadNative() as unknown as Native;
  const opId = f.binding?.opId ?? f.opId!;
  const report: BindingReport = { cases: 0, outcomes: {}, failure: null };
  const valid = fc.record({ spec: f.spec, seed: fc.integer({ min: 1, max: 0x7fffffff }) });
  const property = fc.asyncProperty(valid, fc.integer({ min: 1, max: 0x7fffffff }), async (c, mseed) => {
    const g = new Gen(new Rng(c.seed));
    const args = f.build(c.spec, g);
    const calls = capture(addon, natives, () => void f.run(args, { backend: 'cpu' }));
    if (!calls.length) return;
    const { name, args: native } = calls[calls.length - 1]!;
    for (const mode of ['sync', 'async'] as const) {
      const rng = new Rng(mseed);
      const guards: { buf: Uint8Array; start: number; end: number }[] = [];
      const a: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(native)) a[k] = ArrayBuffer.isView(v) ? guarded(v as View, guards) : v;
      const { key, what } = mutate(a, rng);
      const known = knownBindingIssue(opId, key, a[key]);
      if (known) {
        report.outcomes[`known ${known.id}`] = (report.outcomes[`known ${known.id}`] ?? 0) + 1;
        continue;
      }
      progress(`${name} (${mode}) ${what}; case ${JSON.stringify(c)} mutation seed ${mseed}`);
      let outcome = 'ok';
      try {
        calling = true;
        const done = mode === 'sync' ? addon[name]!(a) : addon[`${name}Async`]!(a);
        calling = false;
        await done;
      } catch (e) {
        calling = false;
        const err = e as Error;
        const cls = err?.constructor?.name;
        if (!['TypeError', 'RangeError', 'Error'].includes(cls) || !String(err.message).startsWith(`${opId}: `)) {
          throw new Error(`${name} (${mode}) with ${what}: threw ${cls}: ${err?.message ?? String(e)}`);
        }
        outcome = cls;
      }
      for (const gd of guards) {
        if (gd.buf.byteLength === 0) continue; // detached by the mutation
        for (let i = 0; i < gd.buf.length; i++) {
          if ((i < gd.start || i >= gd.end) && gd.buf[i] !== 0xc3) {
            throw new Error(`${name} (${mode}) with ${what}: wrote outside an array (${i < gd.start ? gd.start - i : i - gd.end + 1} bytes ${i < gd.start ? 'before' : 'after'})`);
          }
        }
      }
      report.cases++;
      report.outcomes[`${mode} ${outcome}`] = (report.outcomes[`${mode} ${outcome}`] ?? 0) + 1;
    }
  });
  const r = await fc.check(property, { numRuns: runs, seed, endOnFailure: true });
  if (r.failed) {
    const err = r.errorInstance instanceof Error ? r.errorInstance.message : String(r.errorInstance);
    report.failure = `${err}\n  counterexample: ${JSON.stringify(r.counterexample)}\n  reproduce: FUZZ_SEED=${seed}`;
  }
  return report;
}
