// permute, grouped_gemm, unpermute, router_stats and convert cases of the GPU check: random inputs at
// several sizes (odd ones too) and the SPEC edge cases of each op.

import { Rng } from '../../lib/random';
import { f32ToBf16, f32ToF16, FloatDType } from '../../lib/dtype';
import type { Tensor } from '../../lib/tensor';
import type { BackendName } from '../../lib/backends/backend';
import { permute } from '../../lib/ops/permute';
import { groupedGemm } from '../../lib/ops/grouped_gemm';
import { ACTIVATIONS, Activation, GluLayout } from '../../lib/ops/grouped_gemm.types';
import { unpermute } from '../../lib/ops/unpermute';
import { routerStats } from '../../lib/ops/router_stats';
import { convert } from '../../lib/ops/convert';
import { EXACT, Out, poisoned, rel, TOL } from './compare';
import type { CheckCase } from './cases';

/** A float tensor of `dtype` holding normal(0, sd) values (half types as bits). */
export function floats(rng: Rng, shape: number[], dtype: FloatDType, sd = 1): Tensor<FloatDType> {
  const n = shape.reduce((a, b) => a * b, 1);
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = rng.normal() * sd;
  if (dtype === 'f32') return { data: f, shape, dtype };
  const enc = dtype === 'bf16' ? f32ToBf16 : f32ToF16;
  return { data: Uint16Array.from(f, enc), shape, dtype } as Tensor<FloatDType>;
}

/** ids [T, K] with distinct ids per row drawn from [0, total), a fraction `empty` of them -1. */
export function routing(rng: Rng, T: number, K: number, total: number, empty = 0): Int32Array {
  const ids = new Int32Array(T * K).fill(-1);
  const pool = Int32Array.from({ length: total }, (_, i) => i);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < K && j < total; j++) {
      const p = j + rng.int(total - j);
      [pool[j], pool[p]] = [pool[p]!, pool[j]!];
      ids[t * K + j] = rng.next() < empty ? -1 : pool[j]!;
    }
  }
  return ids;
}

/** Like floats(), for the large timing tensors: a 1M-value random block repeated, built without an f32
 *  copy of the whole tensor (the values only need to be realistic, not independent). */
export function fastFloats(rng: Rng, shape: number[], dtype: FloatDType, sd = 1): Tensor<FloatDType> {
  const n = shape.reduce((a, b) => a * b, 1);
  const block = floats(rng, [Math.min(n, 1 << 20)], dtype, sd).data;
  const data = dtype === 'f32' ? new Float32Array(n) : new Uint16Array(n);
  for (let i = 0; i < n; i += block.length) data.set(block.subarray(0, Math.min(block.length, n - i)) as never, i);
  return { data, shape, dtype } as Tensor<FloatDType>;
}

const halfTol = (...d: FloatDType[]) => rel(d.every((x) => x === 'f32') ? TOL.f32 : TOL.half);
const outOf = (t: Tensor, measure = rel(TOL.f32)): Out => ({ data: t.data as Out['data'], dtype: t.dtype, measure });
const newOut = (dtype: FloatDType, n: number) => poisoned(dtype === 'f32' ? new Float32Array(n) : new Uint16Array(n), dtype);

export function permuteCases(sizes: number[]): CheckCase[] {
  const cases: CheckCase[] = [];
  let seed = 100;
  for (const T of sizes) {
    const add = (name: string, K: number, E: number, total: number, H: number, dtype: FloatDType, o: { align?: number; scale?: number; map?: boolean; empty?: number }) => {
      const rng = new Rng(seed++);
      const ids = routing(rng, T, K, total, o.empty ?? 0);
      const x = floats(rng, [T, H], dtype);
      const expertMap = o.map ? Int32Array.from({ length: total }, () => (rng.int(3) === 0 ? -1 : rng.int(E))) : undefined;
      cases.push({
        op: 'permute', name: `${name}, T=${T}, K=${K}, E=${E}, H=${H}, ${dtype}`, small: T * H <= 1 << 16,
        run: (backend: BackendName) => {
          const r = permute({ x, ids: { data: ids, shape: [T, K], dtype: 'i32' }, experts: E, totalExperts: total, expertMap, align: o.align, scale: o.scale }, { backend });
          return {
            rows: outOf(r.rows, rel(0)), // bit copies, or the reference's own rounding of scale · x
            offsets: outOf(r.offsets, EXACT), slotToRow: outOf(r.slotToRow, EXACT),
            rowToToken: outOf(r.rowToToken, EXACT), tokensPerExpert: outOf(r.tokensPerExpert, EXACT),
          };
        },
      });
    };
    add('mixtral k2', 2, 8, 8, 33, 'f32', {});
    add('qwen3 k8, 20% empty slots', 8, 128, 128, 64, 'bf16', { empty: 0.2 });
    add('moe++ 16 FFN + 4 special, scale 2', 2, 16, 20, 24, 'f16', { scale: 2 });
    add('expert map (EP), align 16', 4, 12, 40, 8, 'bf16', { map: true, align: 16, empty: 0.1 });
    add('align 128, scale 0.5, odd H', 3, 5, 5, 7, 'f32', { align: 128, scale: 0.5 });
    add('every token to one expert', 1, 1, 1, 16, 'bf16', {});
  }
  return cases;
}

export function gemmCases(quick: boolean): CheckCase[] {
  const cases: CheckCase[] = [];
  let seed = 200;
  const dtypeSets: [FloatDType, FloatDType, FloatDType][] = [['f32', 'f32', 'f32'], ['bf16', 'bf16', 'bf16'], ['f16', 'f16', 'f32'], ['f32', 'bf16', 'f32'], ['bf16', 'f32', 'bf16']];
  const add = (name: string, R: number, K: number, N: number, E: number, d: [FloatDType, FloatDType, FloatDType], act: Activation, lay: GluLayout, bias: boolean, addend: boolean) => {
    const rng = new Rng(seed++);
    const counts = new Array<number>(E).fill(0);
    for (let r = 0; r < R; r++) {
      const e = rng.int(E);
      counts[E > 2 && e % 5 === 3 ? 0 : e]! += 1; // experts 3, 8, ... stay empty
    }
    const offsets = new Int32Array(E + 1);
    for (let e = 0; e < E; e++) offsets[e + 1] = offsets[e]! + counts[e]!;
    const a = floats(rng, [R, K], d[0]);
    const w = floats(rng, [E, N, K], d[1], 1 / Math.sqrt(Math.max(K, 1)));
    const b = bias ? Float32Array.from({ length: E * N }, () => rng.normal() * 0.5) : undefined;
    const ad = addend ? Float32Array.from({ length: R * N }, () => rng.normal() * 0.5) : undefined;
    const nOut = act === 'swiglu' || act === 'geglu' ? N / 2 : N;
    cases.push({
      op: 'grouped_gemm', name: `${name}, R=${R}, K=${K}, N=${N}, E=${E}, ${d.join(' x ')}, ${act}${nOut !== N ? ` ${lay}` : ''}${bias ? ' +bias' : ''}${addend ? ' +addend' : ''}`,
      small: R * K * N <= 1 << 22,
      run: (backend: BackendName) => {
        const r = groupedGemm({ a, w, offsets: { data: offsets, shape: [E + 1], dtype: 'i32' }, bias: b, addend: ad, activation: act, gluLayout: lay, outDtype: d[2], out: newOut(d[2], R * nOut) }, { backend });
        return { y: outOf(r.y, halfTol(...d)) };
      },
    });
  };
  for (const act of ACTIVATIONS) {
    const glu = act === 'swiglu' || act === 'geglu';
    for (const lay of glu ? (['halves', 'interleaved'] as const) : (['halves'] as const)) {
      for (const [i, d] of dtypeSets.entries()) add('activations', 255, 136, 202, 7, d, act, lay, i % 2 === 0, i % 3 === 0);
    }
  }
  for (const d of dtypeSets) {
    add('decode (few rows per expert)', 5, 512, 96, 8, d, 'swiglu', 'halves', false, false);
    add('tensor-core sized', quick ? 260 : 1031, 256, 258, 5, d, 'silu', 'halves', true, false);
    add('k = 0', 9, 0, 16, 3, d, 'gelu', 'halves', true, true);
    add('odd k = 37', 64, 37, 50, 4, d, 'none', 'halves', false, false);
    add('dense (one expert)', 96, 64, 80, 1, d, 'none', 'halves', false, false);
  }
  return cases;
}

export function unpermuteCases(sizes: number[]): CheckCase[] {
  const cases: CheckCase[] = [];
  let seed = 300;
  for (const T of sizes) {
    for (const dtype of ['f32', 'bf16', 'f16'] as const) {
      const add = (name: string, K: number, H: number, specials: boolean, shared: boolean, residual: boolean, inputScale: number) => {
        const rng = new Rng(seed++);
        const F = 16;
        const total = F + (specials ? 4 : 0);
        const ids = routing(rng, T, K, total, 0.1);
        const slotToRow = new Int32Array(T * K).fill(-1);
        const order: number[] = [];
        for (let s = 0; s < T * K; s++) if (ids[s]! >= 0 && ids[s]! < F && rng.int(8) !== 0) order.push(s); // some FFN ids on another rank
        for (let i = order.length - 1; i > 0; i--) { const j = rng.int(i + 1); [order[i], order[j]] = [order[j]!, order[i]!]; }
        order.forEach((s, r) => { slotToRow[s] = r; });
        const y = floats(rng, [order.length, H], dtype);
        const args = {
          y, ids: { data: ids, shape: [T, K], dtype: 'i32' as const },
          weights: { data: Float32Array.from({ length: T * K }, () => rng.next()), shape: [T, K], dtype: 'f32' as const },
          slotToRow: { data: slotToRow, shape: [T, K], dtype: 'i32' as const },
          x: floats(rng, [T, H], dtype), inputScale,
          ...(specials ? {
            zeroExperts: [F + 3], copyExperts: [F + 2],
            constantExperts: { ids: [F, F + 1], wc: Float32Array.from({ length: 4 * H }, () => rng.normal() * 0.05), v: Float32Array.from({ length: 2 * H }, () => rng.normal()) },
          } : {}),
          ...(shared ? { shared: floats(rng, [T, H], dtype) } : {}),
          ...(residual ? { residual: floats(rng, [T, H], dtype) } : {}),
        };
        cases.push({
          op: 'unpermute', name: `${name}, T=${T}, K=${K}, H=${H}, ${dtype}`, small: T * H <= 1 << 16,
          run: (backend: BackendName) => ({ out: outOf(unpermute(args, { backend }).out, halfTol(dtype)) }),
        });
      };
      add('mixtral k2 + residual', 2, 131, false, false, true, 1);
      add('moe++ zero/copy/constant, u = 2x', 2, 64, true, false, true, 2);
      add('deepseek k8 + shared + residual', 8, 300, false, true, true, 1);
    }
  }
  return cases;
}

export function statsCases(sizes: number[]): CheckCase[] {
  const cases: CheckCase[] = [];
  let seed = 400;
  for (const T of sizes) {
    const add = (K: number, E: number, normalize: boolean, mask: boolean, withLogits: boolean) => {
      const rng = new Rng(seed++);
      const z = Float32Array.from({ length: T * E }, () => rng.normal());
      if (T > 2) z[2 * E] = -Infinity;
      const p = new Float32Array(T * E);
      for (let t = 0; t < T; t++) {
        let s = 0;
        for (let e = 0; e < E; e++) s += Math.exp(z[t * E + e]!);
        for (let e = 0; e < E; e++) p[t * E + e] = Math.exp(z[t * E + e]!) / s;
      }
      const ids = routing(rng, T, K, E, 0.25);
      const tokenMask = mask ? Uint8Array.from({ length: T }, () => (rng.int(5) === 0 ? 0 : 1)) : undefined;
      cases.push({
        op: 'router_stats', name: `T=${T}, K=${K}, E=${E}${normalize ? ', normalize' : ''}${mask ? ', mask' : ''}${withLogits ? ', logits' : ''}`, small: true,
        run: (backend: BackendName) => {
          const r = routerStats({
            ids: { data: ids, shape: [T, K], dtype: 'i32' }, scores: { data: p, shape: [T, E], dtype: 'f32' },
            logits: withLogits ? { data: z, shape: [T, E], dtype: 'f32' } : undefined, normalizeScores: normalize, tokenMask,
          }, { backend });
          const scalars = Float64Array.of(r.tokens, r.selections, r.zSquareSum ?? 0, r.entropySum);
          return {
            counts: outOf(r.counts, EXACT), top1Counts: outOf(r.top1Counts, EXACT), probSum: outOf(r.probSum, rel(1e-6)),
            scalars: { data: Float32Array.from(scalars), dtype: 'f32', measure: rel(1e-6) },
          };
        },
      });
    };
    add(2, 8, false, false, true);
    add(8, 257, true, true, true);
    add(64, 64, false, true, false);
  }
  return cases;
}

export function convertCases(sizes: number[]): CheckCase[] {
  const cases: CheckCase[] = [];
  const dtypes: FloatDType[] = ['f32', 'bf16', 'f16'];
  for (const n of sizes) {
    const rng = new Rng(500 + n);
    // Every class of value: random bits (NaNs, infs, subnormals), bf16 / f16 ties, f16 overflow and subnormals.
    const u = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const r = (rng.next() * 4294967296) >>> 0;
      u[i] = i % 4 === 0 ? r : i % 4 === 1 ? ((r & 0xffff0000) | 0x8000) >>> 0 : i % 4 === 2 ? ((r & 0x87ffe000) | 0x38001000) >>> 0 : r & 0x3fffffff;
    }
    const f = new Float32Array(u.buffer);
    for (const from of dtypes) {
      const x = from === 'f32' ? { data: f, shape: [n], dtype: 'f32' as const }
        : { data: Uint16Array.from(f, from === 'bf16' ? f32ToBf16 : f32ToF16), shape: [n], dtype: from };
      for (const to of dtypes) {
        cases.push({
          op: 'convert', name: `${from} -> ${to}, n=${n}`, small: n <= 1 << 16,
          run: (backend: BackendName) => {
            const r = convert({ x, to, out: newOut(to, n) }, { backend });
            // NaN payloads are not compared (a JS number may not keep them); everything else exactly.
            return { y: outOf(r.y, rel(0)) };
          },
        });
      }
    }
  }
  return cases;
}
