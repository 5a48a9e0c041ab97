// convert: exhaustive half round trips, RNE ties, overflow, subnormals, -0, NaN, nearest-value property,
// preallocated outputs and every bad argument.

import fc from 'fast-check';
import { convert } from '../lib/ops/convert';
import { FloatDType } from '../lib/dtype';
import { expectArgError } from './util';

const ALL = Uint16Array.from({ length: 65536 }, (_, i) => i);
const f32Bits = (x: number): number => new Uint32Array(Float32Array.of(x).buffer)[0]!;
const fromBits = (b: number): number => new Float32Array(Uint32Array.of(b).buffer)[0]!;

/** Independent f16 decoding: sign · 2^(e-15) · (1 + m/1024), subnormals 2^-14 · m/1024. */
function f16Value(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 31) return m ? NaN : s * Infinity;
  return e === 0 ? s * 2 ** -14 * (m / 1024) : s * 2 ** (e - 15) * (1 + m / 1024);
}
const isNaNHalf = (d: 'bf16' | 'f16', h: number): boolean =>
  d === 'f16' ? (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0 : (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;

/** One f32 value -> half bits through the public op. */
const toHalf = (to: 'bf16' | 'f16', x: number): number => convert({ x: Float32Array.of(x), to }).y.data[0]!;

describe('convert: exhaustive over every 16-bit pattern', () => {
  test.each(['bf16', 'f16'] as const)('%s -> f32 is exact and f32 -> %s gives the bits back', (d) => {
    const wide = convert({ x: { data: ALL, shape: [256, 256], dtype: d }, to: 'f32' }).y;
    expect(wide.shape).toEqual([256, 256]);
    expect(wide.dtype).toBe('f32');
    const back = convert({ x: wide, to: d }).y.data as Uint16Array;
    const bits = new Uint32Array((wide.data as Float32Array).buffer);
    let nans = 0;
    const bad: string[] = []; // one expect at the end: 65536 expect() calls take seconds
    for (let h = 0; h < 65536; h++) {
      const v = wide.data[h]!;
      if (isNaNHalf(d, h)) {
        nans++;
        if (!Number.isNaN(v) || !isNaNHalf(d, back[h]!)) bad.push(`NaN ${h.toString(16)} -> ${v} -> ${back[h]!.toString(16)}`);
        continue;
      }
      const exact = d === 'bf16' ? bits[h] === (h << 16) >>> 0 : Object.is(v, f16Value(h));
      if (!exact || back[h] !== h) bad.push(`${h.toString(16)} -> ${v} -> ${back[h]!.toString(16)}`);
    }
    expect(bad).toEqual([]);
    expect(nans).toBe(d === 'bf16' ? 2 * 127 : 2 * 1023);
  });

  test('bf16 <-> f16 goes through f32 with one rounding; same dtype copies bits', () => {
    const f16 = convert({ x: { data: ALL, shape: [65536], dtype: 'bf16' }, to: 'f16' }).y.data as Uint16Array;
    const viaF32 = convert({ x: convert({ x: { data: ALL, shape: [65536], dtype: 'bf16' }, to: 'f32' }).y, to: 'f16' }).y.data;
    expect(Array.from(f16)).toEqual(Array.from(viaF32));
    expect(f16[0x3f80]).toBe(0x3c00); // 1.0
    expect(f16[0x4780]).toBe(0x7c00); // bf16 65536 overflows f16
    expect(f16[0xc049]).toBe(0xc248); // -3.140625 -> -3.140625 exactly (bf16 -> f16 exact here)
    for (const d of ['bf16', 'f16'] as const) {
      const same = convert({ x: { data: ALL, shape: [65536], dtype: d }, to: d }).y.data;
      expect(same).not.toBe(ALL);
      expect(Array.from(same)).toEqual(Array.from(ALL));
    }
    const nanF32 = new Float32Array(Uint32Array.of(0x7fa00001, f32Bits(-1.5)).buffer); // signalling NaN payload
    const copy = convert({ x: nanF32, to: 'f32' }).y.data as Float32Array;
    expect(new Uint32Array(copy.buffer)[0]).toBe(0x7fa00001); // payload copied bit for bit
    expect(copy[1]).toBe(-1.5);
  });
});

describe('convert: f32 -> half rounding', () => {
  test('ties go to even; just above a tie rounds up', () => {
    expect(toHalf('bf16', fromBits(0x3f808000))).toBe(0x3f80); // 1 + 2^-8: tie, 0x3f80 is even
    expect(toHalf('bf16', fromBits(0x3f818000))).toBe(0x3f82); // 1 + 3·2^-8: tie, 0x3f82 is even
    expect(toHalf('bf16', fromBits(0x3f808001))).toBe(0x3f81);
    expect(toHalf('bf16', fromBits(0x3f807fff))).toBe(0x3f80);
    expect(toHalf('f16', 1 + 2 ** -11)).toBe(0x3c00);
    expect(toHalf('f16', 1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(toHalf('f16', 1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    expect(toHalf('f16', -(1 + 3 * 2 ** -11))).toBe(0xbc02);
  });

  test('overflow: f16 65519 -> 65504, 65520 -> inf; bf16 rounds past FLT_MAX to inf', () => {
    expect(toHalf('f16', 65519)).toBe(0x7bff);
    expect(f16Value(0x7bff)).toBe(65504);
    expect(toHalf('f16', 65520)).toBe(0x7c00);
    expect(toHalf('f16', -65520)).toBe(0xfc00);
    expect(toHalf('f16', 1e6)).toBe(0x7c00);
    expect(toHalf('bf16', fromBits(0x7f7fffff))).toBe(0x7f80);
    expect(toHalf('bf16', fromBits(0x7f7f7fff))).toBe(0x7f7f);
    expect(toHalf('f16', Infinity)).toBe(0x7c00);
    expect(toHalf('bf16', -Infinity)).toBe(0xff80);
  });

  test('subnormals, underflow ties and signed zero', () => {
    expect(toHalf('f16', 2 ** -24)).toBe(0x0001);
    expect(toHalf('f16', 2 ** -25)).toBe(0x0000); // tie with 0: 0 is even
    expect(toHalf('f16', 3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 units
    expect(toHalf('f16', 2 ** -25 * 1.0001)).toBe(0x0001);
    expect(toHalf('f16', 1023 * 2 ** -24)).toBe(0x03ff);
    expect(toHalf('f16', 2 ** -14)).toBe(0x0400);
    expect(toHalf('f16', 2 ** -14 - 2 ** -25)).toBe(0x0400); // tie between 0x3ff and 0x400 (even)
    expect(toHalf('f16', -(2 ** -30))).toBe(0x8000);
    expect(toHalf('bf16', fromBits(0x00010000))).toBe(0x0001);
    expect(toHalf('bf16', fromBits(0x00008000))).toBe(0x0000); // tie with 0
    expect(toHalf('bf16', fromBits(0x00018000))).toBe(0x0002);
    expect(toHalf('f16', -0)).toBe(0x8000);
    expect(toHalf('bf16', -0)).toBe(0x8000);
    expect(toHalf('f16', 0)).toBe(0);
    expect(Object.is(convert({ x: { data: Uint16Array.of(0x8000), shape: [1], dtype: 'f16' }, to: 'f32' }).y.data[0], -0)).toBe(true);
  });

  test('NaN stays NaN (quiet, sign kept) in both directions', () => {
    for (const d of ['bf16', 'f16'] as const) {
      const h = toHalf(d, NaN);
      expect(isNaNHalf(d, h)).toBe(true);
      expect(isNaNHalf(d, toHalf(d, fromBits(0xff800001)))).toBe(true); // signalling f32 NaN, tiny payload
      expect(toHalf(d, fromBits(0xffc00000)) & 0x8000).toBe(0x8000);
    }
  });

  test.each(['bf16', 'f16'] as const)('f32 -> %s returns the nearest value, ties to even (fast-check)', (d) => {
    const value = (h: number): number => convert({ x: { data: Uint16Array.of(h), shape: [1], dtype: d }, to: 'f32' }).y.data[0]!;
    fc.assert(fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (x) => {
      const h = toHalf(d, x);
      const mag = h & 0x7fff;
      const got = value(h);
      expect(Math.sign(got) === Math.sign(x) || got === 0 || Number.isNaN(got)).toBe(true);
      if (!Number.isFinite(got)) {
        // Overflow only past the midpoint between the largest finite value and the next power of two.
        const maxFinite = value(d === 'f16' ? 0x7bff : 0x7f7f);
        expect(Math.abs(x)).toBeGreaterThanOrEqual(maxFinite + (d === 'f16' ? 16 : 2 ** 119));
        return;
      }
      const err = Math.abs(got - x);
      const neighbours = [mag - 1, mag + 1].filter((m) => m >= 0 && m < (d === 'f16' ? 0x7c00 : 0x7f80));
      for (const m of neighbours) {
        const other = Math.abs(value((h & 0x8000) | m) - x);
        expect(err).toBeLessThanOrEqual(other);
        if (err === other) expect(mag & 1).toBe(0);
      }
    }), { numRuns: 3000 });
  });
});

describe('convert: outputs and shapes', () => {
  test('a poisoned preallocated out is fully overwritten and returned', () => {
    const x = Float32Array.from({ length: 37 }, (_, i) => (i - 18) * 0.37);
    const out = new Uint16Array(37).fill(0x7fff);
    const y = convert({ x, to: 'f16', out }).y;
    expect(y.data).toBe(out);
    expect(y.shape).toEqual([37]);
    for (let i = 0; i < 37; i++) expect(out[i]).toBe(toHalf('f16', x[i]!));
    const outF = new Float32Array(37).fill(NaN);
    convert({ x: { data: out, shape: [37], dtype: 'f16' }, to: 'f32', out: outF });
    for (let i = 0; i < 37; i++) expect(outF[i]).toBe(f16Value(out[i]!));
  });

  test('exactly in place is allowed for equal element sizes; the input is never modified otherwise', () => {
    const bits = Uint16Array.of(0x3f80, 0x4049, 0xc000);
    convert({ x: { data: bits, shape: [3], dtype: 'bf16' }, to: 'f16', out: bits });
    expect(Array.from(bits)).toEqual([0x3c00, 0x4248, 0xc000]);
    const x = Float32Array.of(1.5, -2.25);
    const keep = Float32Array.from(x);
    convert({ x, to: 'bf16' });
    expect(x).toEqual(keep);
  });

  test('empty tensors and onnxruntime-style {data, dims, type}', () => {
    expect(convert({ x: new Float32Array(0), to: 'bf16' }).y.data.length).toBe(0);
    const y = convert({ x: { data: Float32Array.of(1, 2, 3, 4), dims: [2, 2], type: 'float32' }, to: 'bf16' }).y;
    expect(y.shape).toEqual([2, 2]);
    expect(Array.from(y.data)).toEqual([0x3f80, 0x4000, 0x4040, 0x4080]);
  });
});

describe('convert: bad arguments', () => {
  const x = Float32Array.of(1, 2);
  test.each([
    ['args', TypeError, () => convert(null as never)],
    ['x', TypeError, () => convert({ x: [1, 2] as never, to: 'f16' })],
    ['x.dtype', TypeError, () => convert({ x: Uint16Array.of(1) as never, to: 'f32' })],
    ['x.dtype', TypeError, () => convert({ x: Int32Array.of(1) as never, to: 'f32' })],
    ['x.dtype', TypeError, () => convert({ x: { data: Int32Array.of(1), shape: [1], dtype: 'i32' }, to: 'f32' })],
    ['x', RangeError, () => convert({ x: { data: x, shape: [3], dtype: 'f32' }, to: 'f16' })],
    ['x.data', TypeError, () => convert({ x: { data: x, shape: [2], dtype: 'bf16' }, to: 'f32' })],
    ['to', RangeError, () => convert({ x, to: 'f64' as FloatDType })],
    ['to', TypeError, () => convert({ x, to: undefined as never })],
    ['out', TypeError, () => convert({ x, to: 'f16', out: new Float32Array(2) })],
    ['out', TypeError, () => convert({ x, to: 'f32', out: new Uint16Array(2) })],
    ['out', RangeError, () => convert({ x, to: 'f16', out: new Uint16Array(3) })],
    ['out', RangeError, () => convert({ x, to: 'bf16', out: new Uint16Array(x.buffer, 2, 2) })],
    ['backend', RangeError, () => convert({ x, to: 'f16' }, { backend: 'gpu' as never })],
  ] as const)("names '%s' (%p)", (arg, ctor, fn) => expectArgError(fn, ctor, arg));
});
