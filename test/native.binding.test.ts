// The native binding infrastructure, through convert: self-registered exports, setSimdPath, the argument
// readers (the last line of defence), the async runner (keep-alive, detached buffers), the ISA objects'
// symbols, and the AVX-512 path without AVX512_BF16 (MOE_CPU_DISABLE). Needs the built addon, like
// test/native.test.ts.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { types } from 'util';
import type { ConvertNativeArgs } from '../bindings';
import { loadNative } from '../lib/native';
import { f32ToBf16 } from '../lib/dtype';
import { Rng } from '../lib/random';
import { convertAsync } from '../lib/ops/convert';

const root = path.resolve(__dirname, '..');
const binary = path.join(root, 'build', 'Release', 'moe_kernels.node');
const addon = loadNative()!;

// ES2024 resizable / growable buffers: Node 20 has them, this project's TypeScript lib has not their types.
type Resizable = ArrayBuffer & { resize(bytes: number): void };
const resizable = (bytes: number, max: number): Resizable =>
  new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable)(bytes, { maxByteLength: max });
const growableShared = (bytes: number, max: number): SharedArrayBuffer =>
  new (SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => SharedArrayBuffer)(bytes, { maxByteLength: max });
const PATHS = ['scalar', 'avx2', 'avx512'] as const;

/** Errors thrown by the addon come from Node's realm, not Jest's: match on the name. */
function nativeError(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

function child(script: string, env: Record<string, string> = {}, flags: string[] = []): unknown {
  const r = spawnSync(process.execPath, [...flags, '-e', script], {
    env: { ...process.env, MOE_KERNELS_BINARY: binary, ...env }, encoding: 'utf8', timeout: 60000,
  });
  if (r.status !== 0) throw new Error(`child exited with ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

afterAll(() => {
  addon.setSimdPath('auto');
  addon.setNumThreads(0);
});

describe('exports', () => {
  test('every registered binding is exported, ops as sync + async pairs', () => {
    expect(addon).not.toBeNull();
    const names = Object.keys(addon);
    for (const n of ['capabilities', 'getNumThreads', 'setNumThreads', 'setSimdPath', 'convert', 'convertAsync']) {
      expect(names).toContain(n);
      expect(typeof (addon as unknown as Record<string, unknown>)[n]).toBe('function');
    }
    for (const n of names.filter((x) => x.endsWith('Async'))) expect(names).toContain(n.slice(0, -'Async'.length));
  });
});

describe('setSimdPath', () => {
  test('switches the path capabilities() reports, clamped to what the CPU supports', () => {
    const best = addon.setSimdPath('auto');
    expect(PATHS).toContain(best);
    expect(addon.capabilities().simd).toBe(best);
    for (const p of PATHS) {
      const got = addon.setSimdPath(p);
      expect(got).toBe(PATHS[Math.min(PATHS.indexOf(p), PATHS.indexOf(best))]);
      expect(addon.capabilities().simd).toBe(got);
    }
    expect(addon.setSimdPath('auto')).toBe(best);
  });

  test('bad names: TypeError / RangeError naming path', () => {
    const set = addon.setSimdPath as (p: unknown) => string;
    for (const v of [undefined, 2, null, {}]) {
      const e = nativeError(() => set(v));
      expect(e.name).toBe('TypeError');
      expect(e.message).toMatch(/^setSimdPath: 'path' must be one of 'scalar', 'avx2', 'avx512', 'auto', got /);
    }
    expect(nativeError(() => set('AVX2')).name).toBe('RangeError');
    expect(nativeError(() => set('sse4')).message).toBe("setSimdPath: 'path' must be one of 'scalar', 'avx2', 'avx512', 'auto', got 'sse4'");
  });
});

describe('argument readers (called directly, bypassing lib/ops)', () => {
  const x = Float32Array.of(1, 2, 3);
  const ok = (): ConvertNativeArgs => ({ x: Float32Array.of(1, 2, 3), xDtype: 'f32', out: new Uint16Array(3), outDtype: 'bf16' });
  const call = (a: unknown): void => (addon.convert as (a: unknown) => void)(a);
  const cases: [string, unknown, 'TypeError' | 'RangeError', RegExp][] = [
    ['no object', undefined, 'TypeError', /^convert: 'args' must be an object, got undefined$/],
    ['an array', [x], 'TypeError', /^convert: 'args' must be an object, got an array of length 1$/],
    ['x missing', { ...ok(), x: undefined }, 'TypeError', /^convert: 'x' must be a Float32Array, got undefined$/],
    ['x a plain array', { ...ok(), x: [1, 2, 3] }, 'TypeError', /^convert: 'x' must be a Float32Array, got an array of length 3$/],
    ['x an Int32Array', { ...ok(), x: new Int32Array(3) }, 'TypeError', /^convert: 'x' must be a Float32Array, got a Int32Array$/],
    ['x a Float64Array', { ...ok(), x: new Float64Array(3) }, 'TypeError', /^convert: 'x' must be a Float32Array, got a Float64Array$/],
    ['x a DataView', { ...ok(), x: new DataView(new ArrayBuffer(12)) }, 'TypeError', /got a DataView$/],
    ['bf16 x as Float32Array', { ...ok(), xDtype: 'bf16' }, 'TypeError', /^convert: 'x' must be a Uint16Array, got a Float32Array$/],
    ['out too short', { ...ok(), out: new Uint16Array(2) }, 'RangeError', /^convert: 'out' must have 3 elements, got 2$/],
    ['out of the wrong type', { ...ok(), out: new Int16Array(3) }, 'TypeError', /^convert: 'out' must be a Uint16Array, got a Int16Array$/],
    ['unknown dtype', { ...ok(), outDtype: 'fp8' }, 'RangeError', /^convert: 'outDtype' must be one of 'f32', 'bf16', 'f16', got 'fp8'$/],
    ['i32 dtype', { ...ok(), xDtype: 'i32' }, 'RangeError', /^convert: 'xDtype' must be one of/],
    ['dtype not a string', { ...ok(), xDtype: 1 }, 'TypeError', /^convert: 'xDtype' must be one of 'f32', 'bf16', 'f16', got the number 1$/],
  ];
  test.each(cases)('%s', (_, args, name, message) => {
    for (const fn of [call, (a: unknown) => (addon.convertAsync as (a: unknown) => unknown)(a)]) {
      const e = nativeError(() => fn(args));
      expect(e.name).toBe(name);
      expect(e.message).toMatch(message);
    }
  });

  test('permute: an output sharing any byte with an input is refused, even exactly in place', () => {
    const T = 2, H = 4;
    const base = () => ({
      x: new Float32Array(T * H).fill(1), xDtype: 'f32' as const, tokens: T, hidden: H, kmax: 1, ids: Int32Array.of(0, 0),
      experts: 1, totalExperts: 1, segmentOf: Int32Array.of(0), offsets: Int32Array.of(0, 2), rowCount: 2, scale: 1,
      rows: new Float32Array(T * H), slotToRow: new Int32Array(T), rowToToken: new Int32Array(T),
    });
    const same = base();
    const e1 = nativeError(() => addon.permute({ ...same, rows: same.x }));
    expect(e1.name).toBe('RangeError');
    expect(e1.message).toBe("permute: 'rows' must not overlap 'x'");
    const ints = new Int32Array(4);
    const e2 = nativeError(() => addon.permute({ ...base(), slotToRow: ints.subarray(0, 2), rowToToken: ints.subarray(1, 3) }));
    expect(e2.message).toMatch(/^permute: '(slotToRow|rowToToken)' must not overlap '(slotToRow|rowToToken)'$/);
    const ok = base();
    addon.permute(ok);
    expect(Array.from(ok.rowToToken)).toEqual([0, 1]);
  });

  test('partial overlap is refused; exactly in place is allowed', () => {
    const buf = Uint16Array.of(0x3f80, 0x4000, 0x4040, 0x4080);
    const e = nativeError(() => addon.convert({ x: buf.subarray(0, 3), xDtype: 'bf16', out: buf.subarray(1, 4), outDtype: 'f16' }));
    expect(e.name).toBe('RangeError');
    expect(e.message).toBe("convert: 'x' must not partly overlap 'out' (exactly the same memory is allowed)");
    addon.convert({ x: buf, xDtype: 'bf16', out: buf, outDtype: 'f16' });
    expect(Array.from(buf)).toEqual([0x3c00, 0x4000, 0x4200, 0x4400]);
  });

  test('a getter that shrinks a resizable buffer read earlier is caught before the kernel runs (it used to crash)', () => {
    const n = 1 << 20;
    const rab = resizable(n * 4, n * 4);
    const x = new Float32Array(rab);
    const args = { x, xDtype: 'f32', outDtype: 'bf16', get out() { rab.resize(0); return new Uint16Array(n); } };
    const e = nativeError(() => (addon.convert as (a: unknown) => void)(args));
    expect(e.message).toBe("convert: 'x' was detached or resized while the arguments were read");
    // Shrunk to a non-zero length by a later field's getter (the length-tracking view follows it).
    const rab2 = resizable(64 * 4, 64 * 4);
    const x2 = new Float32Array(rab2);
    const args2 = { x: x2, xDtype: 'f32', outDtype: 'bf16', get out() { rab2.resize(32 * 4); return new Uint16Array(64); } };
    const e2 = nativeError(() => (addon.convert as (a: unknown) => void)(args2));
    expect(e2.message).toBe("convert: 'x' was detached or resized while the arguments were read");
    expect(x2.length).toBe(32);
  });

  test("permute: a getter of 'ids' that shrinks 'offsets' (its values are checked after ids is read) is caught, not read", () => {
    // The fuzz found it (mutation 7 of test/fuzz/binding.ts): offsets' values were read from freed pages.
    const at = 1 << 20;
    const rab = resizable(at + 8, at + 8);
    const offsets = new Int32Array(rab, at);
    offsets.set([0, 2]);
    const args = {
      x: new Float32Array(4).fill(1), xDtype: 'f32', tokens: 2, hidden: 2, kmax: 1, experts: 1, totalExperts: 1,
      segmentOf: Int32Array.of(0), offsets, get ids() { rab.resize(at); return Int32Array.of(0, 0); }, rowCount: 2, scale: 1,
      rows: new Float32Array(4), slotToRow: new Int32Array(2), rowToToken: new Int32Array(2),
    };
    const e = nativeError(() => (addon.permute as (a: unknown) => void)(args));
    expect(e.message).toBe("permute: 'offsets' was detached or resized while the arguments were read");
  });

  test('resizable buffers: accepted by the sync form, refused by the async one (naming the field); growable shared ones accepted', async () => {
    const n = 1000;
    const x = new Float32Array(resizable(n * 4, 8 * n)).fill(1.5);
    const out = new Uint16Array(n);
    addon.convert({ x, xDtype: 'f32', out, outDtype: 'bf16' });
    expect(out.every((v) => v === 0x3fc0)).toBe(true);
    const e = nativeError(() => addon.convertAsync({ x: new Float32Array(n), xDtype: 'f32', out: new Uint16Array(resizable(2 * n, 4 * n)), outDtype: 'bf16' }));
    expect(e.name).toBe('RangeError');
    expect(e.message).toBe("convert: 'out' must not be a view of a resizable ArrayBuffer in an async call (it could shrink while the op runs)");
    await expect(convertAsync({ x: { data: x, shape: [n], dtype: 'f32' }, to: 'bf16' }, { backend: 'cpu' })).rejects.toThrow(
      "convert: 'x' must not be a view of a resizable ArrayBuffer in an async call");
    const shared = new Float32Array(growableShared(n * 4, 8 * n)).fill(2);
    const o2 = new Uint16Array(n);
    await addon.convertAsync({ x: shared, xDtype: 'f32', out: o2, outDtype: 'bf16' });
    expect(o2.every((v) => v === 0x4000)).toBe(true);
  });

  test('a getter that detaches an array read earlier is caught before the kernel runs', () => {
    const x = new Float32Array(16);
    const args = { x, xDtype: 'f32', outDtype: 'bf16', get out() { structuredClone(x.buffer, { transfer: [x.buffer] }); return new Uint16Array(16); } };
    const e = nativeError(() => (addon.convert as (a: unknown) => void)(args));
    expect(e.message).toBe("convert: 'x' was detached or resized while the arguments were read");
  });
});

describe('async runner', () => {
  test('resolves to undefined with the outputs written, for every path', async () => {
    const x = new Rng(3).f32(100003, -1e3, 1e3);
    for (const p of PATHS) {
      addon.setSimdPath(p);
      const out = new Uint16Array(x.length);
      const pending = addon.convertAsync({ x, xDtype: 'f32', out, outDtype: 'bf16' });
      expect(types.isPromise(pending)).toBe(true); // the addon's realm: instanceof would fail in Jest
      await expect(pending).resolves.toBeUndefined();
      let bad = 0;
      for (let i = 0; i < x.length; i++) if (out[i] !== f32ToBf16(x[i]!)) bad++;
      expect(bad).toBe(0);
    }
  });

  test.each(['x', 'out'] as const)("rejects when '%s' is detached while the op runs", async (field) => {
    const a: ConvertNativeArgs = { x: new Float32Array(1 << 20).fill(1.5), xDtype: 'f32', out: new Uint16Array(1 << 20), outDtype: 'bf16' };
    const p = addon.convertAsync(a);
    // Completion is reported on the JS thread, so it cannot have happened before this line.
    const buf = a[field].buffer as ArrayBuffer;
    const moved = structuredClone(buf, { transfer: [buf] });
    await expect(p).rejects.toMatchObject({ message: `convert: '${field}' was detached or resized while the op ran; its result is lost` });
    expect(moved.byteLength).toBeGreaterThan(0);
  });

  test('keeps the arrays alive when the caller drops them (child with --expose-gc)', () => {
    const r = child(`
      const a = require(process.env.MOE_KERNELS_BINARY);
      a.setSimdPath('scalar'); // ~100 ms of work on one thread, so the collections below overlap it
      a.setNumThreads(1);
      const n = 1 << 25;
      const out = new Uint16Array(n);
      const args = { x: new Float32Array(n).map((_, i) => i % 1000), xDtype: 'f32', out, outDtype: 'f16' };
      const p = a.convertAsync(args);
      args.x = null;
      for (let i = 0; i < 10; i++) { new Float32Array(1 << 20); global.gc(); }
      p.then(() => { let bad = 0; for (let i = 0; i < n; i += 9973) {
        const want = new Uint16Array(1); a.convert({ x: Float32Array.of(i % 1000), xDtype: 'f32', out: want, outDtype: 'f16' });
        if (out[i] !== want[0]) bad++; }
        console.log(JSON.stringify({ bad })); });
    `, {}, ['--expose-gc']);
    expect(r).toEqual({ bad: 0 });
  });
});

describe('ISA code stays in its files', () => {
  const objDir = path.join(root, 'build', 'CMakeFiles', 'moe_kernels.dir', 'native', 'cpu', 'x86');
  const objects = fs.existsSync(objDir) ? fs.readdirSync(objDir).filter((f) => f.endsWith('.o')) : [];
  const nm = spawnSync('nm', ['--version']).status === 0;
  (objects.length && nm ? test : test.skip)('avx2 / avx512 objects define no weak or unique symbols', () => {
    // A weak definition (an inline function or template with external linkage) compiled with -mavx512f
    // may be the copy the linker keeps for every caller, and crash a CPU without AVX-512.
    const bad: string[] = [];
    for (const f of objects) {
      const r = spawnSync('nm', ['-C', '--defined-only', path.join(objDir, f)], { encoding: 'utf8' });
      for (const line of r.stdout.split('\n')) if (/ [WVu] /.test(line)) bad.push(`${f}: ${line.trim()}`);
    }
    expect(bad).toEqual([]);
  });
});

describe('MOE_CPU_DISABLE', () => {
  const script = `
    const a = require(process.env.MOE_KERNELS_BINARY);
    const c = a.capabilities();
    const bits = new Uint32Array(JSON.parse(process.env.INPUT));
    const x = new Float32Array(bits.buffer);
    const out = new Uint16Array(x.length);
    a.setSimdPath('avx512');
    a.convert({ x, xDtype: 'f32', out, outDtype: 'bf16' });
    console.log(JSON.stringify({ simd: c.simd, bf16: c.cpu.avx512bf16, bf16Dot: c.cpu.bf16Dot, best: a.setSimdPath('auto'), out: Array.from(out) }));
  `;
  const best = addon.setSimdPath('auto');
  const input = Array.from(new Uint32Array(new Rng(11).f32(4099, -4, 4).buffer));
  input.push(0x00000001, 0x807fffff, 0x00018000, 0x7f800001, 0xffc00001, 0x7f7fffff);

  (best === 'avx512' ? test : test.skip)('avx512bf16 hidden: the avx512 path rounds bf16 with integers, same bits', () => {
    const r = child(script, { MOE_CPU_DISABLE: 'avx512bf16', INPUT: JSON.stringify(input) }) as { simd: string; bf16: boolean; best: string; out: number[] };
    expect(r.bf16).toBe(false);
    expect(r.best).toBe('avx512');
    const f = new Float32Array(Uint32Array.from(input).buffer);
    expect(r.out).toEqual(Array.from(f, (v) => f32ToBf16(v)));
  });

  test('amd hidden: no AMD-only kernel choice (bf16Dot off), the features themselves stay', () => {
    const r = child(script, { MOE_CPU_DISABLE: 'amd', INPUT: JSON.stringify([0x3f800000]) }) as { bf16: boolean; bf16Dot: boolean; best: string };
    expect(r.bf16Dot).toBe(false);
    expect(r.best).toBe(best);
    expect(r.bf16).toBe(addon.capabilities().cpu.avx512bf16);
  });

  test('avx512 hidden: the best path is avx2 at most; avx2 hidden: scalar', () => {
    const one = JSON.stringify([0x3f800000]);
    const r1 = child(script, { MOE_CPU_DISABLE: 'avx512', INPUT: one }) as { best: string; bf16: boolean };
    expect(['scalar', 'avx2']).toContain(r1.best);
    expect(r1.bf16).toBe(false);
    const r2 = child(script, { MOE_CPU_DISABLE: 'avx2', INPUT: one }) as { best: string };
    expect(r2.best).toBe('scalar');
  });
});
