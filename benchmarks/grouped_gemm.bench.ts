// grouped_gemm: the two expert projections of the layer on the permuted rows.
//   w1: act = f(rows [R, H] · W1[e]ᵀ) with W1 [E, 2I, H] (GLU: I outputs per row), 2·R·2I·H FLOP
//   w2: y   = act [R, I] · W2[e]ᵀ   with W2 [E, H, I],                                 2·R·H·I FLOP
// Bytes are the weights of the experts that received rows (each is read at least once): at decode the
// GEMMs are bound by streaming them, at prefill by the FMA rate. Where the full reference would take too
// long, the output is checked on sampled rows: each sampled row is recomputed by the reference as a
// one-row, one-expert grouped GEMM.

import { groupedGemm } from '../lib';
import type { GroupedGemmArgs, GroupedGemmResult, Tensor } from '../lib';
import type { OpCase } from './context';
import { floatCheck, reader, relErr, relErrRange, sameBits, tolFor } from './validate';
import { expertsUsed, OpInputs } from './workload';

const outArray = (dtype: string, n: number): Float32Array | Uint16Array => (dtype === 'f32' ? new Float32Array(n) : new Uint16Array(n));

/** Up to `count` rows spread over [0, R): first, last and evenly between. */
export function sampleRows(R: number, count: number): number[] {
  if (R <= count) return Array.from({ length: R }, (_, i) => i);
  const s = new Set<number>([0, R - 1]);
  for (let i = 1; s.size < count; i++) s.add(Math.floor((i * R) / count) % R);
  return [...s].sort((a, b) => a - b);
}

function expertOfRow(offsets: Int32Array, r: number): number {
  let e = 0;
  while (offsets[e + 1]! <= r) e++;
  return e;
}

/** The reference's output rows for `rows` of the call `args` (one-row calls on the row's expert). */
function sampledReference(args: GroupedGemmArgs & { a: Tensor; w: Tensor; offsets: Int32Array }, rows: number[]): Tensor[] {
  const K = args.a.shape[1]!;
  const N = args.w.shape[1]!;
  return rows.map((r) => {
    const e = expertOfRow(args.offsets, r);
    const a = { data: args.a.data.subarray(r * K, (r + 1) * K), shape: [1, K], dtype: args.a.dtype } as Tensor;
    const w = { data: args.w.data.subarray(e * N * K, (e + 1) * N * K), shape: [1, N, K], dtype: args.w.dtype } as Tensor;
    return groupedGemm({ ...args, a, w, offsets: Int32Array.from([0, 1]) }, { backend: 'reference' }).y;
  });
}

export function groupedGemmCases(inp: OpInputs, shape: string, flushBelowBytes: number): OpCase<GroupedGemmResult>[] {
  const { T, d, dtype } = inp;
  const n = inp.perms.length;
  const act = inp.cfg.activation ?? 'swiglu';
  const glu = inp.cfg.gluLayout ?? 'halves';
  const w1 = inp.w.w1 as Tensor;
  const w2 = inp.w.w2 as Tensor;
  const specs = [
    { op: 'grouped_gemm.w1', w: w1, N: d.n1, K: d.H, a: (s: number) => inp.perms[s]!.rows as Tensor, extra: { activation: act, gluLayout: glu } },
    { op: 'grouped_gemm.w2', w: w2, N: d.H, K: d.I, a: (s: number) => inp.acts[s]!, extra: {} },
  ];
  return specs.map((sp) => {
    const args = (rep: number) => ({ a: sp.a(rep % n), w: sp.w, offsets: inp.perms[rep % n]!.offsets.data, ...sp.extra }) as GroupedGemmArgs & { a: Tensor; w: Tensor; offsets: Int32Array };
    const R = sp.a(0).shape[0]!;
    // Mean over the input sets: samples rotate through them.
    const used = inp.perms.reduce((acc, p) => acc + expertsUsed(p.offsets.data), 0) / n;
    const bytes = used * sp.N * sp.K * (dtype === 'f32' ? 4 : 2);
    const tol = tolFor(dtype);
    const rowCount = Math.max(2, Math.min(8, Math.floor(2e8 / (sp.N * sp.K))));
    let sampled: { rows: number[]; want: Tensor[] } | null = null;
    const spAct = (sp.extra as { activation?: string }).activation;
    const nOut = spAct === 'swiglu' || spAct === 'geglu' ? sp.N / 2 : sp.N;
    const outs: (Float32Array | Uint16Array)[] = [];
    // One output per input set (their row counts differ), of a's array type (out's default dtype).
    const intoOut = (s: number) => (outs[s] ??= outArray(sp.a(s).dtype, sp.a(s).shape[0]! * nOut));
    return {
      op: sp.op, opId: 'grouped_gemm', shape, tokens: T, dtype,
      flop: 2 * R * sp.N * sp.K,
      bytes,
      bytesKind: 'weights',
      flush: bytes < flushBelowBytes,
      // The reference decodes every half-precision weight of W on each call (about 6 multiply-adds' worth each).
      refCost: R * sp.N * sp.K + (dtype === 'f32' ? 0 : 6 * sp.w.data.length),
      run: (backend, rep) => groupedGemm(args(rep), { backend }),
      into: (backend, rep) => groupedGemm({ ...args(rep), out: intoOut(rep % n) }, { backend }),
      check(out, ref) {
        if (ref) return floatCheck(relErr(out.y, ref.y), tol, 'reference (full)');
        if (!sampled) {
          const rows = sampleRows(R, rowCount);
          sampled = { rows, want: sampledReference(args(0), rows) };
        }
        const nOut = out.y.shape[1]!;
        const got = reader(out.y);
        let worstErr = 0;
        sampled.rows.forEach((r, i) => {
          const e = relErrRange(got, r * nOut, reader(sampled!.want[i]!), 0, nOut);
          worstErr = Number.isNaN(e) || Number.isNaN(worstErr) ? NaN : Math.max(worstErr, e);
        });
        return floatCheck(worstErr, tol, `reference on ${sampled.rows.length} sampled rows`);
      },
      same: (a, b) => sameBits(a.y.data, b.y.data),
      note: `${used.toFixed(1)} experts with rows, ${R} rows`,
    };
  });
}
