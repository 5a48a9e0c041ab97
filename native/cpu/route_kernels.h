// Internal to route: V8's exp, the per-row score kernels of each SIMD path, and the selection helpers.
// Only plain pointers and numbers cross into the ISA translation units (x86/route_avx2.cpp,
// x86/route_avx512.cpp), so they never instantiate shared inline or std:: code with wider instructions.
#pragma once

#include <cstdint>

#include "common/route.h"
#include "cpu_features.h"

namespace moe::cpu::rt {

// Math.exp as V8 computes it (fdlibm's __ieee754_exp, FreeBSD variant with the exp(1) special case), bit
// for bit: glibc's exp differs from it in the last bit for ~7% of inputs, which would move f32 scores.
double expV8(double x);  // route_math.cpp

// p[i] = f32(exp(z[i] - max z) / Σ_j exp(z[j] - max z)): float64, the sum in index order, a NaN anywhere
// makes the max NaN (Math.max). `e` is n doubles of scratch.
using SoftmaxRowFn = void (*)(const float* z, int64_t n, double* e, float* p);
// s[i] = f32(1 / (1 + exp(-z[i]))) in float64.
using SigmoidRowFn = void (*)(const float* z, int64_t n, float* s);

// ord[i] = the f32 order of v[i] as an unsigned key, larger = earlier in selection order: NaN (any) above
// +inf, -0 == +0. The smallest key of a number is 0x007fffff (-inf), so 0 is free to mark "taken".
using OrderKeysFn = void (*)(const float* v, int64_t n, uint32_t* ord);
// Picks are taken one at a time from ord[begin, end) with a two-level max: bm[b] is the largest key of block
// b = [begin + 16b, begin + 16b + 16) (clipped to end). blockMax fills bm ((end - begin + 15) / 16 entries);
// takeNext returns the lowest index holding the largest key (the next pick: ties go to the lower index),
// sets it to 0 and refreshes its block's bm. At least one key in the range must be non-zero.
// Ranges of at most kFlatMax keys skip the block maxima: one flat scan per take is faster there. Measured on
// the AVX-512 path, ns per row for k takes (flat vs blocks): E = 128, k = 8: 214 vs 223; E = 256, k = 8:
// 287 vs 235; E = 1024, k = 32: 2698 vs 1459; E = 32, k = 8: 144 vs 208.
constexpr int64_t kBlock = 16;
constexpr int64_t kFlatMax = 128;
using BlockMaxFn = void (*)(const uint32_t* ord, int64_t begin, int64_t end, uint32_t* bm);
using TakeNextFn = int64_t (*)(uint32_t* ord, int64_t begin, int64_t end, uint32_t* bm);

struct RowKernels {
  SoftmaxRowFn softmax;
  SigmoidRowFn sigmoid;
  OrderKeysFn orderKeys;
  BlockMaxFn blockMax;
  TakeNextFn takeNext;
};

RowKernels rowKernelsScalar();  // route_math.cpp
#if defined(MOE_HAVE_X86)
RowKernels rowKernelsAvx2();    // x86/route_avx2.cpp
RowKernels rowKernelsAvx512();  // x86/route_avx512.cpp
#endif

// ---- selection (route_select.cpp) ----
void orderKeysScalar(const float* v, int64_t n, uint32_t* ord);
void blockMaxScalar(const uint32_t* ord, int64_t begin, int64_t end, uint32_t* bm);
int64_t takeNextScalar(uint32_t* ord, int64_t begin, int64_t end, uint32_t* bm);

// The f32 order of one value (orderKeys for one element).
uint32_t orderKey(float v);

// Per-task scratch of the selection helpers.
struct SelectScratch {
  uint32_t* ord;   // [E]
  uint64_t* keys;  // [E]
  uint32_t* bm;    // [(E + 15) / 16]
  uint32_t* gord;  // [groups]
  int32_t* gtop;   // [max(topN, keep)]
};

// Top-k of the selection scores cs [E] (SPEC §0 order), optionally group-limited (SPEC §2.1 step 3: a
// group's score is f32 of the float64 sum of its top `topN` scores in selection order; the `keep` best
// groups survive, NaN first, ties to the lower group). Writes k picks.
void selectTopk(const RowKernels& kern, const float* cs, int64_t E, int64_t k, int64_t groups, int64_t keep,
                int64_t topN, int32_t* picks, float* gscore, const SelectScratch& s);

// Threshold prefix (SPEC §4) on one row of f32 p [E]: slot 0 always; slot j >= 1 iff S_{j-1} < t (XMoE) or
// <= t (top_p, `inclusive`), S the float64 prefix sum of the sorted p; at most kmax. Returns the count.
int64_t thresholdPicks(const RowKernels& kern, const float* p, int64_t E, double t, bool inclusive, int64_t kmax,
                       int32_t* picks, const SelectScratch& s);

// ---- capacity (route_capacity.cpp) ----
// Drops assignments beyond a.cap per expert in place (ids -> -1, gates -> 0), fills the capacity outputs
// and optionally renormalises survivors; sequential, as lib/reference/route_capacity.ts. gates [T, K].
// Returns false when scratch cannot be allocated.
bool applyCapacity(const RouteArgs& a, double* gates);

// route with an explicit path (tests and benchmarks compare paths in one process); a path the CPU does
// not support is lowered to the best one it does.
Status routeOnPath(const RouteArgs& a, SimdPath path);

}  // namespace moe::cpu::rt
