// Internal to unpermute: one token's weighted sum of rows as a list of terms, and the sum loop each SIMD
// path provides. Only POD types cross from unpermute.cpp into the ISA translation units
// (x86/unpermute_avx2.cpp, x86/unpermute_avx512.cpp).
#pragma once

#include <cstdint>

#include "common/tensor_view.h"

namespace moe::cpu::unperm {

// A row (pointing at its element 0) times a coefficient. Shared and residual are terms with c = 1.
struct Term {
  const void* p;
  float c;
  DType t;
};

// out[h] = round(((0 + c0·p0[h]) + c1·p1[h]) + ...) for h in [h0, h1): f32 products and sums, each rounded
// (mul then add, never fused: every path must give the same bits), rounded once to `outType`.
using SumLoop = void (*)(const Term* terms, int64_t n, void* out, DType outType, int64_t h0, int64_t h1);

SumLoop sumLoopScalar();  // unpermute.cpp
#if defined(MOE_HAVE_X86)
SumLoop sumLoopAvx2();    // x86/unpermute_avx2.cpp
SumLoop sumLoopAvx512();  // x86/unpermute_avx512.cpp
#endif

}  // namespace moe::cpu::unperm
