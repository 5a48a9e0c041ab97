// permute: random routings (empty slots, zero-computation ids, expert maps for expert parallelism),
// padding, scaling, every dtype; broken ids (out of range, repeated), bad sizes, detached buffers.

import fc from 'fast-check';
import { permute, permuteAsync } from '../../../lib/ops/permute';
import type { PermuteArgs, PermuteResult } from '../../../lib/ops/permute.types';
import type { FloatDType } from '../../../lib/dtype';
import type { OpFuzz } from '../core';
import { alsoNames, argsNotObject, badNumber, badShape, dataOf, detached, wrongArrayType, wrongKind } from '../mutate';

interface Spec {
  tokens: number;
  hidden: number;
  experts: number;
  special: number;
  kmax: number;
  dtype: FloatDType;
  empty: number;
  align: number | null;
  scale: number | null;
  map: boolean;
  bareIds: boolean;
}

const spec = fc
  .record({
    tokens: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 300 })),
    hidden: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(0, 1, 63, 64, 65, 257)),
    experts: fc.integer({ min: 1, max: 9 }),
    special: fc.integer({ min: 0, max: 3 }),
    kmax: fc.integer({ min: 0, max: 6 }),
    dtype: fc.constantFrom<FloatDType>('f32', 'bf16', 'f16'),
    empty: fc.constantFrom(0, 0.2, 0.9),
    align: fc.option(fc.constantFrom(1, 2, 3, 8, 16), { nil: null }),
    scale: fc.option(fc.constantFrom(1, 2, 0.5, -1.25, 0), { nil: null }),
    map: fc.boolean(),
    bareIds: fc.boolean(),
  })
  .map((s) => ({ ...s, kmax: Math.min(s.kmax, s.experts + s.special) }));

const total = (s: Spec): number => s.experts + s.special;

export const permuteFuzz: OpFuzz<Spec, PermuteResult> = {
  name: 'permute',
  prefixes: ['permute'],
  opId: 'permute',
  spec,
  build: (s, g) => {
    const ids: number[] = [];
    for (let t = 0; t < s.tokens; t++) {
      for (const e of g.distinct(total(s), s.kmax)) ids.push(g.rng.next() < s.empty ? -1 : e);
    }
    const x = { data: g.floats(s.dtype, s.tokens * s.hidden, 'all'), shape: [s.tokens, s.hidden], dtype: s.dtype };
    const idData = g.i32(ids);
    const args: Record<string, unknown> = {
      x,
      ids: s.bareIds ? idData : { data: idData, shape: [s.tokens, s.kmax], dtype: 'i32' },
      experts: s.experts,
    };
    if (s.special > 0 || g.rng.int(3) === 0) args.totalExperts = total(s);
    if (s.map) {
      // Expert parallelism: each global id goes to one of `experts` local segments or is not here (-1).
      args.expertMap = Array.from({ length: total(s) }, () => (g.rng.int(4) === 0 ? -1 : g.rng.int(s.experts)));
      // A global -> local map must be one-to-one on this rank's experts for the segments to be stable.
      const seen = new Set<number>();
      args.expertMap = (args.expertMap as number[]).map((v) => (v < 0 || seen.has(v) ? -1 : (seen.add(v), v)));
    }
    if (s.align !== null) args.align = s.align;
    if (s.scale !== null) args.scale = s.scale;
    return args;
  },
  mutations: [
    argsNotObject(),
    wrongKind('x'),
    wrongKind('ids'),
    wrongKind('experts'),
    wrongArrayType('x'),
    wrongArrayType('ids'),
    badShape('x'),
    badShape('ids', (s) => !s.bareIds),
    detached('x'),
    detached('ids'),
    // A valid but larger experts may disagree with totalExperts / expertMap: those are named then.
    alsoNames(badNumber('experts', (v) => Number.isInteger(v) && v >= 1 && v <= 1 << 20), ['totalExperts', 'expertMap']),
    // Valid when it covers every id and no expertMap fixes another count.
    alsoNames(badNumber('totalExperts', (v, s) => Number.isInteger(v) && v >= total(s) && v <= 1 << 20 && !s.map, undefined, [0]), ['expertMap', 'ids']),
    badNumber('align', (v) => Number.isInteger(v) && v >= 1 && v <= 1 << 16),
    badNumber('scale', (v) => Number.isFinite(v)),
    {
      name: 'ids: an id out of range',
      when: (s) => s.tokens * s.kmax > 0,
      apply: (args, s, g) => {
        const d = dataOf(args.ids) as Int32Array;
        d[g.rng.int(d.length)] = g.pick([total(s), total(s) + 1, -2, 2 ** 31 - 1, -(2 ** 31), 1 << 20]);
        return { must: 'RangeError', names: ['ids'] };
      },
    },
    {
      name: 'ids: an expert twice in a row',
      when: (s) => s.tokens > 0 && s.kmax > 1,
      apply: (args, s, g) => {
        const d = dataOf(args.ids) as Int32Array;
        const t = g.rng.int(s.tokens);
        const e = g.rng.int(total(s));
        d[t * s.kmax] = e;
        d[t * s.kmax + 1] = e;
        return { must: 'RangeError', names: ['ids'] };
      },
    },
    {
      name: 'expertMap: wrong length, value or kind',
      apply: (args, s, g) => {
        const m = Array.from({ length: total(s) }, (_, i) => (i < s.experts ? i : -1));
        const how = g.rng.int(4);
        if (how === 0) m.push(-1);
        else if (how === 1) m[g.rng.int(m.length)] = g.pick([s.experts, -2, 0.5, NaN]);
        args.expertMap = how === 2 ? new Float32Array(m) : how === 3 ? 'map' : m;
        if (how === 0) delete args.totalExperts;
        const tooLong = how === 0 && args.totalExperts !== undefined;
        return how === 0 && !tooLong ? { names: ['expertMap', 'ids'] } : { must: 'error', names: ['expertMap', 'totalExperts'] };
      },
    },
    {
      name: 'totalExperts below experts',
      when: (s) => s.experts > 1,
      apply: (args, s) => {
        args.totalExperts = s.experts - 1;
        return { must: 'RangeError', names: ['totalExperts'] };
      },
    },
    {
      name: 'tokens huge with zero hidden and zero slots',
      apply: (args, s, g) => {
        const tokens = g.pick([2 ** 31, 2 ** 40, 2 ** 53, 1e300]);
        args.x = { data: g.floats(s.dtype, 0), shape: [tokens, 0], dtype: s.dtype };
        args.ids = { data: g.i32([]), shape: [tokens, 0], dtype: 'i32' };
        delete args.expertMap;
        delete args.totalExperts;
        return {};
      },
    },
  ],
  run: (a, o) => permute(a as unknown as PermuteArgs, o),
  runAsync: (a, o) => permuteAsync(a as unknown as PermuteArgs, o),
  outputs: (r) => ({
    rows: { data: r.rows.data, dtype: r.rows.dtype, shape: r.rows.shape, measure: { kind: 'bits' } },
    offsets: { data: r.offsets.data, dtype: 'i32', shape: r.offsets.shape, measure: { kind: 'exact' } },
    slotToRow: { data: r.slotToRow.data, dtype: 'i32', shape: r.slotToRow.shape, measure: { kind: 'exact' } },
    rowToToken: { data: r.rowToToken.data, dtype: 'i32', shape: r.rowToToken.shape, measure: { kind: 'exact' } },
    tokensPerExpert: { data: r.tokensPerExpert.data, dtype: 'i32', shape: r.tokensPerExpert.shape, measure: { kind: 'exact' } },
  }),
};
