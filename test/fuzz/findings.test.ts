// Every problem the fuzz suite found, reproduced exactly. Fixed ones are plain tests (regressions); open ones
// go in a describe('open') as `test.failing` (they pass while the bug is there, and fail once it is fixed:
// then move them here without `.failing` and drop the matching entry of test/fuzz/known.ts).

import { spawnSync } from 'child_process';
import * as path from 'path';
import { MoELayer } from '../../lib/layer';
import { MAX_TYPED_ARRAY_LENGTH } from '../../lib/limits';
import { loadNative } from '../../lib/native';
import { convert } from '../../lib/ops/convert';
import { groupedGemm } from '../../lib/ops/grouped_gemm';
import { route } from '../../lib/ops/route';
import { routerStats } from '../../lib/ops/router_stats';
import { unpermute, validateUnpermute } from '../../lib/ops/unpermute';
import { validatePermute } from '../../lib/ops/permute';
import { expectArgError } from '../util';

const REGISTER = path.join(__dirname, '..', 'stress', 'ts-register.js');
const ROOT = path.join(__dirname, '..', '..');

/** Runs `code` in a fresh node (TypeScript allowed, cwd = the repo) under an optional address-space limit. */
function child(code: string, timeoutMs: number, memoryLimitMb = 0): { status: number | null; signal: string | null; out: string } {
  const node = `'${process.execPath}' -r '${REGISTER}' -e '${code.replace(/'/g, "'\\''")}'`;
  const r = spawnSync('/bin/sh', ['-c', memoryLimitMb > 0 ? `ulimit -v ${memoryLimitMb * 1024} && exec ${node}` : `exec ${node}`], {
    cwd: ROOT, encoding: 'utf8', timeout: timeoutMs,
  });
  return { status: r.status, signal: r.signal, out: `${r.stdout}${r.stderr}` };
}

const f32 = (shape: number[]): { data: Float32Array; shape: number[]; dtype: 'f32' } => ({ data: new Float32Array(0), shape, dtype: 'f32' });
const i32 = (shape: number[]): { data: Int32Array; shape: number[]; dtype: 'i32' } => ({ data: new Int32Array(0), shape, dtype: 'i32' });

describe('fixed (regressions)', () => {
  test('permute: a huge token count with zero hidden and zero slots is refused at once (it looped 2^40 times)', () => {
    const t0 = performance.now();
    expectArgError(() => validatePermute({ x: f32([2 ** 40, 0]), ids: i32([2 ** 40, 0]), experts: 2 }), RangeError, 'x');
    expect(performance.now() - t0).toBeLessThan(100);
  });

  test('unpermute: an out that partly overlaps an input is refused (the reference gave wrong numbers)', () => {
    const buf = new Float32Array(12);
    const args = {
      y: { data: new Float32Array(8), shape: [2, 4], dtype: 'f32' as const },
      ids: { data: Int32Array.of(0, 1), shape: [2, 1], dtype: 'i32' as const },
      weights: Float32Array.of(1, 1),
      slotToRow: Int32Array.of(0, 1),
      residual: { data: buf.subarray(0, 8), shape: [2, 4], dtype: 'f32' as const },
    };
    expectArgError(() => unpermute({ ...args, out: buf.subarray(2, 10) }), RangeError, 'out');
    expectArgError(() => unpermute({ ...args, out: args.y.data.subarray(0, 8) }), RangeError, 'out');
    // Exactly residual's memory is allowed (each element is read just before it is written).
    expect(() => validateUnpermute({ ...args, out: buf.subarray(0, 8) })).not.toThrow();
  });

  test('route: more than 2^20 experts is refused (capacity outputs of 2^31 experts took 16 GB)', () => {
    expectArgError(() => route({ logits: f32([0, 2 ** 31 - 1]), k: 1, capacity: { factor: 1 } }), RangeError, 'logits.shape');
    expectArgError(() => route({ method: 'external', ids: i32([0, 1]), experts: 2 ** 31 - 1 }), RangeError, 'experts');
  });

  test('router_stats: zero or more than 2^20 experts is refused (a hang, and an unnamed allocation error)', () => {
    expectArgError(() => routerStats({ ids: i32([2 ** 40, 0]), scores: f32([2 ** 40, 0]) }), RangeError, 'scores.shape');
    expectArgError(() => routerStats({ ids: i32([0, 1]), scores: f32([0, 2 ** 40]) }), RangeError, 'scores.shape');
  });

  test('an empty view of a detached buffer is refused by name (the reference threw an unnamed TypeError)', () => {
    const detached = (): Uint16Array => {
      const v = new Uint16Array(0);
      structuredClone(v.buffer, { transfer: [v.buffer] });
      return v;
    };
    expectArgError(() => convert({ x: { data: detached(), shape: [0], dtype: 'bf16' }, to: 'bf16' }, { backend: 'reference' }), RangeError, 'x');
    expectArgError(() => convert({ x: { data: new Uint16Array(0), shape: [0], dtype: 'f16' }, to: 'f16', out: detached() }, { backend: 'reference' }), RangeError, 'out');
  });

  test('dimensions past int32 with zero elements are refused by name (the binding named its own fields, the reference ran)', () => {
    expectArgError(() => groupedGemm({ a: f32([0, 2 ** 31]), w: f32([1, 0, 2 ** 31]) }), RangeError, 'a.shape');
    expectArgError(() => unpermute({ y: f32([0, 2 ** 32 + 1]), ids: i32([0, 2]), weights: f32([0, 2]), slotToRow: i32([0, 2]) }), RangeError, 'y.shape');
    expectArgError(() => unpermute({ y: f32([0, 4]), ids: i32([0, 2 ** 31]), weights: f32([0, 2 ** 31]), slotToRow: i32([0, 2 ** 31]) }), RangeError, 'ids.shape');
    expectArgError(() => route({ method: 'external', ids: i32([0, 2 ** 31]), experts: 4 }), RangeError, 'ids.shape');
    expectArgError(() => routerStats({ ids: i32([0, 2 ** 31]), scores: f32([0, 4]) }), RangeError, 'ids.shape');
  });

  // native/addon/permute.cpp read experts (up to 2^31 - 1) and allocated std::vector<int64_t>(experts) before
  // it read 'offsets' (experts + 1 elements); and opSync / opAsync called prepare() outside the bad_alloc
  // guard, so a std::bad_alloc there was std::terminate: the process died.
  const addon = loadNative();
  (addon ? test : test.skip)('permute binding: a huge experts with a short offsets is a RangeError, and an allocation failure while reading the arguments an Error (both aborted the process)', () => {
    const call = (experts: string, offsets: string): string => `
      const a = require('./lib/native.ts').loadNative();
      const offsets = ${offsets};
      for (const name of ['permute', 'permuteAsync']) {
        try {
          a[name]({ x: new Float32Array(2), xDtype: 'f32', tokens: 2, hidden: 1, kmax: 1, ids: Int32Array.of(0, -1),
            experts: ${experts}, totalExperts: 1, segmentOf: Int32Array.of(0), offsets, rowCount: 1,
            scale: 1, rows: new Float32Array(1), slotToRow: new Int32Array(2), rowToToken: new Int32Array(1) });
          console.log('returned');
        } catch (e) { console.log(e.constructor.name + ': ' + e.message); }
      }`;
    const short = child(call('2 ** 31 - 1', 'Int32Array.of(0, 1)'), 60_000, 6144);
    expect(short.out).toBe("RangeError: permute: 'offsets' must have 2147483648 elements, got 2\n".repeat(2));
    expect(short.status).toBe(0);
    // A real offsets of 2^28 + 1 elements (1 GiB, never touched) passes the length check; the binding's
    // 2 GiB of per-segment counts then cannot be had under a 3 GiB address-space limit: std::bad_alloc in prepare.
    const oom = child(call('2 ** 28', 'new Int32Array(2 ** 28 + 1)'), 60_000, 3072);
    expect(oom.out).toBe('Error: permute: out of memory\n'.repeat(2));
    expect(oom.status).toBe(0);
  });

  // lib/ops/unpermute.ts checked a caller's out but not whether tokens × hidden could be allocated at all; the
  // backends then threw V8's unnamed "Invalid typed array length".
  test('unpermute: tokens × hidden past the typed-array limit is a RangeError naming out', () => {
    // 2^62 elements: past every engine's limit.
    const T = 2 ** 31 - 1;
    expectArgError(() => unpermute({ y: f32([0, T]), ids: i32([T, 0]), weights: f32([T, 0]), slotToRow: i32([T, 0]) }, { backend: 'reference' }), RangeError, 'out');
    // The finding itself, 2^33 elements: past Node 20's 2^32 (engines that allow that length fail for memory instead).
    if (MAX_TYPED_ARRAY_LENGTH < 2 ** 33) {
      expectArgError(() => unpermute({ y: f32([0, 2 ** 20]), ids: i32([2 ** 13, 0]), weights: f32([2 ** 13, 0]), slotToRow: i32([2 ** 13, 0]) },
        { backend: 'reference' }), RangeError, 'out');
    }
  });

  // lib/layer.ts: resolve() accepted any safe integer size; MoELayer.random then failed in a typed-array
  // allocation with V8's "Invalid typed array length" instead of naming the config.
  test('MoELayer.random: sizes whose weights cannot be allocated are a RangeError naming the config', () => {
    expectArgError(() => MoELayer.random({ hidden: 2 ** 40, intermediate: 4, experts: 4, topK: 2 }), RangeError, 'config');
    // int32 sizes whose product is past every engine's typed-array limit: w1 [4, 2^31, 2^31 - 1], about 2^63 elements.
    const huge = { hidden: 2 ** 31 - 1, intermediate: 2 ** 30, experts: 4, topK: 2 };
    expectArgError(() => MoELayer.random(huge), RangeError, 'config');
    expectArgError(() => new MoELayer(huge, { w1: f32([0]), w2: f32([0]) }), RangeError, 'config');
    // w1 [8, 2 · 2^12, 2^20] = 2^36 elements: past Node 20's 2^32 (where a longer array may exist, a length check
    // cannot see it; MoELayer.random then names the config when the allocation fails).
    if (MAX_TYPED_ARRAY_LENGTH < 2 ** 36) expectArgError(() => MoELayer.random({ hidden: 2 ** 20, intermediate: 2 ** 12, experts: 8, topK: 2 }), RangeError, 'config');
  });

  // lib/reference/grouped_gemm.ts: with n = 0 there is nothing to write, yet the reference visited all
  // 2^31 - 1 rows (about 13 s here; the cpu backend takes 0.2 s).
  test('reference grouped_gemm: 2^31 - 1 rows of an empty product return at once', () => {
    const code = `
      require('./lib/ops/grouped_gemm.ts').groupedGemm({ a: { data: new Float32Array(0), shape: [2 ** 31 - 1, 0], dtype: 'f32' },
        w: { data: new Float32Array(0), shape: [1, 0, 0], dtype: 'f32' } }, { backend: 'reference' });
      console.log('done');`;
    const r = child(code, 4000);
    expect(r.out).toContain('done');
  });
});
