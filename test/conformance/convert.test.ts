// convert on every native backend and SIMD path vs the reference, bit for bit: every 16-bit pattern, f32
// specials (NaN payloads and signs, ±inf, subnormals, ±0), RNE ties and their neighbours at every exponent
// (bf16 and f16 positions, f16 subnormal positions), random bits, odd lengths 1, 7, 255, 4097, a length
// the pool splits into ragged ranges, exactly in place, and inputs at odd offsets.

import { convert, convertAsync } from '../../lib/ops/convert';
import type { ConvertArgs, ConvertResult } from '../../lib/ops/convert.types';
import { allocOutput } from '../../lib/backends/alloc';
import type { FloatDType } from '../../lib/dtype';
import { Rng } from '../../lib/random';
import { Case, conformance } from './harness';

const DTYPES: readonly FloatDType[] = ['f32', 'bf16', 'f16'];
/** 300001 = 4 ranges of ~75000 with the pool's 64 Ki grain: every range has a ragged SIMD tail. */
const SIZES = [1, 7, 255, 4097, 300001];

function randomBits(n: number, seed: number): Uint32Array {
  const rng = new Rng(seed);
  return Uint32Array.from({ length: n }, () => Math.floor(rng.next() * 4294967296));
}

/** f32 bit patterns at and around every rounding tie: low p bits = half, half ± 1, with the kept lsb 0 and 1,
 *  both signs, every exponent; p = 16 (bf16), 13 (f16 normals) and 126 - E (f16 subnormals, E in 102..112). */
function tieBits(): Uint32Array {
  const rng = new Rng(7);
  const out: number[] = [];
  for (let e = 0; e < 256; e++) {
    const positions = [13, 16, ...(e >= 102 && e <= 112 ? [126 - e] : [])];
    for (const p of positions) {
      const half = 2 ** (p - 1);
      for (const lsb of [0, 1]) {
        for (const delta of [-1, 0, 1]) {
          const upper = p + 1 < 23 ? rng.int(2 ** (23 - p - 1)) * 2 ** (p + 1) : 0;
          const mant = (upper + lsb * 2 ** p + half + delta) % 0x800000;
          for (const sign of [0, 0x80000000]) out.push((sign + e * 0x800000 + mant) >>> 0);
        }
      }
    }
  }
  return Uint32Array.from(out);
}

/** NaNs (quiet, signalling, both signs, payloads high and low), ±inf, ±0, subnormals, f16 overflow edges. */
const SPECIALS = Uint32Array.from([
  0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fa5a5a4, 0xffbfffff, 0x7fffffff, 0x7f802000, 0x7fc0ffff,
  0x7f800000, 0xff800000, 0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x00400000, 0x00008000,
  0x00018000, 0x477fe000, 0x477fefff, 0x477ff000, 0xc77ff000, 0x7f7fffff, 0xff7fffff, 0x7f7f7fff, 0x38800000,
  0x387fe000, 0x387ff000, 0x33000000, 0x33000001, 0x33400000, 0x32ffffff, 0x3f800000, 0x3f808000,
]);

const ALL16 = Uint16Array.from({ length: 65536 }, (_, i) => i);
const f32Of = (bits: Uint32Array): Float32Array => new Float32Array(bits.buffer, bits.byteOffset, bits.length);
const SPECIAL_F32 = f32Of(Uint32Array.from([...SPECIALS, ...tieBits()]));

/** Input elements of `dtype`: f32 from bit patterns, halves from 16-bit patterns. */
function input(dtype: FloatDType, n: number, seed: number): Float32Array | Uint16Array {
  const bits = randomBits(n, seed);
  return dtype === 'f32' ? f32Of(bits) : Uint16Array.from(bits, (b) => b & 0xffff);
}

const arrayFor = (d: FloatDType, n: number): Float32Array | Uint16Array => allocOutput(d, n);

function makeCase(name: string, from: FloatDType, to: FloatDType, data: () => Float32Array | Uint16Array,
  how: 'out' | 'fresh' | 'in place' | 'offset'): Case<ConvertArgs> {
  let cached: Float32Array | Uint16Array | undefined;
  const x = (): Float32Array | Uint16Array => (cached ??= data());
  return {
    name: `${from} -> ${to}, ${name}${how === 'out' ? '' : `, ${how}`}`,
    args: () => {
      const src = x();
      const n = src.length;
      if (how === 'in place') {
        const buf = arrayFor(from, n); // poisoned guards around the one array that is both x and out
        buf.set(src as never);
        return { x: { data: buf, shape: [n], dtype: from }, to, out: buf };
      }
      if (how === 'offset') {
        // x starts 1 element into its buffer: unaligned for every vector width.
        const shifted = (from === 'f32' ? new Float32Array(n + 1) : new Uint16Array(n + 1)).subarray(1);
        shifted.set(src as never);
        return { x: { data: shifted, shape: [n], dtype: from }, to, out: arrayFor(to, n) };
      }
      return { x: { data: src, shape: [n], dtype: from }, to, ...(how === 'out' ? { out: arrayFor(to, n) } : {}) };
    },
  };
}

const cases: Case<ConvertArgs>[] = [];
for (const from of DTYPES) {
  for (const to of DTYPES) {
    if (from === 'f32') cases.push(makeCase(`specials and ties (n = ${SPECIAL_F32.length})`, from, to, () => SPECIAL_F32, 'fresh'));
    else cases.push(makeCase('all 65536 patterns', from, to, () => ALL16, 'fresh'));
    for (const n of SIZES) cases.push(makeCase(`n = ${n}, random bits`, from, to, () => input(from, n, n * 31 + 1), 'out'));
    if (from !== to) cases.push(makeCase('n = 4097, random bits', from, to, () => input(from, 4097, 99), 'offset'));
    if (from !== 'f32' && to !== 'f32') cases.push(makeCase('n = 4097, random bits', from, to, () => input(from, 4097, 5), 'in place'));
  }
}
cases.push(makeCase('n = 4097, random bits', 'f32', 'f32', () => input('f32', 4097, 5), 'in place'));
cases.push(makeCase('n = 0', 'f32', 'bf16', () => new Float32Array(0), 'out'));

conformance<ConvertArgs, ConvertResult>({
  op: 'convert',
  cases,
  run: convert,
  runAsync: convertAsync,
  outputs: (r) => ({ y: { data: r.y.data, dtype: r.y.dtype, measure: { kind: 'bits' } } }),
});
