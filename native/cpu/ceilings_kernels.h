// The inner loops of the ceilings (ceilings.h), one set per ISA. fma(iters) runs iters steps of
// `fmaFlopsPerIter` FLOP and returns a value that depends on every chain (so nothing is optimised away);
// sum(p, n) reads n floats (n a multiple of 256, p 64-byte aligned) and returns their sum.
#pragma once

#include <cstdint>

namespace moe::cpu {

struct CeilingLoops {
  float (*fma)(int64_t iters);
  double flopsPerIter;
  float (*sum)(const float* p, int64_t n);
};

#if defined(MOE_HAVE_X86)
CeilingLoops ceilingLoopsAvx2();    // x86/ceilings_avx2.cpp
CeilingLoops ceilingLoopsAvx512();  // x86/ceilings_avx512.cpp
#endif

}  // namespace moe::cpu
