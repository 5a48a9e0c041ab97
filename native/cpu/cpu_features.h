// What the processor and the OS let us run, and the SIMD path chosen once at load.
#pragma once

#include <string>

namespace moe::cpu {

// Ordered: a higher path may use every instruction of a lower one.
enum class SimdPath : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };

struct CpuFeatures {
  // Each flag is true only when cpuid reports the instructions AND xgetbv shows that the OS saves the
  // registers they use (YMM for AVX2, opmask + ZMM for AVX-512); a hypervisor may hide either.
  bool avx2 = false;        // with FMA3 and F16C: our AVX2 kernels use all three
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512bf16 = false;
};

// Detected once; safe to call from any thread.
const CpuFeatures& cpuFeatures();

// The best path the CPU supports (AVX-512 needs F, BW and VL).
SimdPath bestSimdPath();

struct SimdChoice {
  SimdPath path = SimdPath::Scalar;
  std::string warning;  // non-empty when MOE_SIMD held a value we do not know
};

// The path kernels dispatch to: min(MOE_SIMD, best supported). MOE_SIMD is read once, at the first call.
const SimdChoice& simdChoice();

// Pure so it can be reasoned about without the environment: `requested` may be null or empty.
SimdChoice chooseSimdPath(const char* requested, SimdPath supported);

const char* simdPathName(SimdPath p);

}  // namespace moe::cpu
