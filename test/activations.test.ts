// Scalar activations (lib/reference/activations.ts): erf / erfc against known values, the activations
// against their textbook values, limits, NaN, and identities (fast-check).

import fc from 'fast-check';
import { ACTIVATION_FNS, erf, erfc, gelu, geluTanh, relu, sigmoid, silu, tanh } from '../lib/reference/activations';

function expectRel(got: number, want: number, tol: number): void {
  const err = want === 0 ? Math.abs(got) : Math.abs(got - want) / Math.abs(want);
  if (!(err <= tol)) throw new Error(`got ${got}, want ${want} (relative error ${err} > ${tol})`);
}

describe('erf', () => {
  // erf(x) to 16-17 significant digits (the first five are the brief's, the rest agree with glibc and
  // tables of erf).
  const table: [number, number][] = [
    [0.5, 0.5204998778130465], [1, 0.8427007929497149], [-2, -0.9953222650189527], [3, 0.9999779095030014],
    [1e-10, 1.1283791670955126e-10], [0.1, 0.1124629160182849], [0.25, 0.2763263901682369],
    [0.75, 0.7111556336535151], [0.84375, 0.7672256612323416], [1.5, 0.9661051464753108],
    [2.5, 0.999593047982555], [4, 0.9999999845827421], [5.5, 0.9999999999999927], [-0.7, -0.6778011938374184],
  ];
  test.each(table)('erf(%p) = %p to 1e-15 relative', (x, want) => expectRel(erf(x), want, 1e-15));

  const tail: [number, number][] = [
    [0.5, 0.4795001221869535], [1, 0.15729920705028513], [2, 0.004677734981047265], [3, 2.2090496998585438e-5],
    [5, 1.5374597944280351e-12], [10, 2.088487583762545e-45], [26, 5.663192408856143e-296],
  ];
  test.each(tail)('erfc(%p) = %p to 1e-15 relative (no cancellation in the tail)', (x, want) => expectRel(erfc(x), want, 1e-15));

  test('special values: zeros, infinities, NaN, huge and subnormal arguments', () => {
    expect(Object.is(erf(0), 0)).toBe(true);
    expect(Object.is(erf(-0), -0)).toBe(true);
    expect(erf(Infinity)).toBe(1);
    expect(erf(-Infinity)).toBe(-1);
    expect(erf(30)).toBe(1);
    expect(erf(-7)).toBe(-1);
    expect(erf(NaN)).toBeNaN();
    expect(erfc(Infinity)).toBe(0);
    expect(erfc(-Infinity)).toBe(2);
    expect(erfc(-7)).toBe(2);
    expect(erfc(30)).toBe(0);
    expect(erfc(0)).toBe(1);
    expect(erfc(NaN)).toBeNaN();
    expectRel(erf(1e-310), 1.1283791670955e-310, 1e-12); // subnormal: erf(x) = 2x/√π
  });

  test('erf is odd, increasing, and erf + erfc = 1 (fast-check)', () => {
    fc.assert(fc.property(fc.double({ min: -8, max: 8, noNaN: true }), (x) => {
      expect(erf(-x)).toBe(-erf(x));
      expect(Math.abs(erf(x) + erfc(x) - 1)).toBeLessThanOrEqual(4e-16);
      expect(erf(x + 1e-3)).toBeGreaterThanOrEqual(erf(x));
      expect(Math.abs(erf(x))).toBeLessThanOrEqual(1);
    }));
  });
});

describe('activations', () => {
  test('known values (float64, 1e-15 relative)', () => {
    expectRel(gelu(1), 0.8413447460685429, 1e-15);
    expectRel(gelu(-1), -0.15865525393145707, 1e-15);
    expectRel(gelu(0.5), 0.34573123063700656, 1e-15);
    expectRel(gelu(-3), -0.004049694094890287, 1e-14);
    expectRel(gelu(2), 1.9544997361036416, 1e-15);
    expectRel(geluTanh(1), 0.8411919906082768, 1e-15);
    expectRel(geluTanh(-1), -0.15880800939172324, 1e-14);
    expectRel(geluTanh(0.5), 0.34571400982514394, 1e-15);
    expectRel(geluTanh(2), 1.954597694087775, 1e-15);
    expectRel(silu(1), 0.7310585786300049, 1e-15);
    expectRel(silu(-1), -0.2689414213699951, 1e-15);
    expectRel(silu(3), 2.8577223804672998, 1e-15);
    expect(sigmoid(0)).toBe(0.5);
    expectRel(sigmoid(2), 0.8807970779778823, 1e-15);
    expectRel(sigmoid(-2), 0.11920292202211755, 1e-15);
    expect(relu(-2)).toBe(0);
    expect(relu(3.5)).toBe(3.5);
    expect(tanh(0.5)).toBe(Math.tanh(0.5));
    expect(ACTIVATION_FNS.none(-7.25)).toBe(-7.25);
    expect(ACTIVATION_FNS.gelu_tanh).toBe(geluTanh);
  });

  test('large negative inputs keep relative accuracy (no 1 + (-1) cancellation)', () => {
    // gelu(-10) = -10 · Φ(-10) = -5 · erfc(10/√2); Φ(-10) = 7.619853024160526e-24.
    expectRel(gelu(-10), -7.619853024160526e-23, 1e-13);
    expectRel(sigmoid(-40), 4.248354255291589e-18, 1e-14);
    expect(geluTanh(-10)).toBeLessThan(0);
    expectRel(silu(-40), -40 * 4.248354255291589e-18, 1e-14);
  });

  test('limits at ±inf and NaN propagation', () => {
    for (const f of [gelu, geluTanh, silu, relu]) {
      expect(f(Infinity)).toBe(Infinity);
      expect(f(-Infinity) === 0).toBe(true);
      expect(f(NaN)).toBeNaN();
    }
    expect(sigmoid(Infinity)).toBe(1);
    expect(sigmoid(-Infinity)).toBe(0);
    expect(sigmoid(-800)).toBe(0);
    expect(sigmoid(NaN)).toBeNaN();
    expect(tanh(-Infinity)).toBe(-1);
    expect(tanh(NaN)).toBeNaN();
  });

  test('identities (fast-check): σ(x) + σ(-x) = 1, gelu(x) - gelu(-x) = x, silu = x σ(x)', () => {
    fc.assert(fc.property(fc.double({ min: -30, max: 30, noNaN: true }), (x) => {
      expect(Math.abs(sigmoid(x) + sigmoid(-x) - 1)).toBeLessThanOrEqual(3.4e-16);
      expect(Math.abs(gelu(x) - gelu(-x) - x)).toBeLessThanOrEqual(4e-15 * Math.max(1, Math.abs(x)));
      expect(Math.abs(geluTanh(x) - geluTanh(-x) - x)).toBeLessThanOrEqual(4e-15 * Math.max(1, Math.abs(x)));
      expect(silu(x)).toBe(x * sigmoid(x));
      expect(relu(x)).toBe(Math.max(x, 0));
      // gelu_tanh approximates gelu to within 5e-4 everywhere.
      expect(Math.abs(geluTanh(x) - gelu(x))).toBeLessThan(5e-4);
    }));
  });
});
