// CPU feature detection: cpuid for what the processor implements, xgetbv for what the OS enables.
// Checking cpuid alone is not enough: an OS (or hypervisor) that does not save ZMM state would corrupt
// AVX-512 registers on every context switch, so both must agree before a path is offered.

#include "cpu_features.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define MOE_X86 1
#endif

namespace moe::cpu {

#if defined(MOE_X86)
namespace {

struct Regs {
  uint32_t a = 0, b = 0, c = 0, d = 0;
};

Regs cpuid(uint32_t leaf, uint32_t sub) {
  Regs r;
  if (!__get_cpuid_count(leaf, sub, &r.a, &r.b, &r.c, &r.d)) r = Regs{};
  return r;
}

// XCR0: which register states the OS saves. Inline asm so this file needs no -mxsave.
uint64_t xgetbv0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

bool bit(uint32_t v, int i) { return (v >> i) & 1u; }

CpuFeatures detect() {
  CpuFeatures f;
  uint32_t maxLeaf = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(0, &maxLeaf, &ebx, &ecx, &edx)) return f;

  const Regs l1 = cpuid(1, 0);
  const bool osxsave = bit(l1.c, 27);
  if (!osxsave) return f;  // xgetbv would fault: the OS manages no extended state
  const uint64_t xcr0 = xgetbv0();
  const bool osYmm = (xcr0 & 0x6) == 0x6;     // SSE (bit 1) + AVX (bit 2) state
  const bool osZmm = (xcr0 & 0xe6) == 0xe6;   // + opmask (5), ZMM_Hi256 (6), Hi16_ZMM (7)

  const bool avx = bit(l1.c, 28), fma = bit(l1.c, 12), f16c = bit(l1.c, 29);
  if (maxLeaf < 7 || !osYmm || !avx) return f;

  const Regs l7 = cpuid(7, 0);
  f.avx2 = bit(l7.b, 5) && fma && f16c;
  if (osZmm) {
    f.avx512f = bit(l7.b, 16);
    f.avx512bw = f.avx512f && bit(l7.b, 30);
    f.avx512vl = f.avx512f && bit(l7.b, 31);
    f.avx512dq = f.avx512f && bit(l7.b, 17);
    if (f.avx512f && l7.a >= 1) f.avx512bf16 = bit(cpuid(7, 1).a, 5);
  }
  const bool amd = ebx == 0x68747541 && edx == 0x69746e65 && ecx == 0x444d4163;  // "AuthenticAMD"
  f.amd = amd;
  const uint32_t baseFamily = (l1.a >> 8) & 0xf;
  f.family = static_cast<int>(baseFamily == 0xf ? baseFamily + ((l1.a >> 20) & 0xff) : baseFamily);
  f.bf16DotFast = f.avx512bf16 && amd;
  return f;
}

}  // namespace
#else
namespace {
CpuFeatures detect() { return CpuFeatures{}; }  // non-x86: the scalar path only
}  // namespace
#endif

CpuFeatures disableFeatures(CpuFeatures f, const char* disable) {
  if (disable == nullptr) return f;
  const std::string list = std::string(",") + disable + ",";
  const auto has = [&](const char* name) { return list.find(std::string(",") + name + ",") != std::string::npos; };
  if (has("avx2")) f = CpuFeatures{};
  if (has("avx512")) f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = f.avx512bf16 = false;
  if (has("avx512bf16")) f.avx512bf16 = false;
  if (has("amd")) f.amd = false;
  f.bf16DotFast = f.bf16DotFast && f.avx512bf16 && f.amd;
  return f;
}

const CpuFeatures& cpuFeatures() {
  // Immutable facts about the machine: a process-wide static is fine.
  static const CpuFeatures f = disableFeatures(detect(), std::getenv("MOE_CPU_DISABLE"));
  return f;
}

SimdPath bestSimdPath() {
  const CpuFeatures& f = cpuFeatures();
  if (f.avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq) return SimdPath::Avx512;
  if (f.avx2) return SimdPath::Avx2;
  return SimdPath::Scalar;
}

SimdChoice chooseSimdPath(const char* requested, SimdPath supported) {
  SimdChoice c;
  c.path = supported;
  if (requested == nullptr || requested[0] == '\0' || std::strcmp(requested, "auto") == 0) return c;
  SimdPath want;
  if (std::strcmp(requested, "scalar") == 0) {
    want = SimdPath::Scalar;
  } else if (std::strcmp(requested, "avx2") == 0) {
    want = SimdPath::Avx2;
  } else if (std::strcmp(requested, "avx512") == 0) {
    want = SimdPath::Avx512;
  } else {
    c.warning = std::string("moe-kernels: MOE_SIMD='") + requested +
                "' is not one of 'scalar', 'avx2', 'avx512', 'auto'; using '" + simdPathName(supported) + "'";
    return c;
  }
  // Never above what the machine supports: asking for avx512 on an AVX2 machine gives avx2.
  c.path = static_cast<int>(want) < static_cast<int>(supported) ? want : supported;
  return c;
}

const SimdChoice& simdChoice() {
  static const SimdChoice c = chooseSimdPath(std::getenv("MOE_SIMD"), bestSimdPath());
  return c;
}

namespace {
std::atomic<int>& currentPath() {
  static std::atomic<int> p{static_cast<int>(simdChoice().path)};  // thread-safe one-time init
  return p;
}
}  // namespace

SimdPath simdPath() { return static_cast<SimdPath>(currentPath().load(std::memory_order_relaxed)); }

SimdPath setSimdPath(SimdPath want) {
  const SimdPath best = bestSimdPath();
  const SimdPath p = static_cast<int>(want) < static_cast<int>(best) ? want : best;
  currentPath().store(static_cast<int>(p), std::memory_order_relaxed);
  return p;
}

const char* simdPathName(SimdPath p) {
  switch (p) {
    case SimdPath::Avx512: return "avx512";
    case SimdPath::Avx2: return "avx2";
    case SimdPath::Scalar: return "scalar";
  }
  return "scalar";
}

}  // namespace moe::cpu
