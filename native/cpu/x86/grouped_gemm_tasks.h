// The per-task drivers of the SIMD grouped_gemm (see grouped_gemm_simd.h for the kernels and why the
// anonymous namespace). A task is expert e, rows [r0, r1), output columns [c0, c1).
#pragma once

#include <type_traits>

#include "grouped_gemm_dp.h"
#include "grouped_gemm_simd.h"

namespace moe::cpu::gg {
namespace {

inline int64_t roundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Where element k0 of W row `row` of expert e starts.
inline const char* wRowPtr(const Problem& p, int64_t e, int64_t row, int64_t k0) {
  const size_t es = p.wType == DType::F32 ? 4 : 2;
  return static_cast<const char*>(p.w) + static_cast<size_t>((e * p.n + row) * p.k + k0) * es;
}

// Decode: at most T::TailDot rows. Each W tile is read once from memory for all rows of the task, widened
// in registers; no packing at all. Rows go in groups of up to 3 (4: decodeTile); with more than one group,
// K is cut into chunks of kDecodeKc so that the later groups re-read the W chunk from L1, not L2: 8-10%
// faster with f32 W for 4..8 rows (4 x 4096 x 4096, W from DRAM, an earlier tile layout). Widening bf16 W
// once per chunk into f32 instead of once per group was 15-25% slower (the extra pass is not overlapped).
constexpr int64_t kDecodeKc = 512;
//
// The task's W rows are read as 4 linear streams (stream tiles, makeStreamTile), each row prefetched
// kDecodePfAhead bytes ahead into L1; a last tile of fewer columns than a whole stream tile takes the
// plain layout. Before, a tile was NW consecutive rows read side by side (8 streams, each only one row
// long) with the next tile prefetched. A read-only probe over the same experts' W with 1, 2, 4, 8 and 16
// streams per thread measured 58, 66, 68, 64 and 57 GB/s (Zen 5 VM, 2 threads). In one process,
// interleaved, a 450 MiB read before each call, 8 of 128 experts per token, Qwen3 shapes, 2 threads, time
// against the old layout (Zen 5 VM): T=1 f32 W1 0.73x, bf16 W1 0.75x, f32 W2 0.78x, bf16 W2 0.74x (the
// probe itself 0.63-0.68x); T=32 f32 W1 0.81x, bf16 W2 0.75x. The AVX2 path on the same machine: T=1 f32
// W1 0.61x, bf16 W2 0.59x, T=32 f32 W1 0.75x. The streams without the prefetch: 0.77-0.80x at T=1;
// prefetch distances (L1, f32 W1 / bf16 W2): 512 B 1.02x / 0.98x the time without, 2 KiB 0.96x / 0.87x,
// 4 KiB 1.00x / 0.94x; into L2 instead: 1.00-1.10x / 0.85-0.99x. On Zen 3 and Zen 4 W ran faster
// without the prefetch (Problem::decodePrefetch). Zen 4 VM, bf16 W1 T=1, time against the 2 KiB L1 prefetch
// (medians of 31 pairs): none 0.91x, 1 KiB 0.95x, 4 KiB 0.99x, 2 KiB into L2 0.92-0.93x. Intel CPUs were
// not measured with either layout since.
// f32 W that does not start on a 64-byte line (a large Float32Array from Node starts 16 bytes past one)
// splits every other load across two lines, and the streams, 4 KiB apart in every row, then cost more than
// they gain: T=32 W2 (K = 768) took 1.22x the old layout's time, W1 0.99x. The AVX-512 path builds those
// vectors from aligned loads (kernelDotRealigned): 0.92x, 0.86x, and T=1 W1 0.88x (all with W 16 bytes
// off, same harness). The AVX2 path does not: its 32-byte loads split half as often, and with W 16 bytes
// off the streams alone measured 0.84x (T=32 W2), 0.72x (T=32 W1) and 0.68x (T=1 W2) against the old
// layout (AVX2 code on the same Zen 5 VM).
constexpr int64_t kDecodePfAhead = 2048;

template <class T>
void decodeTile(const Problem& p, const Task& t, const Tile<T>& tile, const float* aRows) {
  constexpr int S = StreamShape<T>::S, P = StreamShape<T>::P;
  const int64_t rows = t.r1 - t.r0, k = p.k;
  const int64_t kd = rows > 3 ? kDecodeKc : imax(k, 1);
  alignas(64) float sums[T::L * T::NW + T::L] = {}, part[4 * S];  // + L: epilogueSums reads a vector per row
  // Row groups of 3; exactly 4 rows go as one group of 4 on AVX-512 (32 registers hold its 16 sums). Against
  // 3 + 1, 16 experts x 4 rows, Qwen3 W2, 2 threads, from DRAM: f32 W 16 bytes off a line 0.78x the time,
  // aligned 0.95x, bf16 0.82x (Zen 5 VM). 8 rows as 4 + 4 instead of 3 + 3 + 2: 0.93-1.05x, so not done.
  const int group = T::L >= 16 && rows == 4 ? 4 : 3;
  for (int b = 0; b < P; ++b) {
    int slot[S];
    streamSlots<T>(p.gluAct, b, slot);
    for (int64_t k0 = 0;; k0 += kd) {  // at least once: k = 0 still gives act(bias + addend)
      const int64_t kn = imin(kd, k - k0);
      const void* w[S];
      for (int i = 0; i < S; ++i) w[i] = wRowPtr(p, t.e, tile.wr[slot[i]], k0);
      for (int64_t r = 0; r < rows; r += group) {
        const int rt = static_cast<int>(imin(group, rows - r));
        const float* a[4];
        for (int j = 0; j < 4; ++j) a[j] = aRows + (r + imin(j, rt - 1)) * k + k0;
        dotAny<T, S>(p.wType, rt, a, w, kn, part, p.decodePrefetch ? kDecodePfAhead : 0, r == 0);
        for (int q = 0; q < rt; ++q)
          for (int i = 0; i < S; ++i) {
            float& sum = sums[(r + q) * T::NW + slot[i]];
            sum = k0 == 0 ? part[q * S + i] : sum + part[q * S + i];
          }
      }
      if (k0 + kd >= k) break;
    }
  }
  epilogueSums<T>(p, t.e, tile, sums, t.r0, static_cast<int>(rows));
}

template <class T>
void decodeTask(const Problem& p, const Task& t, ScratchFn scratch) {
  const int64_t rows = t.r1 - t.r0, k = p.k;
  const float* aRows = static_cast<const float*>(p.a) + t.r0 * k;
  if (p.aType != DType::F32) {
    float* buf = scratch(static_cast<size_t>(rows * k + T::L));
    if (!buf) return;
    convertRows<T>(p.a, p.aType, t.r0, rows, k, buf);
    aRows = buf;
  }
  // A stream tile has tc output columns, P from each of `streams` ranges.
  const int tc = tileCols<T>(p);
  const int64_t streams = p.gluAct ? StreamShape<T>::S / 2 : StreamShape<T>::S;
  const int64_t whole = (t.c1 - t.c0) / tc * tc, stride = whole / streams;
  for (int64_t s = 0; s < stride / StreamShape<T>::P; ++s)
    decodeTile<T>(p, t, makeStreamTile<T>(p, t.c0, stride, s), aRows);
  for (int64_t c = t.c0 + whole; c < t.c1; c += tc) decodeTile<T>(p, t, makeTile<T>(p, c, t.c1), aRows);
}

// Prefill: more than T::TailDot rows. Full vectors of L rows go through the bcast kernel in panels of up
// to 3 vectors; a last partial vector of more than T::TailDot rows is padded with zero rows. A smaller
// tail of kHalfMin or more rows is the half vector of T::HasHalf traits (AVX-512: 8 lanes, in the last
// panel's kernel, from the same broadcasts); the rest (and every tail on AVX2) goes through the dot kernel.
// Pad vs dot, measured on an Intel host (AVX-512, R = 32 + t, N = 512, K = 2048, 1 core, GFLOP/s): t = 1:
// 109 vs 133, t = 6: 126 vs 134, t = 8: 132 vs 132, t = 12: 145 vs 131. Half vs dot on Zen 4 (every expert
// R rows, W from DRAM, 1 core, % of the FMA peak; Qwen3 W1 N = 1536, K = 2048 f32): R = 17: 50 vs 57,
// 18: 52 vs 52, 19: 57 vs 51, 20: 56 vs 49, 24: 69 vs 41, 33: 66 vs 80, 34: 72 vs 72, 35: 75 vs 68,
// 36: 76 vs 65, 40: 84 vs 57; W2 (N = 2048, K = 768) 35: 67 vs 64, 40: 75 vs 61; bf16 x bf16 W1 (dp
// kernel) 20: 98 vs 84, 24: 118 vs 82, 40: 163 vs 114. The dot kernel's 8 W rows of K = 2048 lie in one
// L1 set with its A rows, and each group of 3 rows re-reads the W tile from L2.
constexpr int64_t kHalfMin = 3;
//
// Each W tile's K block is staged contiguously first (a copy for f32, the widening for bf16 / f16): rows
// of K = 2048 f32 lie 8 KiB apart, all in one L1 set, and broadcasting from them directly ran the RV=3
// kernel at 103-159 GFLOP/s instead of 175-184 (1 core, cache-resident, peak 214). Staging is pipelined:
// while tile t computes, its kernel stages tile t+1 into the other buffer; as a separate pass it cost
// 18-24% of the time (its loads waited on memory).
// Loops: column block (32 tiles; all tiles when K is one block) > K block > tile > panel. The packed Aᵀ
// K block (<= 768 KiB) is read from L2 by every tile; partial sums wait in scratch between K blocks.
constexpr int64_t kBlockTiles = 32;
constexpr int64_t kABlockBytes = 768 << 10;

// Dp (bf16 A and W, T::Dp traits): the same loops with the dp kernel; A packed as pairs and W staged as
// bf16 copies, so each k costs half the bytes of packed A and stage.
template <class T, bool Dp>
void prefillTask(const Problem& p, const Task& t, ScratchFn scratch) {
  using V = typename T::V;
  using S = std::conditional_t<Dp, uint16_t, float>;  // a staged W element
  constexpr int L = T::L, NW = T::NW;
  constexpr int64_t aes = Dp ? 2 : 4;  // bytes of packed A per row and k
  const int64_t rows = t.r1 - t.r0, k = p.k;
  int64_t nv = rows / L, tail = rows % L;
  if (tail > T::TailDot) { ++nv; tail = 0; }
  const bool half = T::HasHalf && tail >= kHalfMin;  // tail <= TailDot = L / 2 here
  const int64_t nPack = nv + (half ? 1 : 0);              // packed Aᵀ vectors, the half one included
  const int64_t kcMax = imax(256, kABlockBytes / (nPack * L * aes) / L * L);
  const int64_t nkb = imax(1, (k + kcMax - 1) / kcMax), kc = roundUp((k + nkb - 1) / nkb, L);
  const int tc = tileCols<T>(p);
  const int64_t tiles = (t.c1 - t.c0 + tc - 1) / tc, blockTiles = nkb == 1 ? tiles : kBlockTiles;
  const int64_t perTile = roundUp(nv * NW * L + NW * L, 16);  // partial sums kept between K blocks
  const int64_t es = p.wType == DType::F32 ? 4 : 2;
  // Row strides padded by one cache line: unpadded, the 8 staged rows (K = 2048) and the packed A vectors
  // each fall into a single L1 set, and the conflict misses cost ~25% (measured, cache-resident W).
  // (lds in staged elements, lda in floats.)
  const int64_t lds = kc + 64 / static_cast<int64_t>(sizeof(S)), lda = (Dp ? (k + 1) / 2 : k) * L + 16;

  // Panels of up to 3 vectors; 4 goes as 2 + 2 so no panel is a lone vector with 8 accumulators. With the
  // half vector the last panel has at most 2 (3 goes as 2 + 1).
  int64_t panelStart[64], panelLen[64], np = 0;
  for (int64_t v = 0; v < nv && np < 64;) {
    const int64_t rem = nv - v;
    const int64_t len = rem == 4 || (half && rem == 3) ? 2 : imin(3, rem);
    panelStart[np] = v;
    panelLen[np++] = len;
    v += len;
  }
  // W read in place (Problem::directW): the kernel broadcasts straight from W's rows, with no stage, and its
  // first panel prefetches the next tile's rows into L2 at the offset it reads (one line per row every 16 k,
  // so the next tile arrives one tile ahead); later panels re-read the tile from L1 / L2. The prefetch, Zen 4,
  // every expert 32 or 40 rows, W from DRAM, 2 threads, % of the FMA peak without / with: f32 W2 (K = 768)
  // 67-69 / 78-80, W1 (K = 2048) 80-81 / 79-84; bf16 x bf16 (dp) W2 102-105 / 125-145, W1 118-152 / 151-162.
  // The hardware prefetchers restart on each tile's 8 new row streams (3 KiB each at K = 768).
  // Tasks of several panels read W in place too since the staged copy lost on Zen 5: in one process,
  // interleaved, 8 experts x 128 rows, 2 threads, time in place / staged (Zen 5 VM, results bitwise equal):
  // f32 W2 (K = 768) 0.85x, W1 (K = 2048) 0.93x; bf16 x bf16 (dp) 0.91x, 0.93x. (Staging single-panel tasks
  // there took 1.5-1.6x the time, Qwen3 T=512 W2.) Zen 4 was not measured with several panels in place. The
  // AVX2 path on Zen 3 (4 W rows per tile, against the stage with stageAhead; Qwen3 T=512, 2 threads): f32
  // W1 0.885x, W2 0.94x; Mixtral T=512 0.98-0.99x (Problem::directW has the numbers). Only W
  // the kernel can read as it is: f32 for the FMA kernel (bf16 / f16 W are widened into the stage), bf16 pairs
  // for the dp kernel when K is even (an odd K needs the stage's zero after the last element).
  // Problem::stageAhead (AVX2 on AMD): the staging of tile t+1 also prefetches tile t+2 into L2, one line
  // per row every 16 k. Zen 3 VM, Qwen3 T=512 (8 of 128 experts per token), W from DRAM, 2 threads,
  // in-process interleaved, time with / without: f32 W2 (K = 768, 3 KiB rows) 0.83x (1 thread 0.83x),
  // bf16 W2 0.88x, f32 W1 (K = 2048) 0.96x, bf16 W1 0.98x. There each tile's 4 short rows start new streams
  // that the hardware prefetchers pick up too late. An earlier Intel host measured the tile after next
  // slower (AVX-512, K = 2048), so the AVX-512 path and Intel CPUs keep the plain stage. (Since then f32 W
  // is read in place on AMD, so this serves the 16-bit W there.)
  const bool direct = p.directW && (Dp ? k % 2 == 0 : p.wType == DType::F32);
  const bool dotTail = tail > 0 && !half;
  const int64_t aPackSz = nPack * lda, aTailSz = p.aType == DType::F32 || !dotTail ? 0 : roundUp(tail * k, 16);
  const int64_t wStageSz = direct ? 0 : 2 * NW * lds * static_cast<int64_t>(sizeof(S)) / 4;
  const int64_t partSz = nkb > 1 ? imin(tiles, blockTiles) * perTile : 0;
  float* buf = scratch(static_cast<size_t>(aPackSz + aTailSz + wStageSz + partSz + 16));
  if (!buf) return;
  float* aPack = buf;
  float* aTail = aPack + aPackSz;
  S* wStage = reinterpret_cast<S*>(aTail + aTailSz);
  float* part = aTail + aTailSz + wStageSz;

  for (int64_t v = 0; v < nPack; ++v) {
    const int nr = static_cast<int>(imin(L, rows - v * L));
    if constexpr (Dp) packATPairs<T>(p, t.r0 + v * L, nr, aPack + v * lda);
    else packAT<T>(p, t.r0 + v * L, nr, aPack + v * lda);
  }
  const int64_t tailRow = t.r0 + (rows - tail);
  const float* aT = static_cast<const float*>(p.a) + tailRow * k;  // tail rows as f32, [tail][k]
  if (dotTail && p.aType != DType::F32) {
    convertRows<T>(p.a, p.aType, tailRow, tail, k, aTail);
    aT = aTail;
  }

  for (int64_t tb = 0; tb < tiles; tb += blockTiles) {
    const int64_t te = imin(tiles, tb + blockTiles);
    for (int64_t kb = 0; kb < nkb; ++kb) {
      const int64_t k0 = kb * kc, kn = imin(kc, k - k0);
      const bool first = kb == 0, last = kb == nkb - 1;
      Tile<T> cur = makeTile<T>(p, t.c0 + tb * tc, t.c1);
      Tile<T> nxt = tb + 1 < te ? makeTile<T>(p, t.c0 + (tb + 1) * tc, t.c1) : cur;
      if (tb + 1 < te)  // the first two tiles of a round are not covered by the pipeline
        for (int i = 0; i < NW; ++i)
          for (int64_t off = 0; off < kn * es; off += 64) T::prefetchL2(wRowPtr(p, t.e, nxt.wr[i], k0) + off);
      for (int i = 0; i < NW && !direct; ++i) {
        if constexpr (Dp) stageBf16(wRowPtr(p, t.e, cur.wr[i], k0), 0, kn, wStage + i * lds);
        else convertRows<T>(wRowPtr(p, t.e, cur.wr[i], k0), p.wType, 0, 1, kn, wStage + i * lds);
      }
      for (int64_t ti = tb; ti < te; ++ti) {
        S* cs = wStage + ((ti - tb) & 1) * NW * lds;
        const bool has1 = ti + 1 < te;
        StageJob<T, S> job;
        job.dst = direct ? nullptr : wStage + ((ti - tb + 1) & 1) * NW * lds;  // direct: prefetch only
        job.ldd = lds;
        for (int i = 0; i < NW; ++i) job.src[i] = wRowPtr(p, t.e, nxt.wr[i], k0);
        const bool has2 = ti + 2 < te;
        const Tile<T> after = has2 ? makeTile<T>(p, t.c0 + (ti + 2) * tc, t.c1) : nxt;
        for (int i = 0; i < NW; ++i)
          job.ahead[i] = has2 && p.stageAhead && !direct ? wRowPtr(p, t.e, after.wr[i], k0) : nullptr;
        const S* w[NW];
        for (int i = 0; i < NW; ++i) w[i] = direct ? reinterpret_cast<const S*>(wRowPtr(p, t.e, cur.wr[i], k0)) : cs + i * lds;
        float* tp = part + (ti - tb) * perTile;
        for (int64_t pi = 0; pi < np; ++pi) {
          const int64_t v0 = panelStart[pi], rv = panelLen[pi];
          const bool hf = half && pi == np - 1;  // the half vector (packed vector nv) rides in the last panel
          V acc[NW * 3];
          HalfV<T> hacc[NW];
          float* ps = tp + v0 * NW * L;
          float* hs = tp + nv * NW * L;  // the half vector's partial sums, one L-float slot per W row
          for (int j = 0; j < NW * rv; ++j) acc[j] = first ? T::zero() : T::load(ps + j * L);
          if constexpr (T::HasHalf)
            if (hf)
              for (int i = 0; i < NW; ++i) hacc[i] = first ? T::zeroH() : T::loadH(hs + i * L);
          const float* a = aPack + v0 * lda + (Dp ? k0 / 2 : k0) * L;
          const StageJob<T, S>* jp = pi == 0 && has1 ? &job : nullptr;
          if constexpr (Dp) {
            if (rv == 3) dpAny<T, 3>(false, a, lda, w, kn, acc, hacc, jp);
            else if (rv == 2) dpAny<T, 2>(hf, a, lda, w, kn, acc, hacc, jp);
            else dpAny<T, 1>(hf, a, lda, w, kn, acc, hacc, jp);
          } else {
            if (rv == 3) bcastAny<T, 3>(p.wType, false, a, lda, w, kn, acc, hacc, jp);
            else if (rv == 2) bcastAny<T, 2>(p.wType, hf, a, lda, w, kn, acc, hacc, jp);
            else bcastAny<T, 1>(p.wType, hf, a, lda, w, kn, acc, hacc, jp);
          }
          if (!last) {
            for (int j = 0; j < NW * rv; ++j) T::store(ps + j * L, acc[j]);
            if constexpr (T::HasHalf)
              if (hf)
                for (int i = 0; i < NW; ++i) T::storeH(hs + i * L, hacc[i]);
            continue;
          }
          for (int64_t v = 0; v < rv; ++v) {
            V col[NW];
            for (int i = 0; i < NW; ++i) col[i] = acc[i * rv + v];
            const int64_t rr = (v0 + v) * L;
            epilogue<T>(p, t.e, cur, col, t.r0 + rr, static_cast<int>(imin(L, rows - rr)));
          }
          if constexpr (T::HasHalf)
            if (hf) {
              V col[NW];
              for (int i = 0; i < NW; ++i) col[i] = T::widenH(hacc[i]);
              epilogue<T>(p, t.e, cur, col, tailRow, static_cast<int>(tail));
            }
        }
        if (dotTail) {
          alignas(64) float sums[L * NW + L] = {};  // + L: epilogueSums reads a vector per row
          const void* wv[NW];
          for (int i = 0; i < NW; ++i) wv[i] = w[i];
          for (int64_t r = 0; r < tail; r += 3) {
            const int rt = static_cast<int>(imin(3, tail - r));
            const float* a[3];
            for (int j = 0; j < 3; ++j) a[j] = aT + (r + imin(j, rt - 1)) * k + k0;
            dotAny<T>(Dp ? DType::BF16 : DType::F32, rt, a, wv, kn, sums + r * NW);
          }
          float* ts = tp + nv * NW * L;
          for (int j = 0; j < tail * NW; ++j) {
            if (!first) sums[j] = ts[j] + sums[j];
            if (!last) ts[j] = sums[j];
          }
          if (last) epilogueSums<T>(p, t.e, cur, sums, tailRow, static_cast<int>(tail));
        }
        cur = nxt;
        nxt = after;
      }
    }
  }
}

// Crossover decode (dot) / prefill (bcast): at most T::TailDot = 8 rows go to the dot kernel, the same
// rule as for prefill tails. Measured with AVX-512, W from DRAM (4 experts x 4096 x 4096, 1 core, ms per
// call, dot vs bcast with one padded vector): f32 R = 4: 24.7 vs 28.1, R = 8: 31.1 vs 27.4, R = 9: 32.9
// vs 28.1, R = 12: 37.4 vs 28.5, R = 15: 43.0 vs 29.0; bf16 R = 4: 13.7 vs 23.0, R = 8: 19.0 vs 23.9,
// R = 9: 19.9 vs 22.5, R = 12: 29.8 vs 23.3, R = 15: 29.5 vs 23.2. (Cache-resident, N = 512, K = 2048,
// the two were within 2% for R = 9..16.)
template <class T>
void runTask(const Problem& p, const Task& t, ScratchFn scratch) {
  if (t.r1 - t.r0 <= T::TailDot) decodeTask<T>(p, t, scratch);
  else if (T::Dp && p.dpbf16) prefillTask<T, T::Dp>(p, t, scratch);
  else prefillTask<T, false>(p, t, scratch);
}

}  // namespace
}  // namespace moe::cpu::gg
