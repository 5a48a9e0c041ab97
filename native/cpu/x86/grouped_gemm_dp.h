// The dp kernel of the SIMD grouped_gemm (bf16 A x bf16 W with vdpbf16ps; traits with T::Dp only), split
// from grouped_gemm_simd.h, whose anonymous-namespace rule it follows: it is included by grouped_gemm_tasks.h
// in each ISA's translation unit.
#pragma once

#include "grouped_gemm_simd.h"

namespace moe::cpu::gg {
namespace {

// The dp kernel (bf16 A x bf16 W, traits with T::Dp only): the bcast kernel over pairs of k. Aᵀ is packed
// two bf16 per 32-bit lane (packATPairs), a staged W row is read two bf16 at a time as one 32-bit broadcast,
// and vdpbf16ps adds both products into each f32 lane: twice the multiply-adds of an FMA per instruction,
// and W is staged as plain bf16 copies (no widening). An odd K has a zero in the last pair on both sides.

typedef uint32_t u32alias __attribute__((may_alias));

// Aᵀ of bf16 rows [r, r + nr) (nr <= L; missing rows are zero) as pairs: dst[(k + 1) / 2][L] 32-bit lanes,
// through the same L x L 32-bit transpose as packAT. Pairs past the row's end are zero.
template <class T>
void packATPairs(const Problem& p, int64_t r, int nr, float* dst) {
  using V = typename T::V;
  const int64_t k = p.k, kp = (k + 1) / 2;
  const uint16_t* a = static_cast<const uint16_t*>(p.a);
  for (int64_t q0 = 0; q0 < kp; q0 += T::L) {
    const int qn = static_cast<int>(imin(T::L, kp - q0));
    const int64_t avail = imin(2 * T::L, k - 2 * q0);
    V blk[T::L];
    for (int l = 0; l < T::L; ++l) {
      if (l >= nr) { blk[l] = T::zero(); continue; }
      const uint16_t* row = a + (r + l) * k + 2 * q0;
      if (avail == 2 * T::L) { blk[l] = T::loadu(reinterpret_cast<const float*>(row)); continue; }
      alignas(64) uint16_t h[2 * T::L] = {};
      std::memcpy(h, row, 2 * static_cast<size_t>(avail));
      blk[l] = T::load(reinterpret_cast<const float*>(h));
    }
    T::transpose(blk);
    for (int j = 0; j < qn; ++j) T::store(dst + (q0 + j) * T::L, blk[j]);
  }
}

// Elements [from, kn) of a bf16 W row into the stage, and a zero after an odd kn (the last pair's partner).
inline void stageBf16(const char* src, int64_t from, int64_t kn, uint16_t* dst) {
  std::memcpy(dst + from, src + 2 * from, 2 * static_cast<size_t>(kn - from));
  if (kn % 2) dst[kn] = 0;
}

// acc[i][v] += A_v[k] · W_i[k] for k in [0, kn), two k per vdpbf16ps. `a` points at the first of RV packed
// pair vectors (stride av floats), offset to pair k0 / 2; w[i] at staged bf16 W row i, offset to k0. With a
// job (Stage) it also copies the next tile's kn bf16 of each row, 32 per row every 16 pairs, never reading
// past element kn of a source row; each row is prefetched 256 bytes ahead, the FMA kernel's distance for
// bf16 W (not re-tuned for this kernel).
// With HF, the half vector as in kernelBcast; with PF (a job without a dst) only the L2 prefetch of the
// next tile's bf16 rows, as kernelBcast's.
template <class T, int RV, bool HF, bool Stage, bool PF = false>
void kernelDp(const float* a, int64_t av, const uint16_t* const* w, int64_t kn, typename T::V* acc,
              HalfV<T>* hacc, const StageJob<T, uint16_t>* job) {
  using V = typename T::V;
  using VI = typename T::VI;
  constexpr int NW = T::NW;
  const int64_t kp = (kn + 1) / 2;
  V c[NW][RV];
  HalfV<T> h[HF ? NW : 1];
  for (int i = 0; i < NW; ++i)
    for (int v = 0; v < RV; ++v) c[i][v] = acc[i * RV + v];
  if constexpr (HF)
    for (int i = 0; i < NW; ++i) h[i] = hacc[i];
  const u32alias* wp[NW];
  for (int i = 0; i < NW; ++i) wp[i] = reinterpret_cast<const u32alias*>(w[i]);
  auto step = [&](int64_t q) __attribute__((always_inline)) {
    VI x[RV];
    for (int v = 0; v < RV; ++v) x[v] = T::loadi(a + v * av + q * T::L);
    if constexpr (HF) {
      const auto xh = T::loadiH(a + RV * av + q * T::L);
      for (int i = 0; i < NW; ++i) {
        const VI b = T::bcast32(wp[i][q]);
        for (int v = 0; v < RV; ++v) c[i][v] = T::dp(c[i][v], x[v], b);
        h[i] = T::dpH(h[i], xh, T::lowHI(b));
      }
    } else {
      for (int i = 0; i < NW; ++i) {
        const VI b = T::bcast32(wp[i][q]);
        for (int v = 0; v < RV; ++v) c[i][v] = T::dp(c[i][v], x[v], b);
      }
    }
  };
  int64_t q = 0;
  if (PF) {
    for (; 2 * (q + 16) <= kn; q += 16) {
      for (int i = 0; i < NW; ++i) T::prefetchL2(job->src[i] + 4 * q);
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j) step(q + j);
    }
  } else if (Stage) {
    for (; 2 * (q + 16) <= kn; q += 16) {
      for (int i = 0; i < NW; ++i) T::prefetchL1(job->src[i] + 4 * q + 256);
      for (int i = 0; i < NW; ++i)
        for (int o = 0; o < 32; o += 2 * T::L)
          T::storeu(reinterpret_cast<float*>(job->dst + i * job->ldd + 2 * q + o),
                    T::loadu(reinterpret_cast<const float*>(job->src[i] + 4 * q + 2 * o)));
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j) step(q + j);
    }
    for (int i = 0; i < NW; ++i) stageBf16(job->src[i], 2 * q, kn, job->dst + i * job->ldd);
  }
  for (; q < kp; ++q) step(q);
  for (int i = 0; i < NW; ++i)
    for (int v = 0; v < RV; ++v) acc[i * RV + v] = c[i][v];
  if constexpr (HF)
    for (int i = 0; i < NW; ++i) hacc[i] = h[i];
}

template <class T, int RV, bool HF>
void dpStage(const float* a, int64_t av, const uint16_t* const* w, int64_t kn, typename T::V* acc,
             HalfV<T>* hacc, const StageJob<T, uint16_t>* job) {
  if (job && !job->dst) kernelDp<T, RV, HF, false, true>(a, av, w, kn, acc, hacc, job);
  else if (job) kernelDp<T, RV, HF, true>(a, av, w, kn, acc, hacc, job);
  else kernelDp<T, RV, HF, false>(a, av, w, kn, acc, hacc, job);
}

template <class T, int RV>
void dpAny(bool hf, const float* a, int64_t av, const uint16_t* const* w, int64_t kn, typename T::V* acc,
           HalfV<T>* hacc, const StageJob<T, uint16_t>* job) {
  if constexpr (T::HasHalf && RV <= 2)
    if (hf) return dpStage<T, RV, true>(a, av, w, kn, acc, hacc, job);
  dpStage<T, RV, false>(a, av, w, kn, acc, hacc, job);
}

}  // namespace
}  // namespace moe::cpu::gg
