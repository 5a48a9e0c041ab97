// permute, AVX2 + F16C row loop (built with -mavx2 -mfma -mf16c; runs only when simdPath() >= avx2).
// Only the scaled gather (scale != 1) gets here: a plain copy is a memcpy on every path.

#if defined(__x86_64__)

#include "rows_avx2.h"
#include "permute_simd.h"

namespace moe::cpu::perm {

ScaleLoop scaleLoopAvx2(DType t, bool f32Scale) { return scaleLoopFor<Avx2Rows>(t, f32Scale); }

}  // namespace moe::cpu::perm

#endif
