// The conformance harness's own parts: the error measures, the poisoning allocator and the input walk.
// The suites trust these to fail on a bad kernel, so they are tested against hand-made bad outputs.

import { compare } from './measures';
import { bitsOf, GUARD, POISON, PoisonAllocator, sameBits, typedArraysIn } from './harness';

const f32 = (...bits: number[]): Float32Array => new Float32Array(Uint32Array.from(bits).buffer);

describe('measures', () => {
  test('bits: exact, except f32 NaNs compare up to the quiet bit', () => {
    const bits = { kind: 'bits' } as const;
    expect(compare({ data: f32(0x7f800001), dtype: 'f32' }, { data: f32(0x7fc00001), dtype: 'f32' }, bits)).toBeNull();
    expect(compare({ data: f32(0x7fc00002), dtype: 'f32' }, { data: f32(0x7fc00001), dtype: 'f32' }, bits)).toMatch(/\[0\] 0x7fc00002 want 0x7fc00001/);
    expect(compare({ data: f32(0xffc00000), dtype: 'f32' }, { data: f32(0x7fc00000), dtype: 'f32' }, bits)).not.toBeNull();
    expect(compare({ data: f32(0x80000000), dtype: 'f32' }, { data: f32(0), dtype: 'f32' }, bits)).not.toBeNull();
    expect(compare({ data: Uint16Array.of(0x7e01), dtype: 'f16' }, { data: Uint16Array.of(0x7e00), dtype: 'f16' }, bits)).not.toBeNull();
    expect(compare({ data: Uint16Array.of(1), dtype: 'bf16' }, { data: Uint16Array.of(1), dtype: 'f16' }, bits)).toBe('dtype bf16, want f16');
  });

  test('exact and relNorm', () => {
    expect(compare({ data: Int32Array.of(1, 2), dtype: 'i32' }, { data: Int32Array.of(1, 3), dtype: 'i32' }, { kind: 'exact' })).toMatch(/\[1\] 2 want 3/);
    const rel = { kind: 'relNorm', tol: 1e-5 } as const;
    expect(compare({ data: Float32Array.of(1, 2.00001), dtype: 'f32' }, { data: Float32Array.of(1, 2), dtype: 'f32' }, rel)).toBeNull();
    expect(compare({ data: Float32Array.of(1, 2.001), dtype: 'f32' }, { data: Float32Array.of(1, 2), dtype: 'f32' }, rel)).toMatch(/^relative error/);
    expect(compare({ data: Float32Array.of(NaN, Infinity), dtype: 'f32' }, { data: Float32Array.of(NaN, Infinity), dtype: 'f32' }, rel)).toBeNull();
    expect(compare({ data: Float32Array.of(1, -Infinity), dtype: 'f32' }, { data: Float32Array.of(1, Infinity), dtype: 'f32' }, rel)).toMatch(/^non-finite/);
    expect(compare({ data: Float32Array.of(NaN), dtype: 'f32' }, { data: Float32Array.of(1), dtype: 'f32' }, rel)).toMatch(/^non-finite/);
  });
});

test('sameBits: strict, or NaN matching any NaN (the reference self-check) but nothing else', () => {
  const out = (data: Float32Array | Uint16Array, dtype: 'f32' | 'bf16') => ({ w: { data, dtype, measure: { kind: 'bits' } as const } });
  const neg = out(f32(0xffc00000, 0x3f800000), 'f32');
  const pos = out(f32(0x7fc00000, 0x3f800000), 'f32');
  expect(sameBits(neg, pos)).toEqual(["'w' differs at element 0: ffc00000 vs 7fc00000"]);
  expect(sameBits(neg, pos, true)).toEqual([]);
  expect(sameBits(out(f32(0x7fc00000, 0x3f800001), 'f32'), pos, true)).toEqual(["'w' differs at element 1: 3f800001 vs 3f800000"]);
  expect(sameBits(out(f32(0x7f800000, 0x3f800000), 'f32'), pos, true)).toHaveLength(1); // +inf is no NaN
  expect(sameBits(out(Uint16Array.of(0xffc0), 'bf16'), out(Uint16Array.of(0x7fc1), 'bf16'), true)).toEqual([]);
  expect(sameBits(out(Uint16Array.of(0x7f80), 'bf16'), out(Uint16Array.of(0x7fc1), 'bf16'), true)).toHaveLength(1);
});

describe('PoisonAllocator', () => {
  test('poisons every element, guards both sides, varies the alignment', () => {
    const p = new PoisonAllocator();
    const a = p.allocate('f32', 5) as Float32Array;
    const b = p.allocate('bf16', 3) as Uint16Array;
    const c = p.allocate('i32', 2) as Int32Array;
    expect(Array.from(bitsOf(a))).toEqual(Array(5).fill(POISON.f32));
    expect(Array.from(b)).toEqual(Array(3).fill(POISON.bf16));
    expect(Array.from(c)).toEqual(Array(2).fill(POISON.i32));
    expect([a.byteOffset / 4, b.byteOffset / 2, c.byteOffset / 4]).toEqual([GUARD, GUARD + 1, GUARD + 2]);
    a.fill(1);
    expect(p.guardErrors()).toEqual([]);
    new Float32Array(a.buffer)[GUARD + 5] = 0; // one past the end
    new Uint16Array(b.buffer)[GUARD] = 0; // one before the start
    expect(p.guardErrors()).toEqual([
      'allocation 0 (f32[5]): guard overwritten 1 element(s) after the end',
      'allocation 1 (bf16[3]): guard overwritten 1 element(s) before the start',
    ]);
  });
});

test('typedArraysIn finds arrays in tensors, nested options and short arrays, once each', () => {
  const x = new Float32Array(2);
  const ids = new Int32Array(1);
  const found = typedArraysIn({ x: { data: x, shape: [2] }, opts: { ids, list: [ids, 3] }, n: 4, s: 'a' });
  expect(found).toEqual([x, ids]);
});
