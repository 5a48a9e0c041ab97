// unpermute: random consistent routings (a row per FFN slot in random order, rows no slot reads, empty
// slots), zero / copy / constant experts, shared and residual, every dtype, caller outputs; broken row maps
// (out of range, a row twice, a row for an empty or special slot), overlapping special lists, aliasing.

import fc from 'fast-check';
import { unpermute, unpermuteAsync } from '../../../lib/ops/unpermute';
import type { UnpermuteArgs, UnpermuteResult } from '../../../lib/ops/unpermute.types';
import type { FloatDType } from '../../../lib/dtype';
import { TOL, type OpFuzz } from '../core';
import { aliasOut, argsNotObject, badEnum, badNumber, badShape, dataOf, detached, plainObject, wrongArrayType, wrongKind } from '../mutate';

interface Spec {
  tokens: number;
  hidden: number;
  kmax: number;
  ffn: number;
  zero: number;
  copy: number;
  constant: number;
  spareRows: number;
  yType: FloatDType;
  xType: FloatDType;
  outDtype: FloatDType | null;
  shared: boolean;
  residual: boolean;
  out: boolean;
  bare: boolean;
  inputScale: number | null;
}

const DT: FloatDType[] = ['f32', 'bf16', 'f16'];

const spec: fc.Arbitrary<Spec> = fc
  .record({
    tokens: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 150 })),
    hidden: fc.oneof(fc.integer({ min: 0, max: 24 }), fc.constantFrom(31, 32, 33, 64, 65)),
    kmax: fc.integer({ min: 0, max: 5 }),
    ffn: fc.integer({ min: 1, max: 6 }),
    zero: fc.integer({ min: 0, max: 2 }),
    copy: fc.integer({ min: 0, max: 2 }),
    constant: fc.integer({ min: 0, max: 2 }),
    spareRows: fc.integer({ min: 0, max: 3 }),
    yType: fc.constantFrom(...DT),
    xType: fc.constantFrom(...DT),
    outDtype: fc.option(fc.constantFrom(...DT), { nil: null }),
    shared: fc.boolean(),
    residual: fc.boolean(),
    out: fc.boolean(),
    bare: fc.boolean(),
    inputScale: fc.option(fc.constantFrom(1, 2, 0.5, -3), { nil: null }),
  })
  .map((s) => ({ ...s, kmax: Math.min(s.kmax, s.ffn + s.zero + s.copy + s.constant) }));

const experts = (s: Spec): number => s.ffn + s.zero + s.copy + s.constant;
const outType = (s: Spec): FloatDType => s.outDtype ?? s.yType;
const range = (start: number, n: number): number[] => Array.from({ length: n }, (_, i) => start + i);

export const unpermuteFuzz: OpFuzz<Spec, UnpermuteResult> = {
  name: 'unpermute',
  prefixes: ['unpermute'],
  opId: 'unpermute',
  spec,
  build: (s, g) => {
    const T = s.tokens;
    const K = s.kmax;
    const ids: number[] = [];
    for (let t = 0; t < T; t++) for (const e of g.distinct(experts(s), K)) ids.push(g.rng.int(6) === 0 ? -1 : e);
    // One row per FFN slot (some FFN slots have none: an expert on another rank), in a random row order.
    const ffnSlots = ids.flatMap((e, i) => (e >= 0 && e < s.ffn && g.rng.int(8) !== 0 ? [i] : []));
    const R = ffnSlots.length + s.spareRows;
    const order = g.distinct(R, R);
    const slotToRow = new Array<number>(T * K).fill(-1);
    ffnSlots.forEach((slot, i) => (slotToRow[slot] = order[i]!));
    const H = s.hidden;
    const tensor = (data: unknown, shape: number[], dtype: string): unknown => ({ data, shape, dtype });
    const args: Record<string, unknown> = {
      y: tensor(g.floats(s.yType, R * H, 'tame'), [R, H], s.yType),
      ids: s.bare ? g.i32(ids) : tensor(g.i32(ids), [T, K], 'i32'),
      weights: s.bare ? g.floats('f32', T * K) : tensor(g.floats('f32', T * K), [T, K], 'f32'),
      slotToRow: s.bare ? g.i32(slotToRow) : tensor(g.i32(slotToRow), [T, K], 'i32'),
    };
    if (s.zero) args.zeroExperts = range(s.ffn, s.zero);
    if (s.copy) args.copyExperts = g.rng.int(2) ? range(s.ffn + s.zero, s.copy) : Int32Array.from(range(s.ffn + s.zero, s.copy));
    if (s.constant) {
      args.constantExperts = {
        ids: range(s.ffn + s.zero + s.copy, s.constant),
        wc: tensor(g.floats('f32', s.constant * 2 * H), [s.constant, 2, H], 'f32'),
        v: g.floats('f32', s.constant * H),
      };
      (args.constantExperts as { v: unknown }).v = tensor((args.constantExperts as { v: unknown }).v, [s.constant, H], 'f32');
    }
    // A bare routing array needs x, shared or residual for the token count: always give x then.
    if (s.copy || s.constant || s.bare || g.rng.int(4) === 0) args.x = tensor(g.floats(s.xType, T * H), [T, H], s.xType);
    if (s.inputScale !== null) args.inputScale = s.inputScale;
    for (const name of ['shared', 'residual'] as const) {
      if (!s[name]) continue;
      const dt = g.pick(DT);
      args[name] = tensor(g.floats(dt, T * H), [T, H], dt);
    }
    if (s.outDtype !== null) args.outDtype = s.outDtype;
    if (s.out) args.out = g.out(outType(s), T * H);
    return args;
  },
  mutations: [
    argsNotObject(),
    wrongKind('y'),
    wrongKind('ids'),
    wrongKind('weights'),
    wrongKind('slotToRow'),
    wrongKind('zeroExperts', undefined, Array.isArray),
    wrongKind('constantExperts', undefined, plainObject),
    wrongKind('out'),
    wrongArrayType('y'),
    wrongArrayType('ids'),
    wrongArrayType('weights'),
    wrongArrayType('slotToRow'),
    badShape('y'),
    badShape('ids', (s) => !s.bare),
    badShape('x'),
    badShape('residual', (s) => s.residual),
    badEnum('outDtype'),
    // Finite scales only up to 2^16: u = scale · x beyond f32 range overflows the kernel's f32 sums (inf - inf
    // = NaN) where the reference's f64 sums stay finite until the final rounding: range, not a bug.
    badNumber('inputScale', (v) => Number.isFinite(v), undefined, [], (v) => Number.isFinite(v) && Math.abs(v) > 65536),
    detached('y'),
    detached('ids'),
    detached('weights'),
    detached('slotToRow'),
    detached('out', (s) => s.out),
    {
      name: 'slotToRow: out of range, a row twice, or a row for a slot without an FFN expert',
      when: (s) => s.tokens * s.kmax > 0,
      apply: (args, _s, g) => {
        const m = dataOf(args.slotToRow) as Int32Array;
        const y = args.y as { shape: number[] };
        const R = y.shape[0]!;
        const i = g.rng.int(m.length);
        const how = g.rng.int(3);
        if (how === 0) m[i] = g.pick([R, R + 1, -2, 2 ** 31 - 1, -(2 ** 31)]);
        else if (how === 1) {
          const j = g.rng.int(m.length);
          m[i] = m[j] = R > 0 ? g.rng.int(R) : 0;
        } else {
          const ids = dataOf(args.ids) as Int32Array;
          ids[i] = -1;
          m[i] = R > 0 ? g.rng.int(R) : 0;
        }
        return { names: ['slotToRow', 'ids'] };
      },
    },
    {
      name: 'ids: below -1',
      when: (s) => s.tokens * s.kmax > 0,
      apply: (args, _s, g) => {
        const ids = dataOf(args.ids) as Int32Array;
        ids[g.rng.int(ids.length)] = g.pick([-2, -(2 ** 31)]);
        return { must: 'RangeError', names: ['ids'] };
      },
    },
    {
      name: 'weights: infinite',
      when: (s) => s.tokens * s.kmax > 0,
      apply: (args, _s, g) => {
        const w = dataOf(args.weights) as Float32Array;
        w[g.rng.int(w.length)] = g.pick([Infinity, -Infinity]);
        return { must: 'RangeError', names: ['weights'] };
      },
    },
    {
      name: 'special experts listed twice',
      when: (s) => s.zero > 0,
      apply: (args, s) => {
        args.copyExperts = [s.ffn];
        if (!args.x) args.x = { data: new Float32Array(s.tokens * s.hidden), shape: [s.tokens, s.hidden], dtype: 'f32' };
        return { must: 'RangeError', names: ['zeroExperts', 'copyExperts', 'constantExperts', 'slotToRow'] };
      },
    },
    {
      name: 'x missing with copy or constant experts',
      when: (s) => s.copy + s.constant > 0,
      apply: (args) => {
        delete args.x;
        return { must: 'error', names: ['x', 'ids'] };
      },
    },
    {
      name: 'constantExperts: wc or v of the wrong shape',
      when: (s) => s.constant > 0,
      apply: (args, s, g) => {
        const ce = args.constantExperts as Record<string, unknown>;
        if (g.rng.int(2)) ce.wc = { data: g.floats('f32', s.constant * 2 * s.hidden + 1), shape: [s.constant, 2, s.hidden + 1], dtype: 'f32' };
        else ce.v = g.floats('f32', s.constant * s.hidden + 1);
        return { must: 'error', names: ['constantExperts'] };
      },
    },
    {
      name: 'out: wrong length',
      apply: (args, s, g) => {
        args.out = g.out(outType(s), s.tokens * s.hidden + g.pick([1, 5]));
        return { must: 'RangeError', names: ['out'] };
      },
    },
    {
      name: 'out: aliases an input',
      when: (s) => s.tokens * s.hidden > 0,
      apply: (args, s, g) => {
        const targets = ['y', 'x', 'shared', 'residual', 'weights'].filter((k) => (dataOf(args[k])?.byteLength ?? 0) > 0);
        if (!targets.length) return {};
        const target = g.pick(targets);
        aliasOut(g, args, 'out', dataOf(args[target])!, s.tokens * s.hidden, outType(s) === 'f32' ? 'f32' : 'u16');
        return { names: ['out', target] };
      },
    },
  ],
  run: (a, o) => unpermute(a as unknown as UnpermuteArgs, o),
  runAsync: (a, o) => unpermuteAsync(a as unknown as UnpermuteArgs, o),
  outputs: (r) => ({
    out: { data: r.out.data, dtype: r.out.dtype, shape: r.out.shape, measure: { kind: 'relNorm', tol: r.out.dtype === 'f32' ? TOL.f32 : TOL.half } },
  }),
};
