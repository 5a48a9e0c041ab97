// unpermute, AVX2 + F16C sum loop (built with -mavx2 -mfma -mf16c; runs only when simdPath() >= avx2).
// fp-contract off: with -mfma GCC would fuse the mul + add of the accumulation into an FMA, whose single
// rounding differs from the scalar path's two.

#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "rows_avx2.h"
#include "unpermute_simd.h"

namespace moe::cpu::unperm {

SumLoop sumLoopAvx2() { return sumLoop<Avx2Rows>; }

}  // namespace moe::cpu::unperm

#endif
