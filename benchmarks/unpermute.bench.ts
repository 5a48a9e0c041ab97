// unpermute: the combine. out [T, H] = Σ_slots w · y[slotToRow] (+ copy / constant experts from x, + the
// shared expert's output), slots summed in slot order. Memory-bound: GB/s of y, x, shared and out.

import { unpermute } from '../lib';
import type { Tensor, UnpermuteArgs, UnpermuteResult } from '../lib';
import type { OpCase } from './context';
import { bytesOf, floatCheck, relErr, sameBits, tolFor } from './validate';
import type { OpInputs } from './workload';

export function unpermuteArgs(inp: OpInputs, s: number): UnpermuteArgs {
  const r = inp.routings[s]!;
  const sp = inp.special;
  const needX = sp.copy.length > 0 || sp.constant.length > 0;
  const sh = inp.shared[s];
  return {
    y: inp.ys[s]!, ids: r.ids, weights: r.weights, slotToRow: inp.perms[s]!.slotToRow,
    ...(sp.zero.length ? { zeroExperts: sp.zero } : {}),
    ...(sp.copy.length ? { copyExperts: sp.copy } : {}),
    ...(sp.constant.length ? { constantExperts: { ids: sp.constant, wc: inp.w.constantWc as Tensor, v: inp.w.constantV as Tensor } } : {}),
    ...(needX ? { x: inp.xs[s]!, inputScale: inp.cfg.inputScale ?? 1 } : {}),
    ...(sh ? { shared: sh } : {}),
    outDtype: inp.dtype,
  };
}

export function unpermuteCase(inp: OpInputs, shape: string): OpCase<UnpermuteResult> {
  const { T, d, dtype } = inp;
  const n = inp.ys.length;
  const R = inp.ys[0]!.shape[0]!;
  const b = bytesOf(dtype);
  const extra = (inp.special.copy.length || inp.special.constant.length ? T * d.H * b : 0) + (inp.shared[0] ? T * d.H * b : 0);
  let oracle: UnpermuteResult | null = null;
  let out: Float32Array | Uint16Array | undefined;
  return {
    op: 'unpermute', opId: 'unpermute', shape, tokens: T, dtype,
    flop: 2 * R * d.H,
    bytes: R * d.H * b + T * d.H * b + extra + T * d.k * 12,
    bytesKind: 'memory',
    flush: false,
    refCost: (R + T) * d.H,
    run: (backend, rep) => unpermute(unpermuteArgs(inp, rep % n), { backend }),
    into: (backend, rep) => unpermute({ ...unpermuteArgs(inp, rep % n), out: (out ??= dtype === 'f32' ? new Float32Array(T * d.H) : new Uint16Array(T * d.H)) }, { backend }),
    check(out, ref) {
      oracle ??= ref ?? unpermute(unpermuteArgs(inp, 0), { backend: 'reference' });
      return floatCheck(relErr(out.out, oracle.out), tolFor(dtype), 'reference (full)');
    },
    same: (a, x) => sameBits(a.out.data, x.out.data),
  };
}
