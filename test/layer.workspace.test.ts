// MoELayer's workspace (lib/layer_workspace.ts): intermediates are reused across forward calls, never what a
// forward returns; concurrent forwardAsync calls stay correct; forward's caller-provided `out`.

import { MoELayer } from '../lib/layer';
import { preset, PRESET_NAMES } from '../lib/presets';
import { Rng } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { loadNative } from '../lib/native';
import { expectArgError } from './util';

const backends = loadNative() ? (['reference', 'cpu'] as const) : (['reference'] as const);
const H = 24;

function input(T: number, seed: number, hidden = H): Tensor<'f32'> {
  return { data: new Rng(seed).f32(T * hidden, -1, 1), shape: [T, hidden], dtype: 'f32' };
}

const bits = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();

describe.each(backends)('MoELayer workspace on %s', (backend) => {
  test.each(PRESET_NAMES)('%s: calls of changing sizes match a fresh layer bitwise, and earlier results stay intact', (name) => {
    const cfg = preset(name, { hidden: H, intermediate: 10 });
    const reused = MoELayer.random(cfg, 3, { backend });
    const prevN = reused.config.totalExperts;
    const kept: { out: Uint8Array; data: ArrayBufferView }[] = [];
    for (const [i, T] of [7, 1, 33, 0, 7].entries()) {
      const x = input(T, 10 + i);
      const prevLogits = reused.config.gatingResidual ? input(T, 20 + i, prevN) : undefined;
      const args = { x, ...(prevLogits ? { prevLogits } : {}) };
      const got = reused.forward(args);
      const want = MoELayer.random(cfg, 3, { backend }).forward(args); // a fresh workspace
      expect(bits(got.out.data)).toEqual(bits(want.out.data));
      expect(bits(got.routing.ids.data)).toEqual(bits(want.routing.ids.data));
      kept.push({ out: bits(got.out.data), data: got.out.data });
    }
    // Each result still holds what it held when returned: no later call wrote into it.
    for (const k of kept) expect(bits(k.data)).toEqual(k.out);
    expect(reused.workspaceBytes).toBeGreaterThan(0);
    reused.releaseWorkspace();
    expect(reused.workspaceBytes).toBe(0);
  });

  test('concurrent forwardAsync calls on one layer give the sync results (only one holds the workspace)', async () => {
    const layer = MoELayer.random(preset('qwen3-moe', { hidden: H, intermediate: 10 }), 5, { backend });
    const xs = [9, 4, 17, 9].map((T, i) => input(T, 40 + i));
    const want = xs.map((x) => bits(MoELayer.random(preset('qwen3-moe', { hidden: H, intermediate: 10 }), 5, { backend }).forward({ x }).out.data));
    const got = await Promise.all(xs.map((x) => layer.forwardAsync({ x })));
    got.forEach((g, i) => expect(bits(g.out.data)).toEqual(want[i]));
    // Afterwards the workspace is free again: a sync call uses it and still matches.
    expect(bits(layer.forward({ x: xs[0]! }).out.data)).toEqual(want[0]);
  });

  test('a forward that throws releases the workspace', () => {
    const layer = MoELayer.random(preset('mixtral', { hidden: H, intermediate: 10 }), 2, { backend });
    expectArgError(() => layer.forward({ x: input(3, 1), residual: input(2, 1) }), RangeError, 'residual');
    const x = input(5, 2);
    expect(bits(layer.forward({ x }).out.data)).toEqual(bits(MoELayer.random(preset('mixtral', { hidden: H, intermediate: 10 }), 2, { backend }).forward({ x }).out.data));
  });

  test("forward's out: written in place, equal to a fresh output; in place over the residual", () => {
    const layer = MoELayer.random(preset('qwen3-moe', { hidden: H, intermediate: 10 }), 7, { backend });
    const x = input(6, 3);
    const residual = input(6, 4);
    const want = layer.forward({ x, residual }).out.data as Float32Array;
    const out = new Float32Array(6 * H).fill(Number.NaN);
    const r = layer.forward({ x, residual, out });
    expect(r.out.data).toBe(out);
    expect(r.out.shape).toEqual([6, H]);
    expect(bits(out)).toEqual(bits(want));
    const inPlace = Float32Array.from(residual.data);
    layer.forward({ x, residual: { data: inPlace, shape: [6, H], dtype: 'f32' }, out: inPlace });
    expect(bits(inPlace)).toEqual(bits(want));
  });

  test("forward's out: wrong type or length is a named error before any work", () => {
    const layer = MoELayer.random(preset('qwen3-moe', { hidden: H, intermediate: 10 }), 7, { backend });
    const x = input(2, 3);
    expectArgError(() => layer.forward({ x, out: new Uint16Array(2 * H) }), TypeError, 'out');
    expectArgError(() => layer.forward({ x, out: new Float32Array(2 * H + 1) }), RangeError, 'out');
    expectArgError(() => layer.forward({ x, out: [] as unknown as Float32Array }), TypeError, 'out');
    expectArgError(() => layer.forward({ x, out: x.data }), RangeError, 'out'); // shares memory with x
  });
});
