// permute: x [T, H] gathered into per-expert rows [R, H] (R = FFN-routed slots) with offsets [E+1] and the
// two maps. A pure copy: GB/s of the rows read and written plus the ids and maps.

import { permute, permuteCapacity } from '../lib';
import type { PermuteOut, PermuteResult } from '../lib';
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
  const args = (rep: number) => ({ x: inp.xs[rep % n]!, ids: inp.routings[rep % n]!.ids, experts: d.E, totalExperts: d.N, scale: inp.cfg.inputScale ?? 1 });
  // Sized once for every routing of T tokens (permuteCapacity), as a caller reusing them would.
  let out: PermuteOut | undefined;
  const outputs = (): PermuteOut => {
    const cap = permuteCapacity({ tokens: T, hidden: d.H, kmax, experts: d.E });
    return {
      rows: dtype === 'f32' ? new Float32Array(cap.rows) : new Uint16Array(cap.rows),
      offsets: new Int32Array(cap.offsets), slotToRow: new Int32Array(cap.slotToRow), rowToToken: new Int32Array(cap.rowToToken),
      tokensPerExpert: new Int32Array(cap.tokensPerExpert),
    };
  };
  return {
    op: 'permute', opId: 'permute', shape, tokens: T, dtype,
    flop: 0,
    bytes: 2 * R * d.H * bytesOf(dtype) + T * kmax * 8 + R * 4,
    bytesKind: 'memory',
    flush: false,
    refCost: R * d.H,
    run: (backend, rep) => permute(args(rep), { backend }),
    into: (backend, rep) => permute({ ...args(rep), out: (out ??= outputs()) }, { backend }),
    check(out, ref) {
      const want = ref ?? inp.perms[0]!;
      const bad = mismatches(bits(out.rows), bits(want.rows)) + mismatches(out.offsets.data, want.offsets.data) +
        mismatches(out.slotToRow.data, want.slotToRow.data) + mismatches(out.rowToToken.data, want.rowToToken.data);
      return exactCheck(bad, 'reference (full, bitwise)');
    },
    same: (a, b) => sameBits(a.rows.data, b.rows.data) && sameBits(a.slotToRow.data, b.slotToRow.data),
  };
}
