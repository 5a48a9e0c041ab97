// convert: random lengths (0 to a few thousand, some above the SIMD widths' tails), 1-3-D shapes, every
// dtype pair, specials, bare arrays, caller outputs exactly in place or partly overlapping.

import fc from 'fast-check';
import { convert, convertAsync } from '../../../lib/ops/convert';
import type { ConvertArgs, ConvertResult } from '../../../lib/ops/convert.types';
import type { FloatDType } from '../../../lib/dtype';
import type { OpFuzz } from '../core';
import { aliasOut, argsNotObject, badEnum, badShape, dataOf, detached, wrongArrayType, wrongKind } from '../mutate';

const DT: FloatDType[] = ['f32', 'bf16', 'f16'];

interface Spec {
  n: number;
  dims: number;
  from: FloatDType;
  to: FloatDType;
  out: boolean;
  bare: boolean;
}

const size = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 70 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 5000 }) });

function shapeOf(n: number, dims: number): number[] {
  if (dims === 1 || n === 0) return dims === 3 ? [n, 1, 1] : dims === 2 ? [1, n] : [n];
  const a = n % 2 === 0 ? 2 : n % 3 === 0 ? 3 : 1;
  return dims === 2 ? [a, n / a] : [a, 1, n / a];
}

export const convertFuzz: OpFuzz<Spec, ConvertResult> = {
  name: 'convert',
  prefixes: ['convert'],
  opId: 'convert',
  spec: fc.record({
    n: size,
    dims: fc.integer({ min: 1, max: 3 }),
    from: fc.constantFrom(...DT),
    to: fc.constantFrom(...DT),
    out: fc.boolean(),
    bare: fc.boolean(),
  }),
  build: (s, g) => {
    const data = g.floats(s.from, s.n, 'all');
    const x = s.bare && s.from === 'f32' ? data : { data, shape: shapeOf(s.n, s.dims), dtype: s.from };
    return { x, to: s.to, ...(s.out ? { out: g.out(s.to, s.n) } : {}) };
  },
  mutations: [
    argsNotObject(),
    wrongKind('x'),
    wrongKind('to', undefined, (v) => typeof v === 'string'),
    wrongKind('out'),
    wrongArrayType('x'),
    wrongArrayType('out', (s) => s.out),
    badShape('x'),
    badEnum('to'),
    detached('x'),
    detached('out', (s) => s.out),
    {
      name: "x.dtype: 'i32' or unknown",
      apply: (args, _s, g) => {
        const x = args.x as { data: unknown };
        args.x = { data: dataOf(x), shape: [(dataOf(x) as Float32Array).length], dtype: g.pick(['i32', 'float64', 'F32', 7]) };
        return { must: 'TypeError', names: ['x'] };
      },
    },
    {
      name: 'out: wrong length',
      apply: (args, s, g) => {
        const n = s.n + g.pick([-1, 1, 7]);
        args.out = g.out(s.to, n < 0 ? 1 : n);
        return { must: 'RangeError', names: ['out'] };
      },
    },
    {
      name: 'out: aliases x (exactly or shifted)',
      when: (s) => s.n > 0,
      apply: (args, s, g) => {
        // Exactly in place with equal element sizes is allowed; anything else must be refused or be right.
        aliasOut(g, args, 'out', dataOf(args.x)!, s.n, s.to === 'f32' ? 'f32' : 'u16');
        return { names: ['out'] };
      },
    },
    {
      name: 'x: zero elements with a huge dimension',
      apply: (args, s, g) => {
        const d = g.floats(s.from, 0);
        args.x = { data: d, shape: g.pick([[2 ** 53, 0], [0, 2 ** 40], [1e300, 0], [2 ** 31, 0, 7]]), dtype: s.from };
        delete args.out;
        return {};
      },
    },
  ],
  run: (a, o) => convert(a as unknown as ConvertArgs, o),
  runAsync: (a, o) => convertAsync(a as unknown as ConvertArgs, o),
  outputs: (r) => ({ y: { data: r.y.data, dtype: r.y.dtype, shape: r.y.shape, measure: { kind: 'bits' } } }),
};
