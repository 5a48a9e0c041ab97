// Backend selection per op, the cpu backend's op-by-op wiring, the missing-addon path, the async entry
// points (reference and native), the output allocator, and MoELayer.forwardAsync. Runs with or without the
// native addon: expectations follow what loaded.

import * as fs from 'fs';
import * as path from 'path';
import * as api from '../lib/index';
import { availableBackends, selectBackend } from '../lib/backends';
import { OP_IDS, OP_METHODS } from '../lib/backends/backend';
import { allocOutput, defaultAllocator, setAllocator } from '../lib/backends/alloc';
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
