// The SIMD grouped_gemm, written once over a traits type T (vector T::V of T::L floats) and compiled twice:
// by x86/grouped_gemm_avx2.cpp (8 lanes, 16 registers) and x86/grouped_gemm_avx512.cpp (16 lanes, 32).
// Everything sits in an anonymous namespace: the two copies are built with different -m flags and must
// never be merged by the linker (an AVX-512 copy of a helper picked for the AVX2 path would fault).
//
// Two kernels, chosen per task by its row count (the drivers are in grouped_gemm_tasks.h):
//  - bcast (prefill, >= T::L rows): Yᵀ tile = W tile · Aᵀ. A's rows are packed transposed, L rows per
//    vector ([k][L], cheap: amortised over every W row of the task); each W element is broadcast into
//    NW x RV accumulators, RV <= 3 vectors. W is not transposed (at 32 rows per expert a transpose would
//    cost about as much as the FMAs); each tile's K block is only staged contiguously (copied, or widened
//    from bf16 / f16, exactly), inside the previous tile's kernel, or read in place. A prefill tail of
//    3..8 rows can ride along as a half vector (traits with T::HasHalf). Its bf16 x bf16 form, the dp
//    kernel (vdpbf16ps), is in grouped_gemm_dp.h.
//  - dot (decode, and the other prefill tails of <= T::TailDot rows): per (row, W row) a vector of partial
//    sums over k, all rows of the group per W load, W widened in registers; one fixed-order horizontal sum.
// Both finish in the same epilogue: + bias + addend, the activation (GLU pairs gate and up, which the
// tile holds together), round to the output dtype, store. Every output element is summed by one task in
// an order fixed by the problem's shape, so results do not depend on the thread count.
#pragma once

#include <cstring>

#include "cpu/grouped_gemm_kernels.h"
#include "grouped_gemm_act.h"

namespace moe::cpu::gg {
namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

// The half vector type of traits with T::HasHalf (AVX-512: 8 lanes), else a stand-in that is never used.
template <class T, bool Has = T::HasHalf>
struct HalfOf { using V = typename T::V; };
template <class T>
struct HalfOf<T, true> { using V = typename T::H; };
template <class T>
using HalfV = typename HalfOf<T>::V;

// ---------------------------------------------------------------------------------------------------------
// Tiles. A tile is up to NW W rows (for GLU: NW/2 gate rows then their NW/2 up rows) and the output
// columns they produce. `wr` holds the W row of each slot; slots past `nw` repeat slot 0 (wasted work at
// the right edge only, results dropped). Out slot j writes output column col0 + ocol[j]: j itself, except
// in the decode's stream tiles (makeStreamTile).

template <class T>
struct Tile {
  int64_t wr[T::NW];
  int nw;        // W rows in use
  int outCols;   // nw, or nw / 2 for GLU
  int64_t col0;  // first output column
  int64_t ocol[T::NW];
};

template <class T>
Tile<T> makeTile(const Problem& p, int64_t c, int64_t c1) {
  Tile<T> t{};
  t.col0 = c;
  if (p.gluAct) {
    t.outCols = static_cast<int>(imin(T::NW / 2, c1 - c));
    for (int j = 0; j < T::NW / 2; ++j) {
      const int64_t cj = c + (j < t.outCols ? j : 0);
      t.wr[j] = p.glu == GluLayout::Halves ? cj : 2 * cj;
      t.wr[T::NW / 2 + j] = p.glu == GluLayout::Halves ? p.n / 2 + cj : 2 * cj + 1;
    }
    t.nw = 2 * t.outCols;
  } else {
    t.outCols = t.nw = static_cast<int>(imin(T::NW, c1 - c));
    for (int i = 0; i < T::NW; ++i) t.wr[i] = c + (i < t.nw ? i : 0);
  }
  for (int j = 0; j < T::NW; ++j) t.ocol[j] = j;
  return t;
}

template <class T>
int tileCols(const Problem& p) { return p.gluAct ? T::NW / 2 : T::NW; }

// Stream tiles (decode). A decode task reads its W rows as S = 4 linear streams (GLU: 2 through the gate
// rows, 2 through the up rows): the task's columns are cut into S (GLU: S / 2) equal ranges of `stride`
// columns, and tile s takes P = NW / S consecutive rows from each range, columns P * s + b (b < P). The
// dot kernel reads one row of every stream at a time (call b of streamSlots), so each stream moves
// through memory in order, row after row. Why, and what it gained: decodeTask.
template <class T>
struct StreamShape {
  static constexpr int S = T::NW < 4 ? T::NW : 4, P = T::NW / S;
};

template <class T>
Tile<T> makeStreamTile(const Problem& p, int64_t c, int64_t stride, int64_t s) {
  constexpr int S = StreamShape<T>::S, P = StreamShape<T>::P, Sg = S / 2;
  Tile<T> t{};
  t.col0 = c;
  t.nw = T::NW;
  if (p.gluAct) {
    t.outCols = T::NW / 2;
    for (int j = 0; j < T::NW / 2; ++j) {
      t.ocol[j] = (j % Sg) * stride + P * s + j / Sg;
      const int64_t cj = c + t.ocol[j];
      t.wr[j] = p.glu == GluLayout::Halves ? cj : 2 * cj;
      t.wr[T::NW / 2 + j] = p.glu == GluLayout::Halves ? p.n / 2 + cj : 2 * cj + 1;
    }
  } else {
    t.outCols = T::NW;
    for (int i = 0; i < T::NW; ++i) {
      t.ocol[i] = (i % S) * stride + P * s + i / S;
      t.wr[i] = c + t.ocol[i];
    }
  }
  return t;
}

// The S slots dot call b (< P) of a tile reads: row b of every stream. Any tile's slots split this way.
template <class T>
void streamSlots(bool glu, int b, int* slot) {
  constexpr int S = StreamShape<T>::S, Sg = S / 2;
  for (int j = 0; j < S; ++j)
    slot[j] = !glu ? b * S + j : j < Sg ? b * Sg + j : T::NW / 2 + b * Sg + (j - Sg);
}

// The epilogue of one tile for rows [r, r + nr), nr <= L: v[i] holds the sums of W row slot i, one row per
// lane.
template <class T>
void epilogue(const Problem& p, int64_t e, const Tile<T>& t, typename T::V* v, int64_t r, int nr) {
  using V = typename T::V;
  const int half = T::NW / 2;
  for (int i = 0; i < T::NW; ++i) {
    const bool used = p.gluAct ? (i % half) < t.outCols : i < t.nw;
    if (!used) continue;
    if (p.bias) v[i] = T::add(v[i], T::set1(p.bias[e * p.n + t.wr[i]]));
    if (p.addend) {
      alignas(64) float tmp[T::L] = {};
      for (int l = 0; l < nr; ++l) tmp[l] = p.addend[(r + l) * p.n + t.wr[i]];
      v[i] = T::add(v[i], T::load(tmp));
    }
  }
  alignas(64) float of[T::NW][T::L];
  alignas(64) uint16_t oh[T::NW][T::L];
  for (int j = 0; j < t.outCols; ++j) {
    const V y = p.gluAct ? T::mul(activate<T>(p.act, v[j]), v[half + j]) : activate<T>(p.act, v[j]);
    if (p.outType == DType::F32) T::store(of[j], y);
    else T::storeHalf(oh[j], y, p.outType == DType::BF16);
  }
  // Transposed store: columns of the tile are contiguous in a row of `out`.
  if (p.outType == DType::F32) {
    float* o = static_cast<float*>(p.out) + r * p.nOut + t.col0;
    for (int l = 0; l < nr; ++l, o += p.nOut)
      for (int j = 0; j < t.outCols; ++j) o[t.ocol[j]] = of[j][l];
  } else {
    uint16_t* o = static_cast<uint16_t*>(p.out) + r * p.nOut + t.col0;
    for (int l = 0; l < nr; ++l, o += p.nOut)
      for (int j = 0; j < t.outCols; ++j) o[t.ocol[j]] = oh[j][l];
  }
}

// The epilogue of the dot kernels' sums: `sums` is slot-major [nr][NW] for rows [r, r + nr) (nr <= TailDot)
// and holds at least nr * NW + L floats. One vector per output row, its lanes the tile's W rows (lanes NW..
// are the next row's sums or padding: computed, never stored). The same per-element operations in the same
// order as epilogue on vectors of rows, so the results are bitwise equal, without first transposing the
// sums into one vector of rows per W row (NW stores and vector loads through memory per tile, at T = 1 for
// a single row). Measured against that, in one process, interleaved, a
// read-only 450 MiB pass before each call, 8 of 128 experts per token, Qwen3 shapes, 2 threads, W 16 bytes
// off a line, time new / old (Zen 5 VM): T=1 f32 W2 0.92-0.93x, bf16 W2 0.90-0.97x, f32 W1 (K = 2048)
// 0.97-0.99x; T=32 f32 W2 0.78-0.84x; the AVX2 path T=1 f32 W2 0.97x, T=32 1.00x.
template <class T>
void epilogueSums(const Problem& p, int64_t e, const Tile<T>& t, const float* sums, int64_t r, int nr) {
  using V = typename T::V;
  constexpr int L = T::L, NW = T::NW, half = NW / 2;
  alignas(64) float b[L] = {}, g[L + half] = {}, of[L];  // g + half: the up rows' sums
  alignas(64) uint16_t oh[L];
  if (p.bias)
    for (int i = 0; i < NW; ++i) b[i] = p.bias[e * p.n + t.wr[i]];
  const V bias = T::load(b);
  for (int l = 0; l < nr; ++l) {
    V v = T::loadu(sums + l * NW);
    if (p.bias) v = T::add(v, bias);
    if (p.addend) {
      alignas(64) float ad[L] = {};
      for (int i = 0; i < NW; ++i) ad[i] = p.addend[(r + l) * p.n + t.wr[i]];
      v = T::add(v, T::load(ad));
    }
    V y;
    if (p.gluAct) {
      T::store(g, v);
      y = T::mul(activate<T>(p.act, v), T::loadu(g + half));
    } else {
      y = activate<T>(p.act, v);
    }
    if (p.outType == DType::F32) {
      T::store(of, y);
      float* o = static_cast<float*>(p.out) + (r + l) * p.nOut + t.col0;
      for (int j = 0; j < t.outCols; ++j) o[t.ocol[j]] = of[j];
    } else {
      T::storeHalf(oh, y, p.outType == DType::BF16);
      uint16_t* o = static_cast<uint16_t*>(p.out) + (r + l) * p.nOut + t.col0;
      for (int j = 0; j < t.outCols; ++j) o[t.ocol[j]] = oh[j];
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Loads of up to L elements of any input dtype as f32 (zero past n).

template <class T>
__attribute__((noinline)) typename T::V loadPartial(const void* p, DType d, int64_t i, int n) {
  alignas(64) uint16_t h[T::L] = {};
  alignas(64) float f[T::L] = {};
  if (d == DType::F32) {
    std::memcpy(f, static_cast<const float*>(p) + i, sizeof(float) * static_cast<size_t>(n));
    return T::load(f);
  }
  std::memcpy(h, static_cast<const uint16_t*>(p) + i, 2 * static_cast<size_t>(n));
  return d == DType::BF16 ? T::loadBf16(h) : T::loadF16(h);
}

template <class T>
inline typename T::V loadAny(const void* p, DType d, int64_t i, int n) {
  if (n < T::L) return loadPartial<T>(p, d, i, n);
  if (d == DType::F32) return T::loadu(static_cast<const float*>(p) + i);
  return d == DType::BF16 ? T::loadBf16(static_cast<const uint16_t*>(p) + i)
                          : T::loadF16(static_cast<const uint16_t*>(p) + i);
}

// Aᵀ panels: rows [r, r + nr) (nr <= L; missing rows are zero) of A into dst[k][L], through L x L
// register transposes.
template <class T>
void packAT(const Problem& p, int64_t r, int nr, float* dst) {
  using V = typename T::V;
  const int64_t k = p.k;
  for (int64_t k0 = 0; k0 < k; k0 += T::L) {
    const int kn = static_cast<int>(imin(T::L, k - k0));
    V blk[T::L];
    for (int l = 0; l < T::L; ++l) blk[l] = l < nr ? loadAny<T>(p.a, p.aType, (r + l) * k + k0, kn) : T::zero();
    T::transpose(blk);
    for (int j = 0; j < kn; ++j) T::store(dst + (k0 + j) * T::L, blk[j]);
  }
}

// Rows of A as f32 (the dot kernel's layout): dst[nr][k].
template <class T>
void convertRows(const void* src, DType d, int64_t first, int64_t nrows, int64_t k, float* dst) {
  for (int64_t i = 0; i < nrows * k; i += T::L) {
    const int n = static_cast<int>(imin(T::L, nrows * k - i));
    const typename T::V v = loadAny<T>(src, d, first * k + i, n);
    if (n == T::L) T::storeu(dst + i, v);
    else {
      alignas(64) float f[T::L];
      T::store(f, v);
      std::memcpy(dst + i, f, sizeof(float) * static_cast<size_t>(n));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Staging work the bcast kernel does between its FMAs: widen (or copy) the next tile's W rows src[i]
// (dtype CD) into dst + i * ldd, 16 elements per row every 16 k; bf16 / f16 rows are prefetched 64
// elements ahead into L1, f32 rows are left to the hardware prefetchers. Measured (R = 32, K = 2048, 1 core,
// an earlier Intel host): distance 64 > 128 > 256 > 512 elements (114, 110, 99, 91 GFLOP/s with f32 W from
// DRAM); prefetching the tile after next into L2 was slower. Without the prefetch (Zen 4 VM, Qwen3 T=512,
// W from DRAM, in-process interleaved A/B, time ratio without / with): f32 W 0.93-0.95 (1 thread) and
// 0.87-0.95 (2 threads); bf16 W 0.99 for W1 but 1.06-1.07 for W2 (K = 768), so 16-bit W keeps it. One
// 32-row task alone, f32 W in L3: 92 GFLOP/s without, 86 with (K = 768); 86 and 80 (K = 2048). Measured
// on the AVX-512 path; the AVX2 path shares the rule unmeasured.
// S is the staged element: float for the FMA kernel, uint16_t (bf16 as it is) for the dp kernel.
template <class T, class S = float>
struct StageJob {
  const char* src[T::NW];
  S* dst;
  int64_t ldd;
  // Problem::stageAhead: the rows of the tile after next (at the same k0), prefetched into L2 while the
  // next tile is staged; null when there is none or the problem does not ask for it.
  const char* ahead[T::NW];
};

template <class T, DType CD>
inline typename T::V loadW(const char* p) {
  if (CD == DType::F32) return T::loadu(reinterpret_cast<const float*>(p));
  if (CD == DType::BF16) return T::loadBf16(reinterpret_cast<const uint16_t*>(p));
  return T::loadF16(reinterpret_cast<const uint16_t*>(p));
}

// The bcast kernel: acc[i][v] += A_v[k] (L rows) · W_i[k] for k in [0, kc). `a` points at the first of RV
// packed vectors (stride `av` floats between them), already offset to k0; w[i] at W row i, offset to k0.
// With HF (T::HasHalf) a half vector A_RV (the low lanes of packed vector RV) adds into hacc[i] too, from
// the same broadcasts. With a StageJob (CD != I32) it also stages the next tile; with PF (a job without a
// dst, W read in place) it only prefetches the next tile's f32 rows into L2.
template <class T, int RV, bool HF, DType CD, bool PF = false>
void kernelBcast(const float* a, int64_t av, const float* const* w, int64_t kc, typename T::V* acc,
                 HalfV<T>* hacc, const StageJob<T>* job) {
  using V = typename T::V;
  using HV = HalfV<T>;
  constexpr int NW = T::NW;
  constexpr int64_t es = CD == DType::F32 ? 4 : 2;
  V c[NW][RV];
  HV h[HF ? NW : 1];
  for (int i = 0; i < NW; ++i)
    for (int v = 0; v < RV; ++v) c[i][v] = acc[i * RV + v];
  if constexpr (HF)
    for (int i = 0; i < NW; ++i) h[i] = hacc[i];
  const float* wp[NW];
  for (int i = 0; i < NW; ++i) wp[i] = w[i];
  auto step = [&](int64_t k) __attribute__((always_inline)) {
    V x[RV];
    for (int v = 0; v < RV; ++v) x[v] = T::load(a + v * av + k * T::L);
    [[maybe_unused]] HV xh;
    if constexpr (HF) xh = T::loadH(a + RV * av + k * T::L);
    for (int i = 0; i < NW; ++i) {
      const V b = T::set1(wp[i][k]);
      for (int v = 0; v < RV; ++v) c[i][v] = T::fmadd(x[v], b, c[i][v]);
      if constexpr (HF) h[i] = T::fmaddH(xh, T::lowH(b), h[i]);
    }
  };
  int64_t k = 0;
  if (PF) {
    for (; k + 16 <= kc; k += 16) {
      for (int i = 0; i < NW; ++i) T::prefetchL2(job->src[i] + k * 4);
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j) step(k + j);
    }
  } else if (CD != DType::I32) {
    for (; k + 16 <= kc; k += 16) {
      if (CD != DType::F32)
        for (int i = 0; i < NW; ++i) T::prefetchL1(job->src[i] + (k + 64) * es);
      if (job->ahead[0] && (es == 4 || k % 32 == 0))  // one request per 64 B line
        for (int i = 0; i < NW; ++i) T::prefetchL2(job->ahead[i] + k * es);
      for (int i = 0; i < NW; ++i)
        for (int o = 0; o < 16; o += T::L)
          T::storeu(job->dst + i * job->ldd + k + o, loadW<T, CD>(job->src[i] + (k + o) * es));
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j) step(k + j);
    }
    for (int i = 0; i < NW; ++i)  // the last kc % 16 elements of the next tile
      for (int64_t o = k; o < kc; o += T::L) {
        const int n = static_cast<int>(imin(T::L, kc - o));
        alignas(64) float f[T::L];
        T::store(f, loadAny<T>(job->src[i], CD, o, n));
        std::memcpy(job->dst + i * job->ldd + o, f, sizeof(float) * static_cast<size_t>(n));
      }
  }
  for (; k < kc; ++k) step(k);
  for (int i = 0; i < NW; ++i)
    for (int v = 0; v < RV; ++v) acc[i * RV + v] = c[i][v];
  if constexpr (HF)
    for (int i = 0; i < NW; ++i) hacc[i] = h[i];
}

template <class T, int RV, bool HF>
void bcastCd(DType cd, const float* a, int64_t av, const float* const* w, int64_t kc, typename T::V* acc,
             HalfV<T>* hacc, const StageJob<T>* job) {
  if (!job) kernelBcast<T, RV, HF, DType::I32>(a, av, w, kc, acc, hacc, job);
  else if (!job->dst) kernelBcast<T, RV, HF, DType::I32, true>(a, av, w, kc, acc, hacc, job);
  else if (cd == DType::F32) kernelBcast<T, RV, HF, DType::F32>(a, av, w, kc, acc, hacc, job);
  else if (cd == DType::BF16) kernelBcast<T, RV, HF, DType::BF16>(a, av, w, kc, acc, hacc, job);
  else kernelBcast<T, RV, HF, DType::F16>(a, av, w, kc, acc, hacc, job);
}

// hf: with the half vector (only T::HasHalf traits and RV <= 2: 8 x (RV + 1) accumulators fit 32 registers).
template <class T, int RV>
void bcastAny(DType cd, bool hf, const float* a, int64_t av, const float* const* w, int64_t kc,
              typename T::V* acc, HalfV<T>* hacc, const StageJob<T>* job) {
  if constexpr (T::HasHalf && RV <= 2)
    if (hf) return bcastCd<T, RV, true>(cd, a, av, w, kc, acc, hacc, job);
  bcastCd<T, RV, false>(cd, a, av, w, kc, acc, hacc, job);
}

// The dot kernels' end: the last kc - k (< L) elements, then the fixed-order horizontal sums into out.
template <class T, int RT, DType WD, int NK>
inline void dotFinish(const float* const* a, const void* const* w, int64_t k, int64_t kc, typename T::V (&c)[RT][NK],
                      float* out) {
  using V = typename T::V;
  if (k < kc) {
    const int n = static_cast<int>(kc - k);
    V x[RT];
    for (int r = 0; r < RT; ++r) x[r] = loadAny<T>(a[r], DType::F32, k, n);
    for (int i = 0; i < NK; ++i) {
      const V b = loadAny<T>(w[i], WD, k, n);
      for (int r = 0; r < RT; ++r) c[r][i] = T::fmadd(x[r], b, c[r][i]);
    }
  }
  for (int r = 0; r < RT; ++r)
    for (int i = 0; i < NK; ++i) out[r * NK + i] = T::reduce(c[r][i]);
}

// The dot kernel: out[r][i] = sum over k in [0, kc) of A_r[k] · W_i[k], RT rows, NK W rows of dtype WD
// widened in registers. Lane partial sums, then one fixed-order horizontal sum, so a sum does not depend on
// RT or NK. pfAhead > 0: each W row is also prefetched into L1 pfAhead bytes past the element being read
// (the decode's streams run on into the next row, so that is the data read next).
template <class T, int RT, DType WD, int NK>
void kernelDot(const float* const* a, const void* const* w, int64_t kc, float* out, int64_t pfAhead) {
  using V = typename T::V;
  constexpr int64_t es = WD == DType::F32 ? 4 : 2;
  V c[RT][NK];
  for (int r = 0; r < RT; ++r)
    for (int i = 0; i < NK; ++i) c[r][i] = T::zero();
  int64_t k = 0;
  for (; k + T::L <= kc; k += T::L) {
    if (pfAhead > 0)
      for (int i = 0; i < NK; ++i) T::prefetchL1(static_cast<const char*>(w[i]) + k * es + pfAhead);
    V x[RT];
    for (int r = 0; r < RT; ++r) {
      x[r] = T::loadu(a[r] + k);
      // Keeps A in registers: GCC otherwise folds A's load into each of the NK FMAs, NK loads per row
      // behind every W load that waits on DRAM. Bitwise the same sums. Zen 5 VM, 8 experts x R rows, W
      // from DRAM, 2 threads, time against folded: AVX-512 f32 W R = 2..8 0.55-0.80x (W 16 B off a line
      // 0.60-0.88x), bf16 W 0.63-0.86x; R = 12, 40 (tails) 0.96-1.08x; AVX2 f32 0.95-1.05x, bf16 R = 2..4
      // 0.70-0.81x.
      if constexpr (RT > 1) asm("" : "+v"(x[r]));
    }
    for (int i = 0; i < NK; ++i) {
      V b = WD == DType::F32 ? T::loadu(static_cast<const float*>(w[i]) + k)
            : WD == DType::BF16 ? T::loadBf16(static_cast<const uint16_t*>(w[i]) + k)
                                : T::loadF16(static_cast<const uint16_t*>(w[i]) + k);
      // Keeps b in a register: GCC otherwise folds the f32 load into each of the RT FMAs, RT loads of the
      // same vector. Kept, 3 rows x 4 W rows from L1 took 0.65x the time (Zen 5 VM), and from DRAM (Qwen3
      // W2, W aligned, 2 threads) 16 experts x 2 / 3 / 6 rows 0.92x / 0.77x / 0.73x, T=32 0.93x.
      if constexpr (RT > 1) asm("" : "+v"(b));
      for (int r = 0; r < RT; ++r) c[r][i] = T::fmadd(x[r], b, c[r][i]);
    }
  }
  dotFinish<T, RT, WD, NK>(a, w, k, kc, c, out);
}

// kernelDot for f32 W rows that do not start on a 64-byte line (T::HasRealign traits, kc >= 2 L): every
// vector is built from two aligned loads (lanes m.. of one line, ..m-1 of the next), so no load splits a
// line; the vectors, and so the sums, are exactly kernelDot's. The first and the last line are loaded
// masked: their other lanes may lie outside the buffer. Why: decodeTask.
template <class T, int RT, int NK>
void kernelDotRealigned(const float* const* a, const void* const* w, int64_t kc, float* out, int64_t pfAhead) {
  using V = typename T::V;
  using VI = typename T::VI;
  constexpr int L = T::L;
  const float* base[NK];
  VI idx[NK];
  V prev[NK];
  int mis[NK];
  for (int i = 0; i < NK; ++i) {
    const auto addr = reinterpret_cast<uintptr_t>(w[i]);
    mis[i] = static_cast<int>(addr % 64 / 4);
    base[i] = reinterpret_cast<const float*>(addr - addr % 64);
    idx[i] = T::realignIdx(mis[i]);
    prev[i] = T::loadMasked(static_cast<typename T::M>(0xffffu << mis[i]), base[i]);
  }
  V c[RT][NK];
  for (int r = 0; r < RT; ++r)
    for (int i = 0; i < NK; ++i) c[r][i] = T::zero();
  auto step = [&](int64_t k, bool last) __attribute__((always_inline)) {
    if (pfAhead > 0)
      for (int i = 0; i < NK; ++i) T::prefetchL1(reinterpret_cast<const char*>(w[i]) + k * 4 + pfAhead);
    V x[RT];
    for (int r = 0; r < RT; ++r) {
      x[r] = T::loadu(a[r] + k);
      if constexpr (RT > 1) asm("" : "+v"(x[r]));  // as in kernelDot
    }
    for (int i = 0; i < NK; ++i) {
      // The next line holds elements k + L - mis .. k + 2L - 1 - mis; past kc only on the last step.
      const V cur = !last ? T::load(base[i] + k + L)
                          : T::loadMasked(static_cast<typename T::M>((1u << imin(L, imax(0, kc - (k + L - mis[i])))) - 1),
                                          base[i] + k + L);
      const V b = T::realign(prev[i], idx[i], cur);
      prev[i] = cur;
      for (int r = 0; r < RT; ++r) c[r][i] = T::fmadd(x[r], b, c[r][i]);
    }
  };
  int64_t k = 0;
  for (; k + 2 * L <= kc; k += L) step(k, false);
  step(k, true);  // kc >= 2 L: at least one whole vector is left
  k += L;
  dotFinish<T, RT, DType::F32, NK>(a, w, k, kc, c, out);
}

// cold: W comes from memory, where split lines cost most (kernelDotRealigned). false: an earlier call
// just read these W elements (decodeTile's later row groups), so they are in L1 and plain loads are faster:
// realigned there too, 16 experts x 4 / 6 / 8 rows took 1.08x / 1.11x / 1.10x the time (Qwen3 W2, W 16
// bytes off a line, from DRAM, 2 threads; Zen 5 VM).
template <class T, DType WD, int NK>
void dotRows(int rt, const float* const* a, const void* const* w, int64_t kc, float* out, int64_t pfAhead, bool cold) {
  if constexpr (WD == DType::F32 && T::HasRealign && NK <= 4) {  // NK 8: 16 more registers, spills
    bool split = false;
    for (int i = 0; i < NK && cold; ++i) split |= reinterpret_cast<uintptr_t>(w[i]) % 64 != 0;
    if (split && kc >= 2 * T::L && reinterpret_cast<uintptr_t>(w[0]) % 4 == 0) {
      if constexpr (T::L >= 16) if (rt == 4) return kernelDotRealigned<T, 4, NK>(a, w, kc, out, pfAhead);
      if (rt == 3) return kernelDotRealigned<T, 3, NK>(a, w, kc, out, pfAhead);
      if (rt == 2) return kernelDotRealigned<T, 2, NK>(a, w, kc, out, pfAhead);
      return kernelDotRealigned<T, 1, NK>(a, w, kc, out, pfAhead);
    }
  }
  if constexpr (T::L >= 16 && NK <= 4) if (rt == 4) return kernelDot<T, 4, WD, NK>(a, w, kc, out, pfAhead);
  if (rt == 3) kernelDot<T, 3, WD, NK>(a, w, kc, out, pfAhead);
  else if (rt == 2) kernelDot<T, 2, WD, NK>(a, w, kc, out, pfAhead);
  else kernelDot<T, 1, WD, NK>(a, w, kc, out, pfAhead);
}

// out[r * NK + i] for rt <= 3 rows and NK W rows, or 4 rows with 16-lane traits and NK <= 4 (cold: see
// dotRows).
template <class T, int NK = T::NW>
void dotAny(DType wd, int rt, const float* const* a, const void* const* w, int64_t kc, float* out,
            int64_t pfAhead = 0, bool cold = true) {
  if (wd == DType::BF16) dotRows<T, DType::BF16, NK>(rt, a, w, kc, out, pfAhead, cold);
  else if (wd == DType::F16) dotRows<T, DType::F16, NK>(rt, a, w, kc, out, pfAhead, cold);
  else dotRows<T, DType::F32, NK>(rt, a, w, kc, out, pfAhead, cold);
}


}  // namespace
}  // namespace moe::cpu::gg
