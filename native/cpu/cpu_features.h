// What the processor and the OS let us run, and the SIMD path the kernels dispatch to (chosen at load from
// MOE_SIMD, changeable at run time so one test process can cover every path).
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
  bool avx512dq = false;
  bool avx512bf16 = false;  // vcvtneps2bf16: kernels check this flag themselves, inside the avx512 path
  // avx512bf16 on an AMD CPU, where vdpbf16ps beats widening bf16 to f32 for FMA: on Zen 4 one zmm
  // vdpbf16ps does 32 multiply-adds at the FMA's rate of 16 (the bf16 x bf16 Qwen3 expert GEMMs at T=512
  // ran 1.9x faster with it). On the Sapphire Rapids class host of an earlier session it issued at half the
  // FMA's rate, so Intel CPUs keep the FMA path. grouped_gemm reads this flag.
  bool bf16DotFast = false;
  // The vendor is AMD: grouped_gemm's prefill reads W in place there (Problem::directW,
  // measured on Zen 4 and, AVX2, on Zen 3; an Intel host measured faster with the staged copy), and the
  // AVX2 path's staged prefill (bf16 / f16 W) prefetches a tile further ahead (Problem::stageAhead, Zen 3).
  bool amd = false;
  // The x86 display family (cpuid leaf 1: the base family, plus the extended family when the base is 0xF).
  // AMD: Zen and Zen 2 are 17h, Zen 3 and Zen 4 19h, Zen 5 1Ah. grouped_gemm's decode prefetch reads it
  // (Problem::decodePrefetch).
  int family = 0;
};

// Detected once; safe to call from any thread. MOE_CPU_DISABLE (read once) hides features, so a machine can
// run the code paths of an older CPU: a comma list of avx2 (hides everything), avx512 (all AVX-512),
// avx512bf16, amd (the vendor: the AMD-only kernel choices, as on an Intel CPU). Unknown names are ignored.
const CpuFeatures& cpuFeatures();

// Pure, for tests: `f` with the features named in `disable` removed (the MOE_CPU_DISABLE grammar).
CpuFeatures disableFeatures(CpuFeatures f, const char* disable);

// The best path the CPU supports (AVX-512 needs F, BW, VL and DQ: the avx512 files are built with all four).
SimdPath bestSimdPath();

struct SimdChoice {
  SimdPath path = SimdPath::Scalar;
  std::string warning;  // non-empty when MOE_SIMD held a value we do not know
};

// The initial path: min(MOE_SIMD, best supported). MOE_SIMD is read once, at the first call.
const SimdChoice& simdChoice();

// The path kernels dispatch to now: one relaxed atomic read, done by every dispatch at call time (never
// cached in a kernel's static table), starting at simdChoice().path. Process-wide, like the thread count.
SimdPath simdPath();

// Sets the path, clamped to bestSimdPath(); returns the path now in effect. convert, route, permute,
// unpermute and router_stats give bitwise the same results on every path; grouped_gemm sums in a
// path-specific order (within SPEC §12's tolerance). Each op reads the path once per call, so a call racing
// with a running op never mixes paths inside one result.
SimdPath setSimdPath(SimdPath want);

// Pure so it can be reasoned about without the environment: `requested` may be null or empty.
SimdChoice chooseSimdPath(const char* requested, SimdPath supported);

const char* simdPathName(SimdPath p);

}  // namespace moe::cpu
