// permute / unpermute / router_stats CPU harness (llm.c style): a plain-loop port of lib/reference (f64
// sums, in combine_reference.h), validation of every SIMD path and thread count against it, then timings
// at the MoE shapes of Qwen3-30B-A3B (H = 2048) and DeepSeek-V3 (H = 7168), k = 8, E = 128, prefill
// (T = 4096) and decode (T = 32), next to this machine's measured memcpy bandwidth.
//
//   permute:   rows[r] = scale · x[rowToToken[r]], rows grouped by expert in (rank, token) order
//   unpermute: out[t] = Σ_j w[t,j] · E_{ids[t,j]}(u_t) + shared[t] + residual[t]
//   router_stats: counts, top1Counts, probSum [E]; Σ logsumexp², Σ entropy over unmasked tokens
//
// Build and run from the repository root (each ISA file with its own flags, the rest for the baseline, as
// CMakeLists.txt does, so the scalar path is the one users without AVX2 get):
//   B=/tmp/combine_bench.d; mkdir -p $B; F="-O3 -std=c++17 -Inative -DMOE_HAVE_X86"
//   for f in permute unpermute router_stats thread_pool cpu_features; do g++ $F -c native/cpu/$f.cpp -o $B/$f.o; done
//   A2="-mavx2 -mfma -mf16c"; A5="-mavx512f -mavx512bw -mavx512vl -mavx512dq $A2"
//   for f in permute unpermute; do g++ $F $A2 -c native/cpu/x86/${f}_avx2.cpp -o $B/${f}_avx2.o
//     g++ $F $A5 -c native/cpu/x86/${f}_avx512.cpp -o $B/${f}_avx512.o; done
//   g++ $F -o /tmp/combine_bench benchmarks/cpu/combine_bench.cpp $B/*.o -lpthread
//   /tmp/combine_bench [--validate | --bench] [--reps N] [--threads N] [--H 2048|7168] [--T 32|4096]
// Validation: odd sizes (H = 1, 33, 2049; T = 0, 1, 7, 255), k in {1, 2, 8}, align, expert maps,
// zero-computation ids, scale (f32-exact and not), every dtype, copy / zero / constant experts, shared and
// residual, NaN weights, token masks; permute exact (rows bit for bit, maps), unpermute within 1e-5 (f32
// out) / 1e-2 (half) norm-wise of the f64 reference and bitwise equal across paths and thread counts,
// router_stats bit for bit (the same f64 sums in the same order).

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/permute.h"
#include "common/router_stats.h"
#include "common/unpermute.h"
#include "cpu/cpu_features.h"
#include "cpu/half.h"
#include "cpu/thread_pool.h"
#include "combine_reference.h"

using namespace moe;
using cpu::SimdPath;

// ---------------------------------------------------------------------------------------------------------
// Validation

static std::vector<SimdPath> paths() {
  std::vector<SimdPath> p{SimdPath::Scalar};
  if (cpu::bestSimdPath() >= SimdPath::Avx2) p.push_back(SimdPath::Avx2);
  if (cpu::bestSimdPath() >= SimdPath::Avx512) p.push_back(SimdPath::Avx512);
  return p;
}
static const int kThreads[] = {1, 2, 3};
static int failures = 0;
#define CHECK(cond, ...) do { if (!(cond)) { ++failures; if (failures < 30) { std::printf("FAIL: " __VA_ARGS__); std::printf("\n"); } } } while (0)

static void validatePermute(std::mt19937& rng) {
  int cases = 0;
  const int64_t Ts[] = {0, 1, 7, 255, 1000}, Hs[] = {1, 33, 2049}, Ks[] = {1, 2, 8}, Es[] = {1, 8, 64, 128};
  const double scales[] = {1.0, 2.0, 0.1};
  for (int rep = 0; rep < 120; ++rep) {
    const DType d = kFloat[rep % 3];
    const int64_t T = Ts[rng() % 5], H = Hs[rng() % 3], K = Ks[rng() % 3], E = Es[rng() % 4];
    const int64_t nSpecial = rng() % 2 ? 4 : 0, align = rng() % 2 ? 16 : 1;
    const bool map = rng() % 3 == 0;
    const double scale = scales[rep % 3 == 0 ? 0 : rng() % 3];
    const int one = rng() % 8 == 0 ? int(rng() % uint32_t(E)) : -1;
    PermCase c = makePermCase(d, T, H, K, E, nSpecial, map, align, scale, 0.1, one, rng);
    if (rep % 10 == 5 && c.x.size() > 1) { c.x.put(0, NAN); c.x.put(1, -0.0f); }
    const PermOut ref = permuteRef(c);
    for (SimdPath p : paths()) for (int th : kThreads) {
      cpu::setSimdPath(p); cpu::setNumThreads(th);
      PermOut o;
      const Status st = runPermute(c, o);
      CHECK(st == Status::Ok, "permute status %d", int(st));
      CHECK(o.rows.raw == ref.rows.raw && o.slotToRow == ref.slotToRow && o.rowToToken == ref.rowToToken,
            "permute %s T=%lld H=%lld K=%lld E=%lld align=%lld scale=%g path=%s threads=%d", dn(d), (long long)T,
            (long long)H, (long long)K, (long long)E, (long long)align, scale, cpu::simdPathName(p), th);
      ++cases;
    }
  }
  // Outputs of >= 64 MiB take the streaming-store gather: odd H (rows not 64-byte aligned), padding, and
  // both scaled loops.
  for (const auto& [d, scale] : {std::pair{DType::BF16, 1.0}, std::pair{DType::F16, 0.1}, std::pair{DType::F32, 2.0}}) {
    PermCase c = makePermCase(d, 2300, 2049, 8, 128, 0, false, 16, scale, 0.0, -1, rng);
    const PermOut ref = permuteRef(c);
    for (SimdPath p : {SimdPath::Scalar, cpu::bestSimdPath()}) {
      cpu::setSimdPath(p); cpu::setNumThreads(2);
      PermOut o;
      CHECK(runPermute(c, o) == Status::Ok && o.rows.raw == ref.rows.raw && o.slotToRow == ref.slotToRow &&
            o.rowToToken == ref.rowToToken, "permute (streaming) %s scale=%g path=%s", dn(d), scale, cpu::simdPathName(p));
      ++cases;
    }
  }
  // Bad input is rejected before anything is written.
  PermCase c = makePermCase(DType::F32, 7, 5, 2, 8, 0, false, 1, 1.0, 0, -1, rng);
  c.ids[3] = 8;
  PermOut o;
  CHECK(runPermute(c, o) == Status::InvalidArgument && o.slotToRow[0] == 12345, "permute accepted an id out of range");
  c = makePermCase(DType::F32, 7, 5, 2, 8, 0, false, 1, 1.0, 0, -1, rng);
  c.offsets[1] = 0;  // segment 0 too small for its rows (offsets still add up)
  for (size_t s = 1; s < c.offsets.size(); ++s) c.offsets[s] = std::max(c.offsets[s], c.offsets[s - 1]);
  if (c.offsets[1] < c.offsets[2]) CHECK(runPermute(c, o) == Status::InvalidArgument, "permute accepted a short segment");
  std::printf("permute: %d runs checked (bitwise)\n", cases);
}

static void validateUnpermute(std::mt19937& rng) {
  int cases = 0;
  const int64_t Ts[] = {0, 1, 7, 255}, Hs[] = {1, 33, 2049}, Ks[] = {1, 2, 8}, Es[] = {1, 8, 128};
  double worst[3] = {0, 0, 0};
  for (int rep = 0; rep < 90; ++rep) {
    const DType yd = kFloat[rep % 3], od = kFloat[(rep / 3) % 3];
    const int64_t T = Ts[rng() % 4], H = Hs[rng() % 3], K = Ks[rng() % 3], E = Es[rng() % 3];
    const bool special = rng() % 2, sharedRes = rng() % 2, nanW = rep % 10 == 7;
    const UnpCase c = makeUnpCase(yd, od, T, H, K, E, special, sharedRes, nanW, rng);
    const std::vector<double> ref = unpermuteRef(c);
    Buf first;
    bool haveFirst = false;
    for (SimdPath p : paths()) for (int th : kThreads) {
      cpu::setSimdPath(p); cpu::setNumThreads(th);
      Buf o;
      const Status st = runUnpermute(c, o);
      CHECK(st == Status::Ok, "unpermute status %d", int(st));
      bool nanOk;
      const double err = relErr(o, ref, nanOk);
      const double tol = od == DType::F32 ? 1e-5 : 1e-2;
      worst[int(od)] = std::max(worst[int(od)], err);
      CHECK(err <= tol && nanOk, "unpermute y=%s out=%s T=%lld H=%lld K=%lld special=%d err=%.3g nan=%d path=%s threads=%d",
            dn(yd), dn(od), (long long)T, (long long)H, (long long)K, int(special), err, int(nanOk), cpu::simdPathName(p), th);
      if (!haveFirst) first = o, haveFirst = true;
      else CHECK(o.raw == first.raw, "unpermute not bitwise equal across paths/threads (path=%s threads=%d)", cpu::simdPathName(p), th);
      ++cases;
    }
  }
  UnpCase c = makeUnpCase(DType::F32, DType::F32, 7, 5, 2, 8, false, false, false, rng);
  c.slotToRow[1] = int32_t(c.R);
  Buf o;
  CHECK(runUnpermute(c, o) == Status::InvalidArgument, "unpermute accepted a row out of range");
  std::printf("unpermute: %d runs checked; worst norm-wise error f32 %.2e, bf16 %.2e, f16 %.2e; bitwise equal across paths and threads\n",
              cases, worst[0], worst[1], worst[2]);
}

static void validateStats(std::mt19937& rng) {
  int cases = 0;
  const int64_t Ts[] = {0, 1, 7, 255, 4097}, Ks[] = {1, 2, 8}, Es[] = {1, 8, 64, 128, 256};
  for (int rep = 0; rep < 60; ++rep) {
    const int64_t T = Ts[rng() % 5], E = Es[rng() % 5], K = std::min(Ks[rng() % 3], E);
    const std::vector<int32_t> ids = randomIds(T, K, E, 0.1, rep % 9 == 0 ? 0 : -1, rng);
    std::vector<float> scores(size_t(T * E)), logits(size_t(T * E));
    std::normal_distribution<float> nd(0, 2);
    std::uniform_real_distribution<float> u(0, 1);
    for (size_t i = 0; i < scores.size(); ++i) { logits[i] = nd(rng); scores[i] = rep % 5 == 0 && i % 7 == 0 ? 0.f : u(rng); }
    if (rep % 11 == 3 && !scores.empty()) { scores[0] = NAN; logits[0] = -INFINITY; }
    std::vector<uint8_t> mask(static_cast<size_t>(T));
    for (auto& m : mask) m = rng() % 4 != 0;
    RouterStatsArgs a{ids.data(), scores.data(), rep % 2 ? logits.data() : nullptr, rep % 3 ? mask.data() : nullptr,
                      T, K, E, rep % 4 == 1, nullptr, nullptr, nullptr};
    const StatsOut ref = statsRef(a);
    StatsOut first;
    for (int th : kThreads) {
      cpu::setNumThreads(th);
      StatsOut o;
      CHECK(runStats(a, o) == Status::Ok, "router_stats status");
      // Same sums in the same order with the same libm: bit for bit.
      const bool ok = o.counts == ref.counts && o.top1 == ref.top1 && o.tot.tokens == ref.tot.tokens &&
                      o.tot.selections == ref.tot.selections && std::memcmp(o.prob.data(), ref.prob.data(), o.prob.size() * 4) == 0 &&
                      std::memcmp(&o.tot.zSquareSum, &ref.tot.zSquareSum, 8) == 0 && std::memcmp(&o.tot.entropySum, &ref.tot.entropySum, 8) == 0;
      CHECK(ok, "router_stats T=%lld E=%lld K=%lld threads=%d", (long long)T, (long long)E, (long long)K, th);
      if (th == 1) first = o;
      else CHECK(std::memcmp(o.prob.data(), first.prob.data(), o.prob.size() * 4) == 0 && std::memcmp(&o.tot, &first.tot, sizeof o.tot) == 0, "router_stats differs across thread counts");
      ++cases;
    }
  }
  std::printf("router_stats: %d runs checked (bitwise equal to the one-pass reference)\n", cases);
}

// ---------------------------------------------------------------------------------------------------------
// Timing

// Best wall time of `reps` runs; g_cpu gets the process CPU time of that run (all threads). On a shared VM
// the wall time includes time the hypervisor gave to others: cpu / wall says how much of it we had.
static double g_cpu = 0;
static double cpuNow() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}
static double secondsOf(const std::function<void()>& f, int reps) {
  f();  // warm: page faults, pool start
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double c0 = cpuNow();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s < best) best = s, g_cpu = cpuNow() - c0;
  }
  return best;
}

// Copy bandwidth (bytes read + written per second) of a parallel memcpy of 512 MiB.
static double memcpyBandwidth(int reps) {
  const size_t n = size_t(512) << 20;
  std::vector<uint8_t> a(n, 1), b(n, 2);
  const double s = secondsOf([&] {
    cpu::parallelRanges(int64_t(n >> 20), 1, [&](int64_t m0, int64_t m1) {
      std::memcpy(b.data() + (m0 << 20), a.data() + (m0 << 20), size_t(m1 - m0) << 20);
    });
  }, reps);
  return 2.0 * double(n) / s;
}

static int64_t onlyH = 0, onlyT = 0;

static void bench(int reps, int threads) {
  cpu::setNumThreads(threads);
  const double bw = memcpyBandwidth(reps);
  std::printf("\nthreads %d, memcpy bandwidth (read + write) %.1f GB/s (cpu/wall %.2f); rates count bytes read + written\n",
              cpu::numThreads(), bw / 1e9, g_cpu / (2.0 * double(size_t(512) << 20) / bw));
  std::mt19937 rng(7);
  std::printf("%-10s %-5s %5s %5s %-6s %-22s %9s %9s %9s %9s\n", "op", "dtype", "T", "H", "path", "variant", "ms", "GB/s", "%memcpy", "cpu ms");
  for (int64_t H : {2048, 7168}) for (int64_t T : {32, 4096}) for (DType d : {DType::BF16, DType::F32}) {
    if ((onlyH && H != onlyH) || (onlyT && T != onlyT)) continue;
    const int64_t K = 8, E = 128;
    PermCase pc = makePermCase(d, T, H, K, E, 0, false, 1, 1.0, 0.0, -1, rng);
    const int64_t R = pc.offsets[size_t(E)];
    const double es = double(dtypeSize(d));
    for (double scale : {1.0, 2.0, 0.1}) {
      pc.scale = scale;
      for (SimdPath p : paths()) {
        if (scale == 1.0 && p != SimdPath::Scalar) continue;  // memcpy on every path
        cpu::setSimdPath(p);
        PermOut o;
        runPermute(pc, o);
        const double s = secondsOf([&] { runPermute(pc, o, false); }, reps);
        const double bytes = 2.0 * double(R) * double(H) * es + double(T * K) * 12;
        char v[32]; std::snprintf(v, sizeof v, "permute scale=%g", scale);
        std::printf("%-10s %-5s %5lld %5lld %-6s %-22s %9.3f %9.1f %8.0f%% %9.3f\n", "permute", dn(d), (long long)T, (long long)H,
                    scale == 1.0 ? "all" : cpu::simdPathName(p), v, s * 1e3, bytes / s / 1e9, 100 * bytes / s / bw, g_cpu * 1e3);
      }
    }
    // unpermute: y [R, H] -> out [T, H], same dtype; and with shared + residual.
    for (bool sr : {false, true}) {
      UnpCase uc = makeUnpCase(d, d, T, H, K, E, false, false, false, rng);
      if (sr) { uc.hasShared = uc.hasResidual = true; uc.shared = randomBuf(d, T * H, rng); uc.residual = randomBuf(d, T * H, rng); }
      for (SimdPath p : paths()) {
        cpu::setSimdPath(p);
        Buf o;
        runUnpermute(uc, o);
        const double s = secondsOf([&] { runUnpermute(uc, o, false); }, reps);
        const double bytes = (double(uc.R) + double(T) * (sr ? 3 : 1)) * double(H) * es + double(T * K) * 12;
        std::printf("%-10s %-5s %5lld %5lld %-6s %-22s %9.3f %9.1f %8.0f%% %9.3f\n", "unpermute", dn(d), (long long)T, (long long)H,
                    cpu::simdPathName(p), sr ? "+shared+residual" : "", s * 1e3, bytes / s / 1e9, 100 * bytes / s / bw, g_cpu * 1e3);
      }
    }
  }
  for (int64_t T : {32, 4096}) {
    const int64_t E = 128, K = 8;
    const std::vector<int32_t> ids = randomIds(T, K, E, 0, -1, rng);
    std::vector<float> scores(size_t(T * E), 1.0f / E), logits(size_t(T * E), 0.5f);
    RouterStatsArgs a{ids.data(), scores.data(), logits.data(), nullptr, T, K, E, false, nullptr, nullptr, nullptr};
    StatsOut o;
    const double s = secondsOf([&] { runStats(a, o); }, reps);
    std::printf("%-10s %-5s %5lld %5s %-6s %-22s %9.3f %9.1f %8s %10.3f\n", "rstats", "f32", (long long)T, "-", "scalar",
                "E=128 with logits", s * 1e3, double(T * E * 8 + T * K * 4) / s / 1e9, "-", g_cpu * 1e3);
  }
}

int main(int argc, char** argv) {
  bool validateOnly = false, skipValidate = false;
  int reps = 10, threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    if (s == "--validate") validateOnly = true;
    else if (s == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (s == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (s == "--H" && i + 1 < argc) onlyH = std::atoll(argv[++i]);
    else if (s == "--T" && i + 1 < argc) onlyT = std::atoll(argv[++i]);
    else if (s == "--bench") skipValidate = true;
  }
  std::printf("best SIMD path: %s, hardware threads: %d\n", cpu::simdPathName(cpu::bestSimdPath()), cpu::hardwareThreads());
  std::mt19937 rng(42);
  if (!skipValidate) {
    validatePermute(rng);
    validateUnpermute(rng);
    validateStats(rng);
    if (failures) { std::printf("%d FAILURES\n", failures); return 1; }
    std::printf("validation passed\n");
  }
  if (validateOnly) return 0;
  bench(reps, 1);
  if (threads != 1) bench(reps, threads);
  return 0;
}
