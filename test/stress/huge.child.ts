// The huge-sizes child (run by huge.test.ts as `... huge.child.ts <case> <backend>`): element offsets past
// 2^31 must be computed in 64 bits. Prints one JSON line { problems, ms, rssMB }.
//
// Sparse cases touch little memory: a typed array of 2^31+ elements is calloc'd, so its pages stay the
// shared zero page until written (reading all of them adds ~6 MB of page tables), and only the few rows the
// case checks are written. Full cases write every element (4 GiB) and run only when memory allows.
//   permute-sparse   x bf16 [2^21 + 5, 1024]: 4 routed tokens, one of them starting exactly at element 2^31
//   gemm-sparse      A bf16 [65537, 32768] · W [1, 1, 32768]: the last row starts at element 2^31
//   convert-full     bf16 -> f16 in place over 2^31 + 33 elements (4 GiB), sentinels around 2^31
//   unpermute-full   out bf16 [2^21 + 5, 1024] (4 GiB), routed tokens on both sides of element 2^31
//   limits           sizes no typed array can hold, or rows past int32: a RangeError naming the argument

import type { BackendName } from '../../lib/backends/backend';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../lib/dtype';
import { convert } from '../../lib/ops/convert';
import { groupedGemm } from '../../lib/ops/grouped_gemm';
import { permute } from '../../lib/ops/permute';
import { unpermute } from '../../lib/ops/unpermute';

const TWO31 = 2 ** 31;
const H = 1024;
const T = 2 ** 21 + 5; // T · H = 2^31 + 5120
const pattern = (t: number, h: number): number => Math.imul(t ^ 0x9e37, 2654435761) + h * 40503 & 0x7f7f; // finite bf16 bits

function permuteSparse(backend: BackendName, problems: string[]): void {
  const x = new Uint16Array(T * H);
  const tokens = [0, 2 ** 21 - 1, 2 ** 21, T - 1]; // rows ending at 2^31 - 1, starting at 2^31, the last one
  const ids = new Int32Array(T).fill(-1);
  tokens.forEach((t, i) => {
    ids[t] = i % 2;
    for (let h = 0; h < H; h++) x[t * H + h] = pattern(t, h);
  });
  const r = permute({ x: { data: x, shape: [T, H], dtype: 'bf16' }, ids: { data: ids, shape: [T, 1], dtype: 'i32' }, experts: 2 }, { backend });
  // Stable order: segment 0 holds tokens 0 and 2^21 (i = 0, 2), segment 1 tokens 2^21 - 1 and T - 1.
  const order = [tokens[0]!, tokens[2]!, tokens[1]!, tokens[3]!];
  if (String(Array.from(r.rowToToken.data)) !== String(order)) problems.push(`rowToToken ${Array.from(r.rowToToken.data)}, want ${order}`);
  order.forEach((t, row) => {
    if (r.slotToRow.data[t] !== row) problems.push(`slotToRow[${t}] = ${r.slotToRow.data[t]}, want ${row}`);
    for (let h = 0; h < H; h++) {
      if (r.rows.data[row * H + h] !== x[t * H + h]) {
        problems.push(`row ${row} (token ${t}, elements from ${t * H}) differs at column ${h}`);
        break;
      }
    }
  });
  if (r.slotToRow.data[5] !== -1) problems.push('an empty slot got a row');
}

function gemmSparse(backend: BackendName, problems: string[]): void {
  const rows = 65537;
  const K = 32768; // rows · K = 2^31 + 32768: row 65536 starts at element 2^31
  const a = new Uint16Array(rows * K);
  const want = new Map<number, number>();
  for (const r of [0, 65535, 65536]) {
    let s = 0;
    for (let k = 0; k < K; k++) {
      const v = ((r + k) % 9) - 4; // small integers: every partial sum is exact in f32
      a[r * K + k] = f32ToBf16(v);
      s += v;
    }
    want.set(r, s);
  }
  const w = new Uint16Array(K).fill(f32ToBf16(1));
  const y = groupedGemm({ a: { data: a, shape: [rows, K], dtype: 'bf16' }, w: { data: w, shape: [1, 1, K], dtype: 'bf16' }, outDtype: 'f32' }, { backend }).y.data;
  for (let r = 0; r < rows; r++) {
    const expect = want.get(r) ?? 0;
    if (y[r] !== expect) {
      problems.push(`row ${r} (elements from ${r * K}): ${y[r]}, want ${expect}`);
      if (problems.length > 5) break;
    }
  }
}

function convertFull(backend: BackendName, problems: string[]): void {
  const n = TWO31 + 33;
  // Written first (by fill): a kernel's first touch of a page read before as the zero page costs two faults
  // per 4 KiB page (16 s here for 4 GiB), a plain write one fault per huge page.
  const x = new Uint16Array(n).fill(f32ToBf16(0.5));
  const at = [0, TWO31 - 2, TWO31 - 1, TWO31, TWO31 + 1, TWO31 + 16, n - 1];
  at.forEach((i, j) => (x[i] = f32ToBf16(1 + j / 8)));
  convert({ x: { data: x, shape: [n], dtype: 'bf16' }, to: 'f16', out: x }, { backend }); // exactly in place
  at.forEach((i, j) => {
    const want = f32ToF16(bf16ToF32(f32ToBf16(1 + j / 8)));
    if (x[i] !== want) problems.push(`element ${i}: ${x[i]!.toString(16)}, want ${want.toString(16)} (${f16ToF32(want)})`);
  });
  const half = f32ToF16(0.5);
  for (let i = 1; i < n && problems.length < 5; i += 65537) if (!at.includes(i) && x[i] !== half) problems.push(`element ${i} is ${x[i]}, want ${half}`);
}

function unpermuteFull(backend: BackendName, problems: string[]): void {
  const tokens = [2 ** 21 - 1, 2 ** 21, T - 1];
  const y = new Uint16Array(tokens.length * H);
  for (let r = 0; r < tokens.length; r++) for (let h = 0; h < H; h++) y[r * H + h] = pattern(r, h);
  const ids = new Int32Array(T).fill(-1);
  const slotToRow = new Int32Array(T).fill(-1);
  tokens.forEach((t, r) => {
    ids[t] = 0;
    slotToRow[t] = r;
  });
  const out = unpermute({
    y: { data: y, shape: [tokens.length, H], dtype: 'bf16' }, ids: { data: ids, shape: [T, 1], dtype: 'i32' },
    weights: new Float32Array(T).fill(1), slotToRow: { data: slotToRow, shape: [T, 1], dtype: 'i32' }, outDtype: 'bf16',
  }, { backend }).out.data;
  tokens.forEach((t, r) => {
    for (let h = 0; h < H; h++) {
      if (out[t * H + h] !== y[r * H + h]) {
        problems.push(`token ${t} (elements from ${t * H}) differs at column ${h}: ${out[t * H + h]} vs ${y[r * H + h]}`);
        break;
      }
    }
  });
  for (let t = 1; t < T; t += 4099) if (!tokens.includes(t) && out[t * H] !== 0) problems.push(`token ${t} is not zero`);
}

function limits(backend: BackendName, problems: string[]): void {
  const expectRange = (what: string, arg: string, f: () => unknown): void => {
    try {
      f();
      problems.push(`${what}: no error`);
    } catch (e) {
      if (!(e instanceof RangeError) || !e.message.includes(`'${arg}`)) problems.push(`${what}: ${String(e)} (want a RangeError naming '${arg}')`);
    }
  };
  expectRange('grouped_gemm out of 2^33 elements', 'out', () => groupedGemm({
    a: { data: new Float32Array(0), shape: [2 ** 20, 0], dtype: 'f32' }, w: { data: new Float32Array(0), shape: [1, 2 ** 13, 0], dtype: 'f32' },
  }, { backend }));
  const n = 2 ** 15 + 1; // n experts with one row each, padded to 2^16 rows: more than 2^31 - 1 rows
  expectRange('permute padded past 2^31 rows', 'align', () => permute({
    x: { data: new Float32Array(n), shape: [n, 1], dtype: 'f32' }, ids: { data: Int32Array.from({ length: n }, (_, i) => i), shape: [n, 1], dtype: 'i32' },
    experts: n, align: 2 ** 16,
  }, { backend }));
  expectRange('grouped_gemm a of 2^31 rows', 'a', () => groupedGemm({
    a: { data: new Float32Array(0), shape: [TWO31, 0], dtype: 'f32' }, w: { data: new Float32Array(0), shape: [1, 1, 0], dtype: 'f32' },
  }, { backend }));
}

const CASES: Record<string, (b: BackendName, p: string[]) => void> = {
  'permute-sparse': permuteSparse, 'gemm-sparse': gemmSparse, 'convert-full': convertFull, 'unpermute-full': unpermuteFull, limits,
};

const [name, backend] = process.argv.slice(2) as [string, BackendName];
const problems: string[] = [];
const t0 = performance.now();
try {
  CASES[name]!(backend, problems);
} catch (e) {
  problems.push(`threw ${(e as Error).stack ?? String(e)}`);
}
process.stdout.write(`${JSON.stringify({ problems, ms: Math.round(performance.now() - t0), rssMB: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`);
