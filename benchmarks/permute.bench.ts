// permute: x [T, H] gathered into per-expert rows [R, H] (R = FFN-routed slots) with offsets [E+1] and the
// two maps. A pure copy: GB/s of the rows read and written plus the ids and maps.

import { permute } from '../lib';
import type { PermuteResult } from '../lib';
import type { OpCase } from './context';
import { bytesOf, exactCheck, mismatches, sameBits } from './validate';
import type { OpInputs } from './workload';

const bits = (t: { data: Float32Array | Uint16Array | Int32Array }): Uint16Array | Int32Array =>
  t.data instanceof Float32Array ? new Int32Array(t.data.buffer, t.data.byteOffset, t.data.length) : t.data;

export function permuteCase(inp: OpInputs, shape: string): OpCase<PermuteResult> {
  const { T, d, dtype } = inp;
  const n = inp.xs.length;
  const R = inp.perms[0]!.rows.shape[0]!;
  const kmax = inp.routings[0]!.ids.shape[1]!;
  return {
    op: 'permute', opId: 'permute', shape, tokens: T, dtype,
    flop: 0,
    bytes: 2 * R * d.H * bytesOf(dtype) + T * kmax * 8 + R * 4,
    bytesKind: 'memory',
    flush: false,
    refCost: R * d.H,
    run: (backend, rep) => permute({ x: inp.xs[rep % n]!, ids: inp.routings[rep % n]!.ids, experts: d.E, totalExperts: d.N, scale: inp.cfg.inputScale ?? 1 }, { backend }),
    check(out, ref) {
      const want = ref ?? inp.perms[0]!;
      const bad = mismatches(bits(out.rows), bits(want.rows)) + mismatches(out.offsets.data, want.offsets.data) +
        mismatches(out.slotToRow.data, want.slotToRow.data) + mismatches(out.rowToToken.data, want.rowToToken.data);
      return exactCheck(bad, 'reference (full, bitwise)');
    },
    same: (a, b) => sameBits(a.rows.data, b.rows.data) && sameBits(a.slotToRow.data, b.slotToRow.data),
  };
}
