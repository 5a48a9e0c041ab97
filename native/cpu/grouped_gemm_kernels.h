// Internal to grouped_gemm: the checked problem in plain numbers, the unit of parallel work, and the entry
// of each SIMD path. Only POD types cross from native/cpu/grouped_gemm.cpp into the ISA translation units
// (x86/grouped_gemm_avx2.cpp, x86/grouped_gemm_avx512.cpp), so those never instantiate shared inline or
// std:: code with their wider instruction sets.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/grouped_gemm.h"
#include "cpu_features.h"

namespace moe::cpu::gg {

struct Problem {
  const void* a;  DType aType;   // [rows, k]
  const void* w;  DType wType;   // [experts, n, k]
  void* out;      DType outType; // [rows, nOut]
  const int32_t* offsets;
  const float* bias;             // [experts, n] or null
  const float* addend;           // [rows, n] or null
  Activation act;
  GluLayout glu;
  bool gluAct;                   // act is Swiglu or Geglu
  int64_t experts, rows, n, k, nOut;
  // bf16 A with bf16 W on the AVX-512 path of a CPU where vdpbf16ps is fast (CpuFeatures::bf16DotFast):
  // prefill tasks multiply pairs with it. Set by the dispatch, read by the AVX-512 path only.
  bool dpbf16;
  // The AVX-512 and AVX2 paths of an AMD CPU: prefill tasks broadcast from W in place instead of staging
  // a copy (grouped_gemm_tasks.h says which W). Qwen3 T=512 expert GEMMs, in-process interleaved A/B, time
  // in place / staged: AVX-512 on Zen 4, f32 W 0.955-0.96x on 1 thread, 0.96-0.99x on 2; bf16 x bf16 (dp
  // kernel) W1 0.89-0.92x on 1 and 0.92-0.95x on 2, W2 (K = 768) 1.00-1.02x. AVX2 on Zen 3 (f32 W; medians
  // of 9 pairs, outputs bitwise equal): W1 0.885x on 2 threads and 1, W2 0.94x on 2, 0.96x on 1; Mixtral
  // (128 rows per expert) W1 0.98x, W2 0.99x. On an Intel host an earlier session measured broadcasting
  // from unstaged rows of K = 2048 (8 KiB apart, one L1 set) at 103-159 GFLOP/s against 175-184 staged, so
  // there the copy stays. Set by the dispatch.
  bool directW;
  // The AVX2 path of an AMD CPU: while a prefill task stages the next W tile (16-bit W; f32 W is read in
  // place there, directW) it also prefetches the tile after next into L2 (grouped_gemm_tasks.h,
  // prefillTask, says what it gained). Set by the dispatch.
  bool stageAhead;
  // Decode tasks prefetch each W row ahead into L1 (grouped_gemm_tasks.h, kDecodePfAhead), except on AMD
  // CPUs before Zen 5 (family < 1Ah), where the hardware prefetchers alone were faster; on the Zen 5 VM the
  // prefetch gained 5-7% at T=1. Qwen3, 2 threads, in one process, interleaved, a 256 MiB read before each
  // call, time without / with: Zen 4 VM, AVX-512 path, medians of 51 pairs: T=1 f32 W1 0.955x, W2 0.93x,
  // bf16 W1 0.945x, W2 0.89x; T=32 f32 W1 0.94x, W2 0.92x, bf16 W1 0.98x, W2 0.94x. The AVX2 path on the
  // same VM (41 pairs): T=1 f32 W1 0.69x, W2 0.69x, bf16 0.94x, 0.965x; T=32 f32 W1 0.96x. Zen 3 VM (AVX2,
  // 41 pairs): T=1 f32 W1 0.93-0.97x, W2 0.95-0.96x; T=32 0.98x; bf16 W1 0.98x, W2 1.04x (noise either
  // way). Set by the dispatch.
  bool decodePrefetch;
};

// Expert e, rows [r0, r1) of its segment, output columns [c0, c1). Tasks write disjoint outputs, and the
// split depends on the problem only, never on the thread count.
struct Task {
  int64_t e, r0, r1, c0, c1;
};

// Per-thread scratch of at least `floats` floats, 64-byte aligned, valid until the task returns.
using ScratchFn = float* (*)(size_t floats);

// Column boundaries of tasks are multiples of this (in output columns), a multiple of every path's tile.
constexpr int64_t kColQuantum = 32;

void runTaskScalar(const Problem& p, const Task& t, ScratchFn scratch);
#if defined(MOE_HAVE_X86)
void runTaskAvx2(const Problem& p, const Task& t, ScratchFn scratch);
void runTaskAvx512(const Problem& p, const Task& t, ScratchFn scratch);
#endif

// groupedGemm with an explicit path (tests and benchmarks compare paths in one process). A path the CPU
// does not support is lowered to the best one it does.
Status groupedGemmOnPath(const GroupedGemmArgs& args, SimdPath path);

}  // namespace moe::cpu::gg
