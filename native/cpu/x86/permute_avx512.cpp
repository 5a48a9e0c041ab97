// permute, AVX-512 row loop (built with -mavx512f/bw/vl/dq; runs only when simdPath() is avx512).
// Only the scaled gather (scale != 1) gets here: a plain copy is a memcpy on every path.

#if defined(__x86_64__)

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's _mm512_undefined_*() initialise a variable from itself (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "rows_avx512.h"
#include "permute_simd.h"

namespace moe::cpu::perm {

ScaleLoop scaleLoopAvx512(DType t, bool f32Scale) { return scaleLoopFor<Avx512Rows>(t, f32Scale); }

}  // namespace moe::cpu::perm

#endif
