// The SIMD row loop of permute (rows = x · scale, rounded to x's dtype), written once over a row-traits
// type S (rows_avx2.h, rows_avx512.h) and compiled by each ISA file. Internal linkage: see half.h.
#pragma once

#include "cpu/permute_kernels.h"

namespace moe::cpu::perm {
namespace {

// F32Scale: scale is exactly an f32, so one f32 multiply rounds the exact product once (= the reference's
// Math.fround(x · scale)). Otherwise multiply in f64 and round to f32 once.
template <class S, DType T, bool F32Scale>
void scaleLoop(const void* src, void* dst, int64_t n, double scale) {
  using V = typename S::V;
  constexpr int L = S::L;
  const V sf = S::set1(static_cast<float>(scale));
  const typename S::D sd = S::set1d(scale);
  auto op = [&](V x) {
    if constexpr (F32Scale) return S::mul(x, sf);
    else return S::mulF64(x, sd);
  };
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {  // four independent loads in flight per step
    const V a = S::template load<T>(src, i), b = S::template load<T>(src, i + L);
    const V c = S::template load<T>(src, i + 2 * L), d = S::template load<T>(src, i + 3 * L);
    S::template store<T>(dst, i, op(a));
    S::template store<T>(dst, i + L, op(b));
    S::template store<T>(dst, i + 2 * L, op(c));
    S::template store<T>(dst, i + 3 * L, op(d));
  }
  for (; i + L <= n; i += L) S::template store<T>(dst, i, op(S::template load<T>(src, i)));
  if (i < n) {
    const int m = static_cast<int>(n - i);
    S::template storePart<T>(dst, i, op(S::template loadPart<T>(src, i, m)), m);
  }
}

template <class S>
ScaleLoop scaleLoopFor(DType t, bool f32Scale) {
  switch (t) {
    case DType::F32: return f32Scale ? scaleLoop<S, DType::F32, true> : scaleLoop<S, DType::F32, false>;
    case DType::BF16: return f32Scale ? scaleLoop<S, DType::BF16, true> : scaleLoop<S, DType::BF16, false>;
    case DType::F16: return f32Scale ? scaleLoop<S, DType::F16, true> : scaleLoop<S, DType::F16, false>;
    default: return nullptr;
  }
}

}  // namespace
}  // namespace moe::cpu::perm
