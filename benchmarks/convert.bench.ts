// convert: one expert's W1 [2I, H] from f32 to bf16 and back (what loading a checkpoint in another dtype
// costs). Bandwidth-bound: GB/s of the bytes read and written. Must match the reference bit for bit.

import { convert } from '../lib';
import type { ConvertResult, Tensor } from '../lib';
import type { OpCase } from './context';
import { exactCheck, sameBits } from './validate';

export function convertCases(w1f32: Tensor<'f32'>, shape: string): OpCase<ConvertResult>[] {
  const [, n1, H] = w1f32.shape as [number, number, number];
  const x: Tensor<'f32'> = { data: w1f32.data.subarray(0, n1 * H), shape: [n1, H], dtype: 'f32' };
  const xb = convert({ x, to: 'bf16' }).y; // an input here; the checks compute their own reference
  const dirs = [
    { label: 'f32>bf16', x: x as Tensor, to: 'bf16' as const, want: null as Tensor | null, out: undefined as Float32Array | Uint16Array | undefined },
    { label: 'bf16>f32', x: xb, to: 'f32' as const, want: null as Tensor | null, out: undefined as Float32Array | Uint16Array | undefined },
  ];
  return dirs.map((dir) => ({
    op: 'convert', opId: 'convert' as const, shape, tokens: 0, dtype: dir.label,
    flop: 0,
    bytes: n1 * H * 6,
    bytesKind: 'memory' as const,
    flush: false,
    refCost: n1 * H * 4,
    run: (backend: 'auto' | 'reference' | 'cpu' | 'cuda') => convert({ x: dir.x, to: dir.to }, { backend }),
    into: (backend: 'auto' | 'reference' | 'cpu' | 'cuda') => convert({ x: dir.x, to: dir.to, out: (dir.out ??= dir.to === 'f32' ? new Float32Array(n1 * H) : new Uint16Array(n1 * H)) }, { backend }),
    check(out: ConvertResult, ref: ConvertResult | null) {
      dir.want ??= ref?.y ?? convert({ x: dir.x, to: dir.to }, { backend: 'reference' }).y;
      const a = out.y.data, b = dir.want.data;
      const bad = sameBits(a, b) ? 0 : Math.max(1, a.length === b.length ? countDiff(a, b) : Infinity);
      return exactCheck(bad, 'reference (full, bitwise)');
    },
    same: (a: ConvertResult, b: ConvertResult) => sameBits(a.y.data, b.y.data),
    note: `${n1} x ${H} elements (one expert's W1)`,
  }));
}

function countDiff(a: ArrayBufferView, b: ArrayBufferView): number {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) n++;
  return n;
}
