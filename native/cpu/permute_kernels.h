// Internal to permute: the row loop each SIMD path provides. Only POD types cross from permute.cpp into
// the ISA translation units (x86/permute_avx2.cpp, x86/permute_avx512.cpp).
#pragma once

#include <cstdint>

#include "common/tensor_view.h"

namespace moe::cpu::perm {

// dst[i] = round(f64(src[i]) · scale) for i in [0, n), in the element type the getter was asked for:
// through f32 (Math.fround), then to bf16 / f16 by round to nearest even, as lib/reference/permute.ts.
// When scale is exactly an f32 the product of two f32 is exact in f64, so an f32 multiply (one rounding)
// gives the same bits: `f32Scale` selects that cheaper loop.
using ScaleLoop = void (*)(const void* src, void* dst, int64_t n, double scale);

ScaleLoop scaleLoopScalar(DType t, bool f32Scale);  // permute.cpp
#if defined(MOE_HAVE_X86)
ScaleLoop scaleLoopAvx2(DType t, bool f32Scale);    // x86/permute_avx2.cpp
ScaleLoop scaleLoopAvx512(DType t, bool f32Scale);  // x86/permute_avx512.cpp
#endif

}  // namespace moe::cpu::perm
