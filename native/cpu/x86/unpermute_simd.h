// The SIMD sum loop of unpermute (one token's Σ_i c_i · row_i over a column range, rounded to the output
// dtype), written once over a row-traits type S (rows_avx2.h, rows_avx512.h) and compiled by each ISA file.
// A block of U vectors of accumulators stays in registers while every term streams its slice of the block:
// each row is read once, the output written once. Products and sums are separate instructions (mul, then
// add: the files are built with fp-contract off), so the bits equal the scalar path's. Internal linkage.
#pragma once

#include <immintrin.h>

#include "cpu/unpermute_kernels.h"

namespace moe::cpu::unperm {
namespace {

// Software prefetch distance, in elements of each term's row (1 KiB of bf16, 2 KiB of f32). A token's k
// rows sit in k unrelated places and each is only a few pages long, so the hardware streamers keep
// re-learning; prefetching ahead cut the CPU time of T = 4096, H = 7168, k = 8 by 5-10% (bf16 48 vs 51 ms,
// f32 + shared + residual 97 vs 110 ms, one thread; benchmarks/cpu/combine_bench.cpp).
constexpr int64_t kPrefetch = 512;

// One block of U vectors at column h; Part: a single partial vector of m < L columns.
template <class S, int U, bool Part>
inline void sumBlock(const Term* terms, int64_t n, void* out, DType outType, int64_t h, int m) {
  using V = typename S::V;
  constexpr int L = S::L;
  V acc[U];
  for (int u = 0; u < U; ++u) acc[u] = S::zero();
  for (int64_t k = 0; k < n; ++k) {
    const Term& tm = terms[k];
    const V c = S::set1(tm.c);
    if (!Part) {  // prefetches never fault, so running past the end of a row is harmless
      const int es = tm.t == DType::F32 ? 4 : 2;
      const char* pf = static_cast<const char*>(tm.p) + (h + kPrefetch) * es;
      for (int b = 0; b < U * L * es; b += 64) _mm_prefetch(pf + b, _MM_HINT_T0);
    }
    switch (tm.t) {
#define MOE_TERM(T)                                                                                     \
  case T:                                                                                               \
    for (int u = 0; u < U; ++u) {                                                                       \
      const V x = Part ? S::template loadPart<T>(tm.p, h, m) : S::template load<T>(tm.p, h + u * L);    \
      acc[u] = S::add(acc[u], S::mul(c, x));                                                            \
    }                                                                                                   \
    break;
      MOE_TERM(DType::F32)
      MOE_TERM(DType::BF16)
      MOE_TERM(DType::F16)
#undef MOE_TERM
      default: break;
    }
  }
  for (int u = 0; u < U; ++u) {
    switch (outType) {
#define MOE_OUT(T)                                                                   \
  case T:                                                                            \
    if (Part) S::template storePart<T>(out, h, acc[u], m);                           \
    else S::template store<T>(out, h + u * L, acc[u]);                               \
    break;
      MOE_OUT(DType::F32)
      MOE_OUT(DType::BF16)
      MOE_OUT(DType::F16)
#undef MOE_OUT
      default: break;
    }
  }
}

template <class S>
void sumLoop(const Term* terms, int64_t n, void* out, DType outType, int64_t h0, int64_t h1) {
  constexpr int L = S::L, U = 4;  // 4 vectors: 4 independent add chains cover the add latency
  int64_t h = h0;
  for (; h + U * L <= h1; h += U * L) sumBlock<S, U, false>(terms, n, out, outType, h, 0);
  for (; h + L <= h1; h += L) sumBlock<S, 1, false>(terms, n, out, outType, h, 0);
  if (h < h1) sumBlock<S, 1, true>(terms, n, out, outType, h, static_cast<int>(h1 - h));
}

}  // namespace
}  // namespace moe::cpu::unperm
