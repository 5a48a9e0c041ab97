// Backend selection per op, the cpu backend's op-by-op wiring, the missing-addon path, the async entry
// points (reference and native), the output allocator, and MoELayer.forwardAsync. Runs with or without the
// native addon: expectations follow what loaded.

import * as fs from 'fs';
import * as path from 'path';
import * as api from '../lib/index';
import { availableBackends, selectBackend } from '../lib/backends';
import { OP_IDS, OP_METHODS } from '../lib/backends/backend';
import { allocOutput, defaultAllocator, setAllocator, slabAllocator } from '../lib/backends/alloc';
import { convert, convertAsync } from '../lib/ops/convert';
import { loadNative } from '../lib/native';
import { MoELayer } from '../lib/layer';
import { preset } from '../lib/presets';
import { Rng } from '../lib/random';

const addon = loadNative();
const wiringFile = (op: string): boolean => fs.existsSync(path.join(__dirname, '..', 'lib', 'backends', 'cpu', `${op}.ts`));

describe('selectBackend', () => {
  test('the cpu backend is registered exactly when the addon loads', () => {
    expect(availableBackends().includes('cpu')).toBe(addon !== null);
  });

  test.each(OP_IDS)("%s: 'auto' takes cpu only when cpu implements the op; explicit 'cpu' otherwise throws naming it", (op) => {
    if (addon === null) {
      expect(selectBackend(op, 'auto').name).toBe('reference');
      expect(() => selectBackend(op, 'cpu')).toThrow(new RegExp(`^${op}: the 'cpu' backend cannot be used: the native addon is not loaded`));
      return;
    }
    const cpu = selectBackend('convert', 'cpu');
    const native = cpu.implements(op);
    const fns = addon as unknown as Record<string, unknown>;
    const m = OP_METHODS[op];
    expect(native).toBe(wiringFile(op) && typeof fns[m] === 'function' && typeof fns[`${m}Async`] === 'function');
    expect(selectBackend(op, 'auto').name).toBe(native ? 'cpu' : 'reference');
    if (!native) {
      expect(() => selectBackend(op, 'cpu')).toThrow(new RegExp(`^${op}: the 'cpu' backend does not implement '${op}': .*use backend 'reference' or 'auto'$`));
    }
  });

  test('convert runs natively under auto when the addon is loaded', () => {
    expect(selectBackend('convert').name).toBe(addon ? 'cpu' : 'reference');
    expect(selectBackend('convert', 'reference').name).toBe('reference');
    expect(() => selectBackend('convert', 'gpu')).toThrow(/^convert: 'backend' must be one of 'auto', 'reference', 'cpu', 'cuda', got 'gpu'$/);
  });

  test('cuda is not available in this version', () => {
    expect(() => selectBackend('route', 'cuda')).toThrow(/^route: the 'cuda' backend cannot be used/);
  });

  test('a missing addon leaves the reference working and says why', () => {
    const saved = process.env.MOE_KERNELS_BINARY;
    process.env.MOE_KERNELS_BINARY = path.join(__dirname, 'no-such-dir', 'moe_kernels.node');
    try {
      jest.isolateModules(() => {
        const b = require('../lib/backends') as typeof import('../lib/backends');
        const c = require('../lib/ops/convert') as typeof import('../lib/ops/convert');
        expect(b.availableBackends()).toEqual(['reference']);
        expect(b.selectBackend('convert').name).toBe('reference');
        expect(() => b.selectBackend('convert', 'cpu')).toThrow(/^convert: the 'cpu' backend cannot be used: the native addon is not loaded \(MOE_KERNELS_BINARY=/);
        expect(Array.from(c.convert({ x: Float32Array.of(1, -2), to: 'bf16' }).y.data)).toEqual([0x3f80, 0xc000]);
      });
    } finally {
      if (saved === undefined) delete process.env.MOE_KERNELS_BINARY;
      else process.env.MOE_KERNELS_BINARY = saved;
    }
  });
});

describe('async entry points', () => {
  test('every backend op has <op>Async in the public API', () => {
    for (const m of Object.values(OP_METHODS)) {
      expect(typeof (api as Record<string, unknown>)[m]).toBe('function');
      expect(typeof (api as Record<string, unknown>)[`${m}Async`]).toBe('function');
    }
  });

  test('the reference never runs inside the call', async () => {
    const out = new Uint16Array(3);
    const p = convertAsync({ x: Float32Array.of(1, 2, 3), to: 'bf16', out }, { backend: 'reference' });
    expect(Array.from(out)).toEqual([0, 0, 0]);
    const r = await p;
    expect(r.y.data).toBe(out);
    expect(Array.from(out)).toEqual([0x3f80, 0x4000, 0x4040]);
  });

  test('bad arguments reject the promise instead of throwing', async () => {
    let p: Promise<unknown> | undefined;
    expect(() => { p = convertAsync({ x: Float32Array.of(1), to: 'f8' as never }); }).not.toThrow();
    await expect(p).rejects.toThrow(/^convert: 'to' must be one of 'f32', 'bf16', 'f16', got 'f8'$/);
    await expect(api.routeAsync({ logits: new Float32Array(4) } as never)).rejects.toThrow(/^route: /);
  });

  test.each(['auto', 'reference'] as const)('convertAsync (%s) gives the sync result, shape and dtype', async (backend) => {
    const x = { data: new Rng(2).f32(6 * 7, -100, 100), shape: [6, 7], dtype: 'f32' as const };
    for (const to of ['bf16', 'f16', 'f32'] as const) {
      const a = await convertAsync({ x, to }, { backend });
      const s = convert({ x, to }, { backend: 'reference' });
      expect(a.y.shape).toEqual([6, 7]);
      expect(a.y.dtype).toBe(to);
      expect(Array.from(a.y.data)).toEqual(Array.from(s.y.data));
    }
  });
});

describe('allocOutput', () => {
  afterEach(() => setAllocator(null));
  test('allocates through the installed allocator; null restores the default', () => {
    expect(allocOutput('f32', 3)).toEqual(new Float32Array(3));
    expect(allocOutput('i32', 2)).toBeInstanceOf(Int32Array);
    expect(allocOutput('bf16', 2)).toBeInstanceOf(Uint16Array);
    const seen: string[] = [];
    const prev = setAllocator((d, n) => { seen.push(`${d}[${n}]`); return defaultAllocator(d, n); });
    expect(prev).toBe(defaultAllocator);
    allocOutput('f16', 5);
    expect(seen).toEqual(['f16[5]']);
    setAllocator(null);
    allocOutput('f16', 5);
    expect(seen).toHaveLength(1);
  });

  test('slabAllocator: the planned outputs are zeroed, disjoint, 64-byte aligned views of one buffer, in order', () => {
    const alloc = slabAllocator([['f32', 3], ['i32', 17], ['bf16', 1], ['f16', 40]]);
    const a = alloc('f32', 3), b = alloc('i32', 17), c = alloc('bf16', 1), d = alloc('f16', 40);
    expect([a, b, c, d].map((x) => x.constructor.name)).toEqual(['Float32Array', 'Int32Array', 'Uint16Array', 'Uint16Array']);
    expect([a.length, b.length, c.length, d.length]).toEqual([3, 17, 1, 40]);
    expect([a, b, c, d].every((x) => x.buffer === a.buffer && x.byteOffset % 64 === 0 && x.every((v) => v === 0))).toBe(true);
    expect([a.byteOffset, b.byteOffset, c.byteOffset, d.byteOffset]).toEqual([0, 64, 192, 256]);
    expect(a.buffer.byteLength).toBe(384);
    // Past the plan: a fresh array of its own.
    const e = alloc('f32', 2);
    expect(e.buffer).not.toBe(a.buffer);
    expect(e).toEqual(new Float32Array(2));
    // Over 64 KiB in all: no slab (one small array must not keep a large one alive).
    const big = slabAllocator([['f32', 16384], ['i32', 8]]);
    const [x, y] = [big('f32', 16384), big('i32', 8)];
    expect(x.buffer).not.toBe(y.buffer);
  });

  test('slabAllocator defers to an installed test allocator for every output', () => {
    const seen: string[] = [];
    setAllocator((dt, n) => { seen.push(`${dt}[${n}]`); return defaultAllocator(dt, n); });
    const alloc = slabAllocator([['f32', 2], ['i32', 3]]);
    alloc('f32', 2);
    alloc('i32', 3);
    expect(seen).toEqual(['f32[2]', 'i32[3]']);
  });

  test("a fused T = 1 forward returns its small outputs in one buffer, and the same bits as with separate arrays", () => {
    if (!addon) return;
    const layer = MoELayer.random(preset('qwen3-moe', { hidden: 64, intermediate: 32, experts: 16, topK: 4 }), 3, { backend: 'cpu' });
    expect(layer.fusedUnavailable).toBeNull();
    const x = { data: Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)), shape: [1, 64], dtype: 'f32' as const };
    const r = layer.forward({ x });
    const arrays = [r.out.data, r.logits!.data, r.routing.ids.data, r.routing.weights.data, r.routing.counts.data, r.routing.scores!.data,
      r.stats!.counts.data, r.stats!.top1Counts.data, r.stats!.probSum.data];
    expect(arrays.every((a) => a.buffer === r.out.data.buffer)).toBe(true);
    setAllocator((dt, n) => defaultAllocator(dt, n));
    const s = layer.forward({ x });
    expect(s.routing.ids.data.buffer).not.toBe(s.out.data.buffer);
    const bits = (a: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    expect(bits(s.out.data)).toEqual(bits(r.out.data));
    expect(bits(s.routing.ids.data)).toEqual(bits(r.routing.ids.data));
    expect(bits(s.routing.weights.data)).toEqual(bits(r.routing.weights.data));
    expect(bits(s.stats!.probSum.data)).toEqual(bits(r.stats!.probSum.data));
  });
});

describe('MoELayer.forwardAsync', () => {
  const bits = (a: ArrayLike<number>): number[] => Array.from(new Uint32Array(Float32Array.from(a).buffer));
  test.each([
    ['mixtral', 'f32', {}],
    ['deepseek-v3', 'bf16', {}],
    ['moe++', 'f32', { gatingResidual: true }],
  ] as const)('%s (%s) gives bitwise the forward() result', async (name, dtype, extra) => {
    const cfg = { ...preset(name as never, { hidden: 16, intermediate: 8 }), dtype, ...extra };
    for (const backend of ['reference', 'auto'] as const) {
      const layer = MoELayer.random(cfg, 3, { backend });
      const x = api.tensor(new Rng(4).f32(5 * 16), [5, 16]);
      const prevLogits = cfg.gatingResidual ? api.tensor(new Rng(5).f32(5 * layer.config.totalExperts), [5, layer.config.totalExperts]) : undefined;
      const args = { x, ...(prevLogits ? { prevLogits } : {}) };
      const s = layer.forward(args);
      const a = await layer.forwardAsync(args);
      expect(bits(a.out.data)).toEqual(bits(s.out.data));
      expect(Array.from(a.routing.ids.data)).toEqual(Array.from(s.routing.ids.data));
      expect(bits(a.logits!.data)).toEqual(bits(s.logits!.data));
      expect(a.stats).toEqual(s.stats);
    }
  });
});
