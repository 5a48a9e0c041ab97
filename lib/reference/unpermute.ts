// Reference `unpermute` (combine): per token, slots in slot order, accumulated in float64 and rounded
// once to the output dtype. The oracle for the native backends.

import { FloatDType, f32ToBf16, f32ToF16 } from '../dtype';
import { Tensor, toF32 } from '../tensor';
import type { UnpermuteResult, UnpermuteValidated } from '../ops/unpermute.types';

const ZERO = -1;
const COPY = -2; // constant expert c is coded as c >= 0

export function unpermuteReference(a: UnpermuteValidated): UnpermuteResult {
  const { tokens: T, hidden: H, kmax: K, inputScale } = a;
  const ids = a.ids.data;
  const w = a.weights.data;
  const slotToRow = a.slotToRow.data;
  const y = toF32(a.y);
  const x = a.x ? toF32(a.x) : null;
  const shared = a.shared ? toF32(a.shared) : null;
  const residual = a.residual ? toF32(a.residual) : null;
  const wc = a.wc?.data;
  const v = a.v?.data;

  const kind = new Map<number, number>();
  for (const id of a.zeroExperts) kind.set(id, ZERO);
  for (const id of a.copyExperts) kind.set(id, COPY);
  a.constantIds.forEach((id, c) => kind.set(id, c));

  const n = T * H;
  const out = a.out ?? (a.outDtype === 'f32' ? new Float32Array(n) : new Uint16Array(n));
  const enc = a.outDtype === 'f32' ? Math.fround : a.outDtype === 'bf16' ? f32ToBf16 : f32ToF16;
  const acc = new Float64Array(H);
  const u = new Float64Array(H);

  for (let t = 0; t < T; t++) {
    acc.fill(0);
    for (let j = 0; j < K; j++) {
      const s = t * K + j;
      const g = w[s]!;
      const r = slotToRow[s]!;
      if (r >= 0) {
        for (let h = 0; h < H; h++) acc[h] = acc[h]! + g * y[r * H + h]!;
        continue;
      }
      const e = kind.get(ids[s]!);
      if (e === undefined || e === ZERO) continue; // id -1, zero expert, or an FFN expert on another rank
      for (let h = 0; h < H; h++) u[h] = inputScale * x![t * H + h]!;
      if (e === COPY) {
        for (let h = 0; h < H; h++) acc[h] = acc[h]! + g * u[h]!;
        continue;
      }
      // Constant expert e: (a1, a2) = softmax(Wc_e u), max-subtracted.
      let l0 = 0;
      let l1 = 0;
      for (let h = 0; h < H; h++) {
        l0 += wc![(e * 2) * H + h]! * u[h]!;
        l1 += wc![(e * 2 + 1) * H + h]! * u[h]!;
      }
      const m = Math.max(l0, l1);
      const e0 = Math.exp(l0 - m);
      const e1 = Math.exp(l1 - m);
      const a1 = e0 / (e0 + e1);
      const a2 = e1 / (e0 + e1);
      for (let h = 0; h < H; h++) acc[h] = acc[h]! + g * (a1 * u[h]! + a2 * v![e * H + h]!);
    }
    for (let h = 0; h < H; h++) {
      let o = acc[h]!;
      if (shared) o += shared[t * H + h]!;
      if (residual) o += residual[t * H + h]!;
      out[t * H + h] = enc(o);
    }
  }
  return { out: { data: out, shape: [T, H], dtype: a.outDtype } as Tensor<FloatDType> };
}
