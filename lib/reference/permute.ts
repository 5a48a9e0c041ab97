// Reference `permute`: plain loops over (slot rank, token), the oracle for the native backends.

import { FloatDType, bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../dtype';
import type { Tensor } from '../tensor';
import type { PermuteResult, PermuteValidated } from '../ops/permute.types';
import { assertOutputsKept, layoutOutputs } from '../ops/permute.out';

function decoder(d: FloatDType): (v: number) => number {
  return d === 'f32' ? (v) => v : d === 'bf16' ? bf16ToF32 : f16ToF32;
}

function encoder(d: FloatDType): (v: number) => number {
  return d === 'f32' ? Math.fround : d === 'bf16' ? f32ToBf16 : f32ToF16;
}

export function permuteReference(a: PermuteValidated): PermuteResult {
  const { x, tokens: T, hidden: H, kmax: K, experts: E, rows: R, segmentOf, scale } = a;
  const ids = a.ids.data;
  const src = x.data;
  // permuteAsync runs this a microtask after validation: a caller's output transferred away meanwhile
  // would silently drop every write.
  assertOutputsKept(a, 'before the op ran');
  const out = a.out;
  const data = out.rows?.fill(0) ?? (x.dtype === 'f32' ? new Float32Array(R * H) : new Uint16Array(R * H)); // padding rows are 0
  const slotToRow = (out.slotToRow ?? new Int32Array(T * K)).fill(-1);
  const rowToToken = (out.rowToToken ?? new Int32Array(R)).fill(-1);
  const next = a.offsets.slice(0, E); // next free row of each segment
  const dec = decoder(x.dtype);
  const enc = encoder(x.dtype);

  // Rank-major, then token order: the stable order of SPEC §3.
  for (let j = 0; j < K; j++) {
    for (let t = 0; t < T; t++) {
      const id = ids[t * K + j]!;
      if (id < 0) continue;
      const s = segmentOf[id]!;
      if (s < 0) continue; // zero-computation expert, or an expert on another rank
      const r = next[s]!++;
      slotToRow[t * K + j] = r;
      rowToToken[r] = t;
      if (scale === 1) {
        // Bit copy: keeps NaN payloads and -0 exactly, whatever the dtype.
        data.set(src.subarray(t * H, (t + 1) * H), r * H);
      } else {
        for (let h = 0; h < H; h++) data[r * H + h] = enc(dec(src[t * H + h]!) * scale);
      }
    }
  }
  const { offsets, tokensPerExpert } = layoutOutputs(a);
  return {
    rows: { data, shape: [R, H], dtype: x.dtype } as Tensor<FloatDType>,
    offsets: { data: offsets, shape: [E + 1], dtype: 'i32' },
    slotToRow: { data: slotToRow, shape: [T, K], dtype: 'i32' },
    rowToToken: { data: rowToToken, shape: [R], dtype: 'i32' },
    tokensPerExpert: { data: tokensPerExpert, shape: [E], dtype: 'i32' },
  };
}
