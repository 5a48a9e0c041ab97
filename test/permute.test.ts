// permute: exact layouts on hand-built routings, the invariants of the layout (fast-check), sizes and dtypes.

import fc from 'fast-check';
import { f32ToBf16, f32ToF16, bf16ToF32, f16ToF32, FloatDType } from '../lib/dtype';
import { permute, PermuteResult, permuteLayout } from '../lib/ops/permute';
import { Rng } from '../lib/random';
import { Tensor } from '../lib/tensor';

const ids2 = (rows: number[][]): Tensor<'i32'> => ({ data: Int32Array.from(rows.flat()), shape: [rows.length, rows[0]?.length ?? 0], dtype: 'i32' });
const xOf = (T: number, H: number): Tensor<'f32'> => ({ data: Float32Array.from({ length: T * H }, (_, i) => 100 * Math.floor(i / H) + (i % H) + 1), shape: [T, H], dtype: 'f32' });
const arr = (t: { data: ArrayLike<number> }): number[] => Array.from(t.data);

/** Random routing: each token picks k distinct ids of [0, total), a fraction of slots left empty (-1). */
function randomIds(rng: Rng, T: number, k: number, total: number, emptyRate = 0.1): Tensor<'i32'> {
  const d = new Int32Array(T * k);
  for (let t = 0; t < T; t++) {
    const perm = Array.from({ length: total }, (_, i) => i);
    for (let i = total - 1; i > 0; i--) {
      const r = rng.int(i + 1);
      [perm[i], perm[r]] = [perm[r]!, perm[i]!];
    }
    for (let j = 0; j < k; j++) d[t * k + j] = rng.next() < emptyRate ? -1 : perm[j]!;
  }
  return { data: d, shape: [T, k], dtype: 'i32' };
}

/** Every documented invariant of a permute result, checked against an independent count. */
interface LayoutArgs { x: Tensor; ids: Tensor<'i32'>; experts: number; totalExperts?: number; expertMap?: readonly number[]; align?: number; scale?: number }
function checkLayout(a: LayoutArgs, res: PermuteResult): void {
  const [T, H] = a.x.shape as [number, number];
  const K = a.ids.shape[1]!;
  const E = a.experts;
  const align = a.align ?? 1;
  const seg = (id: number): number => (id < 0 ? -1 : a.expertMap ? a.expertMap[id]! : id < E ? id : -1);
  const count = new Array<number>(E).fill(0);
  for (const id of a.ids.data) if (seg(id) >= 0) count[seg(id)]!++;
  const off = arr(res.offsets);
  expect(off.length).toBe(E + 1);
  expect(off[0]).toBe(0);
  for (let e = 0; e < E; e++) expect(off[e + 1]! - off[e]!).toBe(Math.ceil(count[e]! / align) * align);
  expect(arr(res.tokensPerExpert)).toEqual(count);
  const R = off[E]!;
  expect(res.rows.shape).toEqual([R, H]);
  expect(res.rows.dtype).toBe(a.x.dtype);
  expect(res.rowToToken.shape).toEqual([R]);
  expect(res.slotToRow.shape).toEqual([T, K]);

  // slotToRow and rowToToken are inverse maps on the gathered slots; every FFN slot appears exactly once.
  // (Plain checks instead of expect() per element: the 4097-token case has ~40k of them.)
  const slotOfRow = new Array<number>(R).fill(-1);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < K; j++) {
      const r = res.slotToRow.data[t * K + j]!;
      const s = seg(a.ids.data[t * K + j]!);
      if (s < 0) {
        ok(r === -1, `slot [${t}, ${j}] is not gathered but maps to row ${r}`);
        continue;
      }
      ok(r >= off[s]! && r < off[s]! + count[s]!, `slot [${t}, ${j}] maps to row ${r}, outside expert ${s}'s real rows`);
      ok(slotOfRow[r] === -1, `row ${r} is used twice`);
      slotOfRow[r] = j * T + t; // (rank, token) as one sortable key
      ok(res.rowToToken.data[r] === t, `rowToToken[${r}] = ${res.rowToToken.data[r]}, want ${t}`);
    }
  }
  for (let e = 0; e < E; e++) {
    for (let r = off[e]!; r < off[e + 1]!; r++) {
      if (r < off[e]! + count[e]!) {
        ok(r === off[e]! || slotOfRow[r]! > slotOfRow[r - 1]!, `rows ${r - 1}, ${r} are not in (rank, token) order`);
      } else {
        ok(res.rowToToken.data[r] === -1, `padding row ${r} has token ${res.rowToToken.data[r]}`);
        for (let h = 0; h < H; h++) ok(res.rows.data[r * H + h] === 0, `padding row ${r} is not zero`);
      }
    }
  }
  // Row contents: scale · x[token] rounded to x's dtype, or the bits of x when scale = 1.
  const scale = a.scale ?? 1;
  const dec = a.x.dtype === 'f32' ? (v: number) => v : a.x.dtype === 'bf16' ? bf16ToF32 : f16ToF32;
  const enc = a.x.dtype === 'f32' ? Math.fround : a.x.dtype === 'bf16' ? f32ToBf16 : f32ToF16;
  for (let r = 0; r < R; r++) {
    const t = res.rowToToken.data[r]!;
    if (t < 0) continue;
    for (let h = 0; h < H; h++) {
      const want = scale === 1 ? a.x.data[t * H + h]! : enc(dec(a.x.data[t * H + h]!) * scale);
      ok(Object.is(res.rows.data[r * H + h], want), `rows[${r}, ${h}] = ${res.rows.data[r * H + h]}, want ${want}`);
    }
  }
}

function ok(cond: boolean, msg: string): void {
  if (!cond) throw new Error(msg);
}

describe('permute: exact layouts', () => {
  // rank 0: t0->0, t1->1, t2->2, t3->0; rank 1: t0->1, t2->0, t3->3 (zero-computation, skipped).
  const ids = ids2([[0, 1], [1, -1], [2, 0], [0, 3]]);
  const x = xOf(4, 3);

  test('stable (rank, token) order, zero-computation ids skipped', () => {
    const r = permute({ x, ids, experts: 3, totalExperts: 4 });
    expect(arr(r.offsets)).toEqual([0, 3, 5, 6]);
    expect(arr(r.tokensPerExpert)).toEqual([3, 2, 1]);
    expect(arr(r.slotToRow)).toEqual([0, 4, 3, -1, 5, 2, 1, -1]);
    expect(arr(r.rowToToken)).toEqual([0, 3, 2, 1, 0, 2]);
    expect(arr(r.rows)).toEqual([1, 2, 3, 301, 302, 303, 201, 202, 203, 101, 102, 103, 1, 2, 3, 201, 202, 203]);
    expect(r.rows.shape).toEqual([6, 3]);
  });

  test('align pads every non-empty segment with zero rows of token -1', () => {
    const r = permute({ x, ids, experts: 3, totalExperts: 4, align: 4 });
    expect(arr(r.offsets)).toEqual([0, 4, 8, 12]);
    expect(arr(r.tokensPerExpert)).toEqual([3, 2, 1]);
    expect(arr(r.slotToRow)).toEqual([0, 5, 4, -1, 8, 2, 1, -1]);
    expect(arr(r.rowToToken)).toEqual([0, 3, 2, -1, 1, 0, -1, -1, 2, -1, -1, -1]);
    expect(arr(r.rows).slice(9, 12)).toEqual([0, 0, 0]);
  });

  test('an empty expert gets 0 rows, even with align', () => {
    const r = permute({ x, ids: ids2([[0], [2], [0], [2]]), experts: 4, align: 8 });
    expect(arr(r.offsets)).toEqual([0, 8, 8, 16, 16]);
    expect(arr(r.tokensPerExpert)).toEqual([2, 0, 2, 0]);
    expect(arr(r.rowToToken)).toEqual([0, 2, -1, -1, -1, -1, -1, -1, 1, 3, -1, -1, -1, -1, -1, -1]);
  });

  test('expertMap: global -> local segment, -1 = not on this rank', () => {
    const r = permute({ x, ids, experts: 2, expertMap: [-1, 0, 1, -1] });
    expect(arr(r.offsets)).toEqual([0, 2, 3]);
    expect(arr(r.slotToRow)).toEqual([-1, 1, 0, -1, 2, -1, -1, -1]);
    expect(arr(r.rowToToken)).toEqual([1, 0, 2]);
    expect(arr(r.rows)).toEqual([101, 102, 103, 1, 2, 3, 201, 202, 203]);
  });

  test('scale multiplies the gathered rows (MoE++ u = k·x)', () => {
    const r = permute({ x: xOf(2, 2), ids: ids2([[1], [0]]), experts: 2, scale: 2 });
    expect(arr(r.rows)).toEqual([202, 204, 2, 4]);
  });

  test('permuteLayout sizes buffers before the call', () => {
    const seg = Int32Array.from([0, 1, 2, -1]);
    const l = permuteLayout(ids.data, seg, 3, 2);
    expect(arr({ data: l.offsets })).toEqual([0, 4, 6, 8]);
    expect(l.rows).toBe(8);
  });

  test('inputs are not modified; the result does not alias them', () => {
    const xc = Float32Array.from(x.data);
    const ic = Int32Array.from(ids.data);
    const r = permute({ x, ids, experts: 3, totalExperts: 4 });
    expect(x.data).toEqual(xc);
    expect(ids.data).toEqual(ic);
    expect(r.rows.data.buffer).not.toBe(x.data.buffer);
  });
});

describe('permute: invariants (fast-check)', () => {
  test('offsets, inverse maps, order, padding and row contents', () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.integer({ min: 1, max: 1e9 }),
          T: fc.integer({ min: 0, max: 40 }),
          H: fc.integer({ min: 1, max: 5 }),
          E: fc.integer({ min: 1, max: 8 }),
          zc: fc.integer({ min: 0, max: 3 }),
          kFrac: fc.double({ min: 0, max: 1, noNaN: true }),
          align: fc.integer({ min: 1, max: 5 }),
          scale: fc.constantFrom(1, 2, -0.5, 0.3),
          useMap: fc.boolean(),
          bare: fc.boolean(),
        }),
        (p) => {
          const rng = new Rng(p.seed);
          const total = p.E + p.zc;
          const k = 1 + Math.floor(p.kFrac * (total - 1));
          const ids = randomIds(rng, p.T, k, total);
          const x: Tensor<'f32'> = { data: rng.f32(p.T * p.H), shape: [p.T, p.H], dtype: 'f32' };
          const expertMap = p.useMap ? Array.from({ length: total }, () => rng.int(p.E + 1) - 1) : undefined;
          const args = { x, ids, experts: p.E, totalExperts: total, align: p.align, scale: p.scale, expertMap };
          const res = permute({ ...args, ids: p.bare && p.T > 0 ? ids.data : ids });
          checkLayout(args, res);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('permute: sizes and edge cases', () => {
  test.each([[1, 3], [7, 5], [255, 1], [4097, 9]])('T = %i, H = %i, k = 2 of 8 (+2 zero-computation)', (T, H) => {
    const rng = new Rng(T);
    const ids = randomIds(rng, T, 2, 10);
    const x: Tensor<'f32'> = { data: rng.f32(T * H), shape: [T, H], dtype: 'f32' };
    checkLayout({ x, ids, experts: 8, totalExperts: 10, align: 16 }, permute({ x, ids, experts: 8, totalExperts: 10, align: 16 }));
  });

  test('T = 0: empty outputs of the right shapes', () => {
    const r = permute({ x: { data: new Float32Array(0), shape: [0, 4], dtype: 'f32' }, ids: new Int32Array(0), experts: 3 });
    expect(arr(r.offsets)).toEqual([0, 0, 0, 0]);
    expect(r.rows.shape).toEqual([0, 4]);
    expect(r.slotToRow.shape).toEqual([0, 0]);
  });

  test('every token to one expert', () => {
    const T = 255;
    const x = xOf(T, 3);
    const r = permute({ x, ids: { data: new Int32Array(T).fill(2), shape: [T, 1], dtype: 'i32' }, experts: 4 });
    expect(arr(r.offsets)).toEqual([0, 0, 0, T, T]);
    expect(arr(r.rowToToken)).toEqual(Array.from({ length: T }, (_, i) => i));
    expect(arr(r.slotToRow)).toEqual(Array.from({ length: T }, (_, i) => i));
    expect(arr(r.rows)).toEqual(Array.from(x.data));
  });

  test('k = E (dense): every expert gets every token once', () => {
    const rng = new Rng(5);
    const T = 7;
    const E = 6;
    const ids = randomIds(rng, T, E, E, 0);
    const x = xOf(T, 2);
    const r = permute({ x, ids, experts: E });
    expect(arr(r.tokensPerExpert)).toEqual(new Array(E).fill(T));
    for (let e = 0; e < E; e++) expect(arr(r.rowToToken).slice(e * T, (e + 1) * T).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    checkLayout({ x, ids, experts: E }, r);
  });

  test('only empty or zero-computation slots: no rows', () => {
    const r = permute({ x: xOf(3, 2), ids: ids2([[-1, 4], [3, -1], [-1, -1]]), experts: 2, totalExperts: 5, align: 4 });
    expect(r.rows.shape).toEqual([0, 2]);
    expect(arr(r.slotToRow)).toEqual(new Array(6).fill(-1));
    expect(arr(r.offsets)).toEqual([0, 0, 0]);
  });

  test.each(['bf16', 'f16'] as const)('%s rows keep the dtype and are bit copies when scale = 1 (NaN, -0, inf)', (dt: FloatDType) => {
    const enc = dt === 'bf16' ? f32ToBf16 : f32ToF16;
    const vals = [1.5, -0, NaN, Infinity, -3.25e-3, 65504, 0.1, -7];
    const x = { data: Uint16Array.from(vals.map((v) => enc(v))), shape: [4, 2], dtype: dt };
    x.data[5] = dt === 'bf16' ? 0x7fc1 : 0x7e01; // a NaN payload must survive
    const ids = ids2([[1, 0], [0, -1], [1, -1], [0, 1]]);
    const r = permute({ x, ids, experts: 2 });
    expect(r.rows.dtype).toBe(dt);
    expect(r.rows.data).toBeInstanceOf(Uint16Array);
    checkLayout({ x: x as Tensor, ids, experts: 2 }, r);
    const r2 = permute({ x, ids, experts: 2, scale: 2 });
    checkLayout({ x: x as Tensor, ids, experts: 2, scale: 2 }, r2);
    expect(r.rows.data[9]).toBe(dt === 'bf16' ? 0x7fc1 : 0x7e01); // row 4 is token 2 (expert 1's 2nd rank-0 pick)
    expect(r2.rows.data[5]).toBe(enc(-0)); // row 2 is token 0: 2·(-0) keeps the sign
  });
});
