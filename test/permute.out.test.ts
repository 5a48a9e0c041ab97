// permute with caller-provided outputs (args.out) on every available backend, sync and async: the results
// equal the freshly allocated ones bit for bit, every element of each needed prefix is written (arrays are
// poisoned first, padding rows included), nothing before or past it is touched (guards), inputs stay
// unmodified, the result views point into the caller's memory; permuteCapacity bounds every routing; bad
// outputs are TypeErrors / RangeErrors naming them, thrown before anything is written; an output detached
// while permuteAsync is pending makes it reject.

import fc from 'fast-check';
import { availableBackends, selectBackend } from '../lib/backends';
import type { BackendName } from '../lib/backends/backend';
import { prepare as cudaPrepare } from '../lib/backends/cuda/permute';
import { f32ToBf16, f32ToF16, FloatDType } from '../lib/dtype';
import { permute, permuteAsync, permuteCapacity, validatePermute } from '../lib/ops/permute';
import type { PermuteArgs, PermuteOut, PermuteResult } from '../lib/ops/permute';
import { Rng } from '../lib/random';
import { expectArgError } from './util';

const BACKENDS: BackendName[] = availableBackends().filter((b) => {
  try {
    selectBackend('permute', b);
    return true;
  } catch {
    return false; // e.g. a stale binary without permute: the conformance suite reports that skip
  }
});
const NAMES = ['rows', 'offsets', 'slotToRow', 'rowToToken', 'tokensPerExpert'] as const;
type Name = (typeof NAMES)[number];
const POISON = { f32: 0x7fa5a5a5, half: 0x7d5a, i32: 0x5a5a5a5a };
const GUARD = 19; // elements before each output and past its capacity

interface Spec { T: number; H: number; E: number; k: number; dtype: FloatDType; special?: number; align?: number; scale?: number; map?: boolean }

/** x [T, H] with NaN payloads, -0 and ±inf among normal values (bit copies must keep them). */
function makeArgs(s: Spec, seed: number): PermuteArgs {
  const rng = new Rng(seed);
  const f = Float32Array.from({ length: s.T * s.H }, () => rng.normal());
  const bits = new Uint32Array(f.buffer);
  [0x7fc12345, 0x80000000, 0x7f800000, 0xff800000].forEach((b, i) => { if (i < bits.length) bits[(i * 31) % bits.length] = b; });
  const data = s.dtype === 'f32' ? f : Uint16Array.from(f, s.dtype === 'bf16' ? f32ToBf16 : f32ToF16);
  const total = s.E + (s.special ?? 0);
  const ids = new Int32Array(s.T * s.k).fill(-1);
  for (let t = 0; t < s.T; t++) {
    const perm = Array.from({ length: total }, (_, i) => i);
    for (let j = 0; j < s.k && j < total; j++) {
      const r = j + rng.int(total - j);
      [perm[j], perm[r]] = [perm[r]!, perm[j]!];
      if (rng.next() > 0.15) ids[t * s.k + j] = perm[j]!;
    }
  }
  // Expert parallelism: this rank holds every other FFN expert, in reverse order.
  const map = s.map ? Int32Array.from({ length: total }, (_, g) => (g < s.E && g % 2 === 1 ? (s.E - 1 - g) >> 1 : -1)) : undefined;
  return {
    x: { data, shape: [s.T, s.H], dtype: s.dtype },
    ids: { data: ids, shape: [s.T, s.k], dtype: 'i32' },
    experts: s.map ? s.E >> 1 : s.E,
    ...(s.special || s.map ? { totalExperts: total } : {}),
    ...(map ? { expertMap: map } : {}),
    ...(s.align ? { align: s.align } : {}),
    ...(s.scale !== undefined ? { scale: s.scale } : {}),
  };
}

/** One caller output: `len` usable elements inside a buffer with GUARD poisoned elements on both sides. */
interface Slot { full: Float32Array | Uint16Array | Int32Array; view: Float32Array | Uint16Array | Int32Array; poison: number }
function slot(kind: 'f32' | 'half' | 'i32', len: number): Slot {
  const n = len + 2 * GUARD;
  const full = kind === 'f32' ? new Float32Array(n) : kind === 'i32' ? new Int32Array(n) : new Uint16Array(n);
  const poison = POISON[kind];
  bitsOf(full).fill(poison);
  return { full, view: full.subarray(GUARD, GUARD + len), poison };
}
function bitsOf(a: Float32Array | Uint16Array | Int32Array): Uint32Array | Uint16Array {
  return a instanceof Uint16Array ? a : new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** Outputs of `len(name)` elements for `names`, from x's dtype. */
function outs(a: PermuteArgs, names: readonly Name[], len: (n: Name) => number): { out: PermuteOut; slots: Map<Name, Slot> } {
  const dtype = (a.x as { dtype: FloatDType }).dtype;
  const slots = new Map<Name, Slot>();
  for (const n of names) slots.set(n, slot(n !== 'rows' ? 'i32' : dtype === 'f32' ? 'f32' : 'half', len(n)));
  return { out: Object.fromEntries([...slots].map(([n, s]) => [n, s.view])) as PermuteOut, slots };
}

const capacityOf = (a: PermuteArgs) => {
  const v = validatePermute(a);
  return permuteCapacity({ tokens: v.tokens, hidden: v.hidden, kmax: v.kmax, experts: v.experts, align: v.align });
};
const exactOf = (a: PermuteArgs) => {
  const v = validatePermute(a);
  return { rows: v.rows * v.hidden, offsets: v.experts + 1, slotToRow: v.tokens * v.kmax, rowToToken: v.rows, tokensPerExpert: v.experts };
};

/** Everything an `out` run must satisfy against the freshly allocated result `fresh`. */
function check(res: PermuteResult, fresh: PermuteResult, slots: Map<Name, Slot>): string[] {
  const errors: string[] = [];
  for (const n of NAMES) {
    const got = bitsOf(res[n].data);
    const want = bitsOf(fresh[n].data);
    if (got.length !== want.length) errors.push(`${n}: length ${got.length}, fresh ${want.length}`);
    const i = got.findIndex((b, j) => b !== want[j]);
    if (i >= 0) errors.push(`${n}[${i}]: ${got[i]!.toString(16)} vs fresh ${want[i]!.toString(16)}`);
    expect(res[n].shape).toEqual(fresh[n].shape);
    const s = slots.get(n);
    if (!s) continue;
    // The result is a view onto the caller's memory, starting where the caller's array starts.
    if (res[n].data.buffer !== s.full.buffer || res[n].data.byteOffset !== s.view.byteOffset) errors.push(`${n}: not a view of out.${n}`);
    if (s.view.length === got.length && res[n].data !== s.view) errors.push(`${n}: an exact-length out.${n} is not returned as is`);
    const all = bitsOf(s.full);
    for (let j = 0; j < all.length; j++) {
      const inside = j >= GUARD && j < GUARD + got.length;
      if (!inside && all[j] !== s.poison) {
        errors.push(`out.${n}: element ${j - GUARD} (outside the ${got.length} needed) was touched`);
        break;
      }
    }
  }
  return errors;
}

function snapshot(a: PermuteArgs): () => string[] {
  const arrays: [string, ArrayBufferView][] = [['x', (a.x as { data: ArrayBufferView }).data], ['ids', (a.ids as { data: ArrayBufferView }).data]];
  if (ArrayBuffer.isView(a.expertMap)) arrays.push(['expertMap', a.expertMap]);
  const bytes = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  const before = arrays.map(([n, v]) => [n, bytes(v).slice()] as const);
  return () => before.filter(([, b], i) => !bytes(arrays[i]![1]).every((x, j) => x === b[j])).map(([n]) => `input '${n}' was modified`);
}

const SPECS: Spec[] = [
  { T: 37, H: 33, E: 8, k: 3, dtype: 'f32', special: 2, align: 16 },
  { T: 37, H: 17, E: 8, k: 2, dtype: 'bf16', map: true, special: 1, scale: 0.1 },
  { T: 64, H: 5, E: 16, k: 4, dtype: 'f16', align: 4, scale: 2 },
  { T: 1, H: 1, E: 1, k: 1, dtype: 'f32' },
  { T: 0, H: 9, E: 4, k: 2, dtype: 'bf16', align: 8 },
];

describe.each(BACKENDS)('permute with caller outputs on %s', (backend) => {
  const opts = { backend };
  const named = SPECS.map((s, i) => {
    const name = `${s.dtype} T=${s.T} H=${s.H} E=${s.E} k=${s.k}${s.align ? ` align ${s.align}` : ''}${s.map ? ' map' : ''}`;
    return [name, s, i] as const;
  });
  test.each(named)(
    '%s: exact and capacity-sized, all or some outputs, sync and async', async (_name, s, i) => {
      const a = makeArgs(s, 500 + i);
      const fresh = permute(a, opts);
      expect(fresh.rows.data).toEqual(permute(a, { backend: 'reference' }).rows.data);
      const exact = exactOf(a);
      const cap = capacityOf(a);
      const errors: string[] = [];
      for (const [sizing, len] of [['exact', (n: Name) => exact[n]], ['capacity', (n: Name) => cap[n]]] as const) {
        for (const names of [NAMES, ['rows', 'rowToToken'] as const, ['offsets', 'tokensPerExpert', 'slotToRow'] as const]) {
          for (const mode of ['sync', 'async'] as const) {
            const inputsKept = snapshot(a);
            const { out, slots } = outs(a, names, len);
            const res = mode === 'sync' ? permute({ ...a, out }, opts) : await permuteAsync({ ...a, out }, opts);
            const label = `${sizing}, ${names.join('+')}, ${mode}: `;
            errors.push(...[...check(res, fresh, slots), ...inputsKept()].map((e) => label + e));
          }
        }
      }
      expect(errors).toEqual([]);
    });

  test('the same outputs reused across routings of different row counts give the fresh results', () => {
    const spec: Spec = { T: 50, H: 7, E: 8, k: 2, dtype: 'f32', align: 8 };
    const { out, slots } = outs(makeArgs(spec, 1), NAMES, (n) => capacityOf(makeArgs(spec, 1))[n]);
    const rowCounts = new Set<number>();
    for (let seed = 1; seed <= 6; seed++) {
      const a = makeArgs({ ...spec, k: 1 + (seed % 2) }, seed); // kmax 1 or 2: same out arrays, shorter prefixes
      const res = permute({ ...a, out }, opts);
      rowCounts.add(res.rowToToken.data.length);
      const fresh = permute(a, opts);
      for (const n of NAMES) expect(Array.from(bitsOf(res[n].data))).toEqual(Array.from(bitsOf(fresh[n].data)));
    }
    expect(rowCounts.size).toBeGreaterThan(1);
    for (const s of slots.values()) expect(bitsOf(s.full.subarray(0, GUARD)).every((b) => b === s.poison)).toBe(true);
  });

  test('an output detached while permuteAsync is pending makes it reject', async () => {
    const a = makeArgs({ T: 40, H: 16, E: 4, k: 2, dtype: 'f32', align: 4 }, 7);
    for (const n of NAMES) {
      const { out } = outs(a, NAMES, (m) => capacityOf(a)[m]);
      const p = permuteAsync({ ...a, out }, opts);
      structuredClone(out[n]!.buffer, { transfer: [out[n]!.buffer as ArrayBuffer] });
      await expect(p).rejects.toThrow(/detached/);
    }
  });
});

describe('permuteCapacity', () => {
  test('the worst case: every slot to its own expert, each padded by align - 1', () => {
    // 3 tokens × 2 slots, all 6 to different experts: 6 segments of 1 row, each padded to 4.
    const a: PermuteArgs = { x: { data: new Float32Array(6), shape: [3, 2], dtype: 'f32' },
      ids: { data: Int32Array.of(0, 1, 2, 3, 4, 5), shape: [3, 2], dtype: 'i32' }, experts: 8, align: 4 };
    const cap = permuteCapacity({ tokens: 3, hidden: 2, kmax: 2, experts: 8, align: 4 });
    expect(cap).toEqual({ maxRows: 24, rows: 48, offsets: 9, slotToRow: 6, rowToToken: 24, tokensPerExpert: 8 });
    expect(permute(a).rowToToken.data.length).toBe(cap.maxRows);
    // Fewer experts than slots: at most `experts` segments are padded.
    expect(permuteCapacity({ tokens: 3, hidden: 2, kmax: 2, experts: 2, align: 4 }).maxRows).toBe(6 + 2 * 3);
    expect(permuteCapacity({ tokens: 0, hidden: 5, kmax: 2, experts: 2 }))
      .toEqual({ maxRows: 0, rows: 0, offsets: 3, slotToRow: 0, rowToToken: 0, tokensPerExpert: 2 });
  });

  test('no routing needs more rows than the capacity (fast-check)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 1e6 }), (T, k, E, align, seed) => {
        const a = makeArgs({ T, H: 1, E, k, dtype: 'f32', align }, seed);
        const v = validatePermute(a);
        const cap = permuteCapacity({ tokens: T, hidden: 1, kmax: k, experts: E, align });
        return v.rows <= cap.maxRows && v.rows * v.hidden <= cap.rows;
      }), { numRuns: 300 });
  });

  test('bad arguments name themselves', () => {
    const good = { tokens: 4, hidden: 8, kmax: 2, experts: 4, align: 2 };
    expectArgError(() => permuteCapacity(null as never), TypeError, 'args');
    for (const k of ['tokens', 'hidden', 'kmax', 'experts', 'align'] as const) {
      expectArgError(() => permuteCapacity({ ...good, [k]: -1 }), RangeError, k);
      expectArgError(() => permuteCapacity({ ...good, [k]: 1.5 }), RangeError, k);
      expectArgError(() => permuteCapacity({ ...good, [k]: '2' as never }), TypeError, k);
    }
    expectArgError(() => permuteCapacity({ ...good, experts: 0 }), RangeError, 'experts');
    expect(permuteCapacity(good).maxRows).toBe(8 + 4 * 1);
  });
});

describe('permute: bad outputs', () => {
  const x = { data: Float32Array.of(1, 2, 3, 4, 5, 6), shape: [3, 2], dtype: 'f32' } as const;
  const ids = { data: Int32Array.of(0, 1, 2, -1, 1, 3), shape: [3, 2], dtype: 'i32' } as const;
  const good: PermuteArgs = { x, ids, experts: 3, totalExperts: 4 }; // R = 4 rows
  const withOut = (out: unknown) => () => permute({ ...good, out } as PermuteArgs);

  test('wrong kinds are TypeErrors naming the output', () => {
    expectArgError(withOut(new Float32Array(8)), TypeError, 'out'); // unpermute's bare-array form
    expectArgError(withOut(3), TypeError, 'out');
    expectArgError(withOut(null), TypeError, 'out');
    expectArgError(withOut({ rows: new Uint16Array(8) }), TypeError, 'out.rows'); // x is f32
    expectArgError(withOut({ rows: new Int32Array(8) }), TypeError, 'out.rows');
    expectArgError(withOut({ rows: Array(8).fill(0) }), TypeError, 'out.rows');
    const bf16 = { data: new Uint16Array(6), shape: [3, 2], dtype: 'bf16' } as const;
    expectArgError(() => permute({ ...good, x: bf16, out: { rows: new Float32Array(8) } }), TypeError, 'out.rows');
    for (const n of ['offsets', 'slotToRow', 'rowToToken', 'tokensPerExpert']) {
      expectArgError(withOut({ [n]: new Float32Array(8) }), TypeError, `out.${n}`);
      expectArgError(withOut({ [n]: new Uint32Array(8) }), TypeError, `out.${n}`);
    }
    // A half x takes a Uint16Array for either half dtype.
    expect(() => permute({ ...good, x: { data: new Uint16Array(6), shape: [3, 2], dtype: 'f16' }, out: { rows: new Uint16Array(8) } })).not.toThrow();
  });

  test('a misspelt output is refused rather than silently allocated', () => {
    expectArgError(withOut({ row: new Float32Array(8) }), RangeError, 'out');
    expect(() => permute({ ...good, out: { rows: undefined } })).not.toThrow();
  });

  test('too short is a RangeError naming the output and the length it needs', () => {
    const need = { rows: 8, offsets: 4, slotToRow: 6, rowToToken: 4, tokensPerExpert: 3 };
    for (const [n, len] of Object.entries(need)) {
      const arr = n === 'rows' ? new Float32Array(len - 1) : new Int32Array(len - 1);
      expectArgError(withOut({ [n]: arr }), RangeError, `out.${n}`);
      expect(withOut({ [n]: arr })).toThrow(`at least`);
      expect(() => permute({ ...good, out: { [n]: n === 'rows' ? new Float32Array(len) : new Int32Array(len) } })).not.toThrow();
    }
  });

  test('sharing memory with an input or another output is a RangeError, even partly or past the needed prefix', () => {
    const xs = new Float32Array(64);
    const xt = { data: xs.subarray(0, 6), shape: [3, 2], dtype: 'f32' } as const;
    expectArgError(() => permute({ ...good, x: xt, out: { rows: xs.subarray(4, 30) } }), RangeError, 'out.rows'); // partial
    expectArgError(() => permute({ ...good, x: xt, out: { rows: xs.subarray(0, 6) } }), RangeError, 'out.rows'); // in place
    // Only the unused tail (past R × hidden = 8) overlaps x: still refused, so acceptance does not depend on
    // the routing's R.
    const xTail = { data: xs.subarray(30, 36), shape: [3, 2], dtype: 'f32' } as const;
    expectArgError(() => permute({ ...good, x: xTail, out: { rows: xs.subarray(0, 40) } }), RangeError, 'out.rows');
    expect(() => permute({ ...good, x: xTail, out: { rows: xs.subarray(0, 30) } })).not.toThrow();
    expect(() => permute({ ...good, x: xt, out: { rows: xs.subarray(6, 14) } })).not.toThrow(); // adjacent is fine

    const is = new Int32Array(64);
    is.set(ids.data);
    const it = { data: is.subarray(0, 6), shape: [3, 2], dtype: 'i32' } as const;
    expectArgError(() => permute({ ...good, ids: it, out: { slotToRow: is.subarray(3, 9) } }), RangeError, 'out.slotToRow');
    expectArgError(() => permute({ ...good, ids: it, out: { offsets: is.subarray(0, 4) } }), RangeError, 'out.offsets');
    expect(withOut({ slotToRow: is.subarray(6, 12) })).not.toThrow(); // a different ids array: no overlap

    const map = Int32Array.of(0, 1, 2, -1, 0, 0, 0, 0);
    const mapped = { ...good, expertMap: map.subarray(0, 4) };
    expectArgError(() => permute({ ...mapped, out: { tokensPerExpert: map.subarray(2, 5) } }), RangeError, 'out.tokensPerExpert');
    expect(() => permute({ ...mapped, out: { tokensPerExpert: map.subarray(4, 7) } })).not.toThrow();

    // One arena carved into disjoint outputs is fine; two outputs sharing a byte are not.
    const arena = new Int32Array(64);
    const carved = { offsets: arena.subarray(0, 4), slotToRow: arena.subarray(4, 10), rowToToken: arena.subarray(10, 14),
      tokensPerExpert: arena.subarray(14, 17) };
    expect(() => permute({ ...good, out: carved })).not.toThrow();
    expectArgError(withOut({ offsets: arena.subarray(0, 4), slotToRow: arena.subarray(3, 9) }), RangeError, 'out.slotToRow');
    expectArgError(withOut({ rowToToken: arena.subarray(0, 4), tokensPerExpert: arena.subarray(0, 4) }), RangeError, 'out.tokensPerExpert');
    const floats = new Float32Array(arena.buffer);
    expectArgError(withOut({ rows: floats.subarray(0, 8), rowToToken: arena.subarray(7, 11) }), RangeError, 'out.rowToToken');
  });

  test('a detached output is a RangeError', () => {
    const rows = new Float32Array(8);
    structuredClone(rows.buffer, { transfer: [rows.buffer] });
    expectArgError(withOut({ rows }), RangeError, 'out.rows');
    // Even when nothing would be written to it (no tokens: 0 rows).
    const empty = { x: { data: new Float32Array(0), shape: [0, 2], dtype: 'f32' },
      ids: { data: new Int32Array(0), shape: [0, 2], dtype: 'i32' }, experts: 2 } as const;
    expectArgError(() => permute({ ...empty, out: { rows } }), RangeError, 'out.rows');
    expect(() => permute({ ...empty, out: { rows: new Float32Array(0) } })).not.toThrow();
  });

  test('a refused call writes nothing, and permuteAsync rejects with the same error', async () => {
    const slotToRow = new Int32Array(6).fill(7);
    const offsets = new Int32Array(4).fill(7);
    expectArgError(withOut({ offsets, slotToRow, rows: new Float32Array(7) }), RangeError, 'out.rows');
    expect(Array.from(slotToRow)).toEqual([7, 7, 7, 7, 7, 7]);
    expect(Array.from(offsets)).toEqual([7, 7, 7, 7]);
    await expect(permuteAsync({ ...good, out: { offsets, rows: new Float32Array(7) } })).rejects.toThrow(/^permute: 'out.rows' must have at least/);
    expect(Array.from(offsets)).toEqual([7, 7, 7, 7]);
  });
});

test('the cuda wiring hands the binding the caller outputs, cut to their exact lengths', () => {
  // Runs without a GPU: prepare() only builds the binding's arguments.
  const x = { data: new Float32Array(6), shape: [3, 2], dtype: 'f32' } as const;
  const ids = { data: Int32Array.of(0, 1, 2, -1, 1, 0), shape: [3, 2], dtype: 'i32' } as const;
  const out = { rows: new Float32Array(40), offsets: new Int32Array(3), slotToRow: new Int32Array(6), rowToToken: new Int32Array(20),
    tokensPerExpert: new Int32Array(2) };
  const v = validatePermute({ x, ids, experts: 2, totalExperts: 3, align: 4, out }); // R = 8
  const { args, result } = cudaPrepare(v);
  expect(args.rowsCapacity).toBe(8);
  const r = result();
  for (const n of NAMES) {
    const given = (args as unknown as Record<Name, ArrayBufferView>)[n];
    expect(given).toBe(r[n].data);
    expect(given.buffer).toBe(out[n].buffer);
    expect((given as Int32Array).length).toBe(n === 'rows' ? 16 : n === 'rowToToken' ? 8 : out[n].length);
  }
  expect(r.offsets.data).toBe(out.offsets); // exact length: the caller's array itself
});
