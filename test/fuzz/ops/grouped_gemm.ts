// grouped_gemm: random segment tables (empty experts, one expert without offsets), K and N around the SIMD
// widths, every dtype mix, every activation and GLU layout, bias and addend, caller outputs; broken offsets
// (not starting at 0, decreasing, not ending at rows), mismatched shapes, aliasing outputs.

import fc from 'fast-check';
import { groupedGemm, groupedGemmAsync } from '../../../lib/ops/grouped_gemm';
import { ACTIVATIONS, type Activation, type GroupedGemmArgs, type GroupedGemmResult } from '../../../lib/ops/grouped_gemm.types';
import type { FloatDType } from '../../../lib/dtype';
import { TOL, type OpFuzz } from '../core';
import { aliasOut, argsNotObject, badEnum, badShape, dataOf, detached, wrongArrayType, wrongKind } from '../mutate';

interface Spec {
  counts: number[];
  k: number;
  n: number;
  aType: FloatDType;
  wType: FloatDType;
  outDtype: FloatDType | null;
  activation: Activation;
  layout: 'halves' | 'interleaved' | null;
  bias: boolean;
  addend: boolean;
  out: boolean;
  offsetsForm: 'tensor' | 'bare' | 'omit';
}

const DT: FloatDType[] = ['f32', 'bf16', 'f16'];
const isGlu = (a: Activation): boolean => a === 'swiglu' || a === 'geglu';

const spec: fc.Arbitrary<Spec> = fc
  .record({
    counts: fc.array(fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 5 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 40 }) }), { minLength: 1, maxLength: 5 }),
    k: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constantFrom(31, 32, 33, 64, 65, 100)),
    n: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constantFrom(16, 17, 32, 34, 48)),
    aType: fc.constantFrom(...DT),
    wType: fc.constantFrom(...DT),
    outDtype: fc.option(fc.constantFrom(...DT), { nil: null }),
    activation: fc.constantFrom(...ACTIVATIONS),
    layout: fc.option(fc.constantFrom('halves' as const, 'interleaved' as const), { nil: null }),
    bias: fc.boolean(),
    addend: fc.boolean(),
    out: fc.boolean(),
    offsetsForm: fc.constantFrom('tensor' as const, 'bare' as const, 'omit' as const),
  })
  .map((s) => ({
    ...s,
    n: isGlu(s.activation) ? s.n + (s.n % 2) : s.n,
    offsetsForm: s.offsetsForm === 'omit' && s.counts.length > 1 ? 'tensor' : s.offsetsForm,
  }));

const rows = (s: Spec): number => s.counts.reduce((p, c) => p + c, 0);
const nOut = (s: Spec): number => (isGlu(s.activation) ? s.n / 2 : s.n);
const outType = (s: Spec): FloatDType => s.outDtype ?? s.aType;

function offsetsOf(counts: number[]): number[] {
  const o = [0];
  for (const c of counts) o.push(o[o.length - 1]! + c);
  return o;
}

export const groupedGemmFuzz: OpFuzz<Spec, GroupedGemmResult> = {
  name: 'grouped_gemm',
  prefixes: ['grouped_gemm'],
  opId: 'grouped_gemm',
  spec,
  build: (s, g) => {
    const E = s.counts.length;
    const R = rows(s);
    const args: Record<string, unknown> = {
      a: { data: g.floats(s.aType, R * s.k, 'tame'), shape: [R, s.k], dtype: s.aType },
      w: { data: g.floats(s.wType, E * s.n * s.k), shape: [E, s.n, s.k], dtype: s.wType },
      activation: s.activation,
    };
    const off = g.i32(offsetsOf(s.counts));
    if (s.offsetsForm === 'tensor') args.offsets = { data: off, shape: [E + 1], dtype: 'i32' };
    if (s.offsetsForm === 'bare') args.offsets = off;
    if (s.layout !== null) args.gluLayout = s.layout;
    if (s.outDtype !== null) args.outDtype = s.outDtype;
    if (s.bias) args.bias = { data: g.floats('f32', E * s.n), shape: [E, s.n], dtype: 'f32' };
    if (s.addend) args.addend = g.floats('f32', R * s.n);
    if (s.out) args.out = g.out(outType(s), R * nOut(s));
    return args;
  },
  mutations: [
    argsNotObject(),
    wrongKind('a'),
    wrongKind('w'),
    wrongKind('offsets'),
    wrongKind('activation', undefined, (v) => typeof v === 'string'),
    wrongKind('out'),
    wrongArrayType('a'),
    wrongArrayType('w'),
    wrongArrayType('offsets', (s) => s.offsetsForm !== 'omit'),
    wrongArrayType('out', (s) => s.out),
    badShape('a'),
    badShape('w'),
    badShape('bias', (s) => s.bias),
    badEnum('activation'),
    badEnum('gluLayout'),
    badEnum('outDtype'),
    detached('a'),
    detached('w'),
    detached('offsets', (s) => s.offsetsForm !== 'omit'),
    detached('out', (s) => s.out),
    {
      name: 'offsets: do not add up (start, order, end)',
      when: (s) => s.offsetsForm !== 'omit',
      apply: (args, s, g) => {
        const d = dataOf(args.offsets) as Int32Array;
        const i = g.rng.int(d.length);
        d[i] = g.pick([d[i]! + 1, d[i]! - 1, -1, 2 ** 31 - 1, -(2 ** 31), rows(s) + 1]);
        // Some changes still describe a valid table (e.g. moving an inner boundary): then it must be right.
        return { names: ['offsets'] };
      },
    },
    {
      name: 'offsets: wrong length',
      apply: (args, s, g) => {
        const o = offsetsOf(s.counts);
        if (g.rng.int(2)) o.push(rows(s));
        else o.shift();
        args.offsets = g.rng.int(2) ? g.i32(o) : { data: g.i32(o), shape: [o.length], dtype: 'i32' };
        return { must: 'error', names: ['offsets'] };
      },
    },
    {
      name: 'w: k differs from a',
      apply: (args, s, g) => {
        const E = s.counts.length;
        const k = s.k + 1;
        args.w = { data: g.floats(s.wType, E * s.n * k), shape: [E, s.n, k], dtype: s.wType };
        return { must: 'RangeError', names: ['w'] };
      },
    },
    {
      name: 'w: odd n for a GLU',
      apply: (args, s, g) => {
        const E = s.counts.length;
        const n = s.n + 1;
        args.w = { data: g.floats(s.wType, E * n * s.k), shape: [E, n, s.k], dtype: s.wType };
        args.activation = g.pick(['swiglu', 'geglu']);
        delete args.out;
        delete args.bias;
        delete args.addend;
        return n % 2 ? { must: 'RangeError', names: ['w'] } : {};
      },
    },
    {
      name: 'out: wrong length',
      apply: (args, s, g) => {
        args.out = g.out(outType(s), R1(s) + g.pick([1, 2, 9]));
        return { must: 'RangeError', names: ['out'] };
      },
    },
    {
      name: 'out: aliases an input',
      when: (s) => rows(s) * nOut(s) > 0,
      apply: (args, s, g) => {
        const targets = ['a', 'w', 'bias', 'addend'].filter((k) => dataOf(args[k]) && (dataOf(args[k])!.byteLength > 0));
        if (!targets.length) return {}; // k = 0: every input is empty
        aliasOut(g, args, 'out', dataOf(args[g.pick(targets)])!, rows(s) * nOut(s), outType(s) === 'f32' ? 'f32' : 'u16');
        return { names: ['out'] };
      },
    },
    {
      name: 'addend / bias: wrong length',
      apply: (args, s, g) => {
        if (g.rng.int(2)) args.addend = g.floats('f32', rows(s) * s.n + 1);
        else args.bias = { data: g.floats('f32', s.counts.length * s.n + 1), shape: [s.counts.length, s.n + 1], dtype: 'f32' };
        return { must: 'RangeError', names: ['addend', 'bias'] };
      },
    },
    {
      name: 'rows huge with zero k and n',
      apply: (args, s, g) => {
        // Not 2^31 - 1: the reference loops over every empty row (13 s; test/fuzz/findings.test.ts).
        const r = g.pick([1 << 24, 2 ** 31, 2 ** 40, 1e300]);
        args.a = { data: g.floats(s.aType, 0), shape: [r, 0], dtype: s.aType };
        args.w = { data: g.floats(s.wType, 0), shape: [1, 0, 0], dtype: s.wType };
        for (const k of ['offsets', 'bias', 'addend', 'out']) delete args[k];
        args.activation = 'none';
        return {};
      },
    },
  ],
  run: (a, o) => groupedGemm(a as unknown as GroupedGemmArgs, o),
  runAsync: (a, o) => groupedGemmAsync(a as unknown as GroupedGemmArgs, o),
  outputs: (r) => ({
    y: { data: r.y.data, dtype: r.y.dtype, shape: r.y.shape, measure: { kind: 'relNorm', tol: r.y.dtype === 'f32' ? TOL.f32 : TOL.half } },
  }),
};

function R1(s: Spec): number {
  return rows(s) * nOut(s);
}
