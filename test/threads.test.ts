// The public thread / SIMD settings, and the layer's bitwise determinism across thread counts on 'auto'.

import { capabilities, getNumThreads, MoELayer, preset, Rng, setNumThreads, setSimdPath } from '../lib';
import { expectArgError } from './util';

const native = capabilities().native;
const maybe = native ? describe : describe.skip; // skipped only when the addon is missing (reason: no binary)

maybe('thread and SIMD settings', () => {
  afterAll(() => {
    setNumThreads(0);
    setSimdPath('auto');
  });

  test('setNumThreads validates and round-trips', () => {
    expectArgError(() => setNumThreads(-1), RangeError, 'n');
    expectArgError(() => setNumThreads(1.5), RangeError, 'n');
    expectArgError(() => setNumThreads('2' as never), TypeError, 'n');
    expectArgError(() => setSimdPath('sse' as never), RangeError, 'path');
    setNumThreads(1);
    expect(getNumThreads()).toBe(1);
    setNumThreads(0);
    expect(getNumThreads()).toBeGreaterThanOrEqual(1);
  });

  test('a Qwen3-style layer on auto gives bitwise the same output for 1 and 2 threads', () => {
    const layer = MoELayer.random(preset('qwen3-moe', { hidden: 64, intermediate: 32, experts: 16, topK: 4 }), 9);
    const x = { data: new Rng(4).f32(37 * 64), shape: [37, 64], dtype: 'f32' as const };
    setNumThreads(1);
    const a = layer.forward({ x }).out.data;
    setNumThreads(2);
    const b = layer.forward({ x }).out.data;
    expect(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength))).toBe(true);
  });
});
