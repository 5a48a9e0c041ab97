// grouped_gemm on every native backend and SIMD path vs the reference (norm-wise relative error, SPEC §12):
// every activation and both GLU layouts over a mix of decode-sized (< 16 rows) and prefill segments with
// padded and dot-kernel tails; all 27 dtype combinations; rows 1, 7, 255, 4097; odd n and k; empty experts;
// one expert with every row; k = 0; rows = 0; a dense GEMM without offsets (the router projection); long k
// (several K blocks); bias and addend; NaN / ±inf inputs in place.

import { groupedGemm, groupedGemmAsync } from '../../lib/ops/grouped_gemm';
import { ACTIVATIONS, Activation, GluLayout, GroupedGemmArgs, GroupedGemmResult } from '../../lib/ops/grouped_gemm.types';
import { allocOutput } from '../../lib/backends/alloc';
import { f32ToBf16, f32ToF16, FloatDType } from '../../lib/dtype';
import { Rng } from '../../lib/random';
import { Case, conformance, TOL } from './harness';

interface Spec {
  counts: number[];
  n: number;
  k: number;
  a?: FloatDType;
  w?: FloatDType;
  out?: FloatDType;
  act?: Activation;
  glu?: GluLayout;
  bias?: boolean;
  addend?: boolean;
  /** One expert and no offsets: the dense form. */
  dense?: boolean;
  /** NaN in row 0, +inf in row 1, -inf in row 2 (first k positions). */
  specials?: boolean;
}

const isGlu = (a: Activation): boolean => a === 'swiglu' || a === 'geglu';

function tensorData(d: FloatDType, n: number, rng: Rng, scale: number): Float32Array | Uint16Array {
  const f = Float32Array.from({ length: n }, () => rng.normal() * scale);
  if (d === 'f32') return f;
  const enc = d === 'bf16' ? f32ToBf16 : f32ToF16;
  return Uint16Array.from(f, (x) => enc(x));
}

function makeCase(s: Spec, seed: number): Case<GroupedGemmArgs> {
  const a = s.a ?? 'f32', w = s.w ?? 'f32', out = s.out ?? a, act = s.act ?? 'none', glu = s.glu ?? 'halves';
  const experts = s.counts.length;
  const rows = s.counts.reduce((x, y) => x + y, 0);
  const nOut = isGlu(act) ? s.n / 2 : s.n;
  const rng = new Rng(seed);
  const offsets = Int32Array.from([0, ...s.counts.map(((sum) => (c: number) => (sum += c))(0))]);
  const aData = tensorData(a, rows * s.k, rng, 1);
  const wData = tensorData(w, experts * s.n * s.k, rng, 1 / Math.sqrt(Math.max(s.k, 1)));
  if (s.specials && a === 'f32' && s.k > 0) {
    const ad = aData as Float32Array;
    if (rows > 0) ad[0] = NaN;
    if (rows > 1) ad[s.k] = Infinity;
    if (rows > 2) ad[2 * s.k] = -Infinity;
  }
  const bias = s.bias ? Float32Array.from({ length: experts * s.n }, () => rng.normal() * 0.5) : undefined;
  const addend = s.addend ? Float32Array.from({ length: rows * s.n }, () => rng.normal() * 0.5) : undefined;
  const parts = [
    `rows ${rows} in ${experts} expert(s) [${s.counts.length > 8 ? `${s.counts.slice(0, 8).join(', ')}, ...` : s.counts.join(', ')}]`,
    `n ${s.n}, k ${s.k}`,
    `${a} x ${w} -> ${out}`,
    isGlu(act) ? `${act}/${glu}` : act,
    ...(s.bias ? ['bias'] : []),
    ...(s.addend ? ['addend'] : []),
    ...(s.dense ? ['dense (no offsets)'] : []),
    ...(s.specials ? ['NaN/inf rows'] : []),
  ];
  return {
    name: parts.join(', '),
    args: () => ({
      a: { data: aData, shape: [rows, s.k], dtype: a },
      w: { data: wData, shape: [experts, s.n, s.k], dtype: w },
      ...(s.dense ? {} : { offsets }),
      ...(bias ? { bias } : {}),
      ...(addend ? { addend } : {}),
      activation: act,
      gluLayout: glu,
      outDtype: out,
      out: allocOutput(out, rows * nOut),
    }),
  };
}

const DTYPES: readonly FloatDType[] = ['f32', 'bf16', 'f16'];
// Segments: decode-sized (< 16 rows), 16 + 2 (dot-kernel tail), 32 + 9 (padded tail), empty experts.
const MIXED = [3, 0, 18, 7, 41, 0];
const specs: Spec[] = [];

for (const act of ACTIVATIONS) {
  for (const glu of isGlu(act) ? (['halves', 'interleaved'] as const) : (['halves'] as const)) {
    specs.push({ counts: MIXED, n: isGlu(act) ? 34 : 33, k: 127, act, glu, bias: true, addend: act !== 'relu' });
  }
}
for (const a of DTYPES) {
  for (const w of DTYPES) {
    for (const out of DTYPES) specs.push({ counts: [5, 0, 20], n: 34, k: 65, a, w, out, act: 'swiglu', bias: true });
  }
}
for (const rows of [1, 7, 255, 4097]) specs.push({ counts: [rows], n: 33, k: 31, dense: true });
specs.push(
  { counts: [4097], n: 18, k: 24, a: 'bf16', w: 'bf16', act: 'swiglu', dense: true },
  { counts: [0, 0, 255, 0], n: 40, k: 96, act: 'silu', bias: true },
  { counts: [2, 3], n: 6, k: 0, act: 'gelu', bias: true, addend: true },
  { counts: [0, 0], n: 8, k: 5, act: 'tanh' },
  { counts: [100, 37, 64], n: 96, k: 300, a: 'bf16', w: 'bf16', act: 'geglu', glu: 'interleaved' },
  { counts: [255], n: 64, k: 128, dense: true, bias: true },
  { counts: [40, 1, 0, 17, 33, 2, 16, 24, 0, 9, 31, 48, 5, 12, 3, 64], n: 40, k: 64, act: 'swiglu' },
  { counts: [255, 9], n: 16, k: 1000, w: 'bf16', act: 'gelu_tanh' },
  { counts: [20, 3], n: 24, k: 40, act: 'silu', specials: true },
  // bf16 x bf16 over several K blocks with an odd K (the vdpbf16ps kernel's pairs and its block split:
  // 25 vectors of rows give blocks of 880, 880 and 841).
  { counts: [400, 3], n: 16, k: 2601, a: 'bf16', w: 'bf16', act: 'silu', bias: true },
  // f32 W over two K blocks in single-panel tasks (read in place on AMD, staged elsewhere): 40 rows (2
  // vectors + an 8-row tail) and 48 rows (3 vectors) split K = 6151 in two; 20 rows keep one block.
  { counts: [40, 48, 20], n: 24, k: 6151, act: 'swiglu', bias: true },
  // bf16 x bf16 likewise (the dp kernel reads W in place for an even K): 48 and 33 rows split K = 8200 in two.
  { counts: [48, 33], n: 16, k: 8200, a: 'bf16', w: 'bf16', act: 'silu' },
  // Tails of 3..8 rows, the AVX-512 half vector, in each panel arrangement: 16 + 3 (1 + half), 16 + 8,
  // 32 + 5 (2 + half), 48 + 8 (2 | 1 + half), 64 + 8 (2 | 2 + half), 96 + 6 (3 | 2 | 1 + half); with f32,
  // widened bf16 and dp-kernel W (odd K).
  { counts: [19, 24, 37, 56, 72, 102], n: 40, k: 300, act: 'swiglu', bias: true },
  { counts: [19, 24, 37, 56, 72, 102], n: 33, k: 301, w: 'bf16', act: 'gelu', addend: true },
  { counts: [19, 24, 37, 56, 72, 102], n: 40, k: 301, a: 'bf16', w: 'bf16', act: 'geglu', glu: 'interleaved' },
  // The half vector's partial sums across K blocks: 64 + 5 rows split K = 2600 (f32) and 5001 (dp) in two.
  { counts: [69, 37], n: 24, k: 2600, act: 'silu', bias: true },
  { counts: [69, 37], n: 16, k: 5001, a: 'bf16', w: 'bf16', act: 'none', bias: true },
);

conformance<GroupedGemmArgs, GroupedGemmResult>({
  op: 'grouped_gemm',
  cases: specs.map((s, i) => makeCase(s, 1000 + i)),
  run: groupedGemm,
  runAsync: groupedGemmAsync,
  outputs: (r) => ({
    y: {
      data: r.y.data,
      dtype: r.y.dtype,
      // SPEC §12: 1e-5 for f32 math; any half input or output rounds at 2^-9 (bf16) or 2^-12 (f16).
      measure: { kind: 'relNorm', tol: r.y.dtype === 'f32' ? TOL.f32 : TOL.half },
    },
  }),
});
