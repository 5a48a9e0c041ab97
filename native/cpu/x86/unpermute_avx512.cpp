// unpermute, AVX-512 sum loop (built with -mavx512f/bw/vl/dq; runs only when simdPath() is avx512).
// fp-contract off: GCC would otherwise fuse the mul + add of the accumulation into an FMA, whose single
// rounding differs from the scalar path's two.

#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
// GCC 12's _mm512_undefined_*() initialise a variable from itself (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "rows_avx512.h"
#include "unpermute_simd.h"

namespace moe::cpu::unperm {

SumLoop sumLoopAvx512() { return sumLoop<Avx512Rows>; }

}  // namespace moe::cpu::unperm

#endif
