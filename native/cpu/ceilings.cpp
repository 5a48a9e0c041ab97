// The machine's ceilings (see ceilings.h): the scalar loops, the dispatch to the ISA loops and the threads.
// Wall time is what the benchmarks compare against, so a busy machine lowers the ceilings and the kernels'
// times alike; the CPU-time figure beside it says how much of the cores this process actually got.

#include "ceilings.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include <time.h>

#if defined(__linux__)
#include <pthread.h>
#endif

#include "ceilings_kernels.h"
#include "cpu_features.h"
#include "thread_pool.h"

namespace moe::cpu {

namespace {

constexpr int kScalarChains = 16;

// Baseline x86-64 has no FMA instruction: a * b + c is a multiply and an add, counted as 2 FLOP all the same.
float fmaScalar(int64_t iters) {
  float a[kScalarChains];
  for (int i = 0; i < kScalarChains; ++i) a[i] = float(i) * 1e-3f;
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kScalarChains; ++i) a[i] = a[i] * 0.999f + 1e-4f;
  float s = 0;
  for (float v : a) s += v;
  return s;
}

float sumScalar(const float* p, int64_t n) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t i = 0; i < n; i += 8)
    for (int j = 0; j < 8; ++j) s[j] += p[i + j];
  return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

CeilingLoops pick(SimdPath* used) {
#if defined(MOE_HAVE_X86)
  switch (simdPath()) {
    case SimdPath::Avx512: *used = SimdPath::Avx512; return ceilingLoopsAvx512();
    case SimdPath::Avx2: *used = SimdPath::Avx2; return ceilingLoopsAvx2();
    case SimdPath::Scalar: break;
  }
#endif
  *used = SimdPath::Scalar;
  return {fmaScalar, double(kScalarChains) * 2, sumScalar};
}

double wallNow() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double threadCpuNow() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct RepTimes {
  double wall = 0;
  std::vector<double> cpu;
};

// Thread t of a run runs on the t-th allowed CPU when there is one for each: new threads of this 2-vCPU VM
// otherwise often started queued on one vCPU (see thread_pool.cpp, keepWorkersOffCaller). Unpinned, a
// 2-thread read of 100 MB right after a cache flush measured 38 GB/s against 63 GB/s for 256 MB; the
// probes would understate the ceilings the kernels are judged against.
void pinSelf(const std::vector<int>& cpus, int t, int threads) {
#if defined(__linux__)
  if (threads < 2 || static_cast<int>(cpus.size()) < threads) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpus[size_t(t)], &one);
  pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
#else
  (void)cpus, (void)t, (void)threads;
#endif
}

// Runs body(t) on `threads` threads that start together; wall time from the release to the last finish.
template <typename Body>
RepTimes runTogether(int threads, Body body) {
  const std::vector<int> cpus = allowedCpus();
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<double> end(size_t(threads), 0), cpu(size_t(threads), 0);
  std::vector<std::thread> ts;
  ts.reserve(size_t(threads));
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      pinSelf(cpus, t, threads);
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const double c0 = threadCpuNow();
      body(t);
      cpu[size_t(t)] = threadCpuNow() - c0;
      end[size_t(t)] = wallNow();
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  const double start = wallNow();
  go.store(true, std::memory_order_release);
  for (auto& th : ts) th.join();
  return {*std::max_element(end.begin(), end.end()) - start, cpu};
}

}  // namespace

FmaPeak fmaPeak(int threads, double ms) {
  threads = std::max(1, threads);
  SimdPath path;
  const CeilingLoops loops = pick(&path);
  volatile float sink = 0;
  // Calibrate on one thread: about 2 ms of work, then size each of the 5+ repetitions to ms / 5.
  int64_t probe = 1000;
  double dt = 0;
  for (;;) {
    const double t0 = wallNow();
    sink = sink + loops.fma(probe);
    dt = wallNow() - t0;
    if (dt > 2e-3 || probe > (int64_t(1) << 40)) break;
    probe *= 4;
  }
  const int reps = 5;
  const double perRep = std::max(1e-3, ms * 1e-3 / reps);
  const int64_t iters = std::max<int64_t>(1000, int64_t(double(probe) * perRep / std::max(dt, 1e-9)));
  FmaPeak best;
  best.path = simdPathName(path);
  const double flops = double(iters) * loops.flopsPerIter;
  for (int r = 0; r < reps; ++r) {
    std::vector<float> out(size_t(threads), 0);
    const RepTimes t = runTogether(threads, [&](int i) { out[size_t(i)] = loops.fma(iters); });
    for (float v : out) sink = sink + v;
    best.gflops = std::max(best.gflops, flops * threads / t.wall / 1e9);
    double cpu = 0;
    for (double c : t.cpu) cpu += flops / std::max(c, 1e-9) / 1e9;
    best.cpuGflops = std::max(best.cpuGflops, cpu);
  }
  return best;
}

double readOnce(const float* data, int64_t n, int threads) {
  threads = std::max(1, threads);
  // Whole 256-float blocks from the first 64-byte boundary: the ISA loops use aligned loads and split
  // their range into four streams of whole cache lines.
  constexpr int64_t kBlock = 256;
  const auto addr = reinterpret_cast<uintptr_t>(data);
  const int64_t skip = int64_t(((64 - addr % 64) % 64) / sizeof(float));
  if (n - skip < kBlock * threads) return 0;
  const float* p = data + skip;
  const int64_t blocks = (n - skip) / kBlock, per = blocks / threads;
  SimdPath path;
  const CeilingLoops loops = pick(&path);
  std::vector<float> out(size_t(threads), 0);
  const RepTimes t = runTogether(threads, [&](int i) {
    const int64_t b = per * i, e = i + 1 == threads ? blocks : b + per;
    out[size_t(i)] = loops.sum(p + b * kBlock, (e - b) * kBlock);
  });
  volatile float sink = 0;
  for (float v : out) sink = sink + v;
  return double(blocks) * kBlock * sizeof(float) / t.wall / 1e9;
}

double readBandwidth(int64_t bytes, int threads, int reps) {
  threads = std::max(1, threads);
  const int64_t n = std::max<int64_t>(bytes / 1024, 1) * 256;  // floats, a multiple of 256
  auto* p = static_cast<float*>(std::aligned_alloc(64, size_t(n) * sizeof(float)));
  if (p == nullptr) return 0;
  // Touch every page first (in parallel: each thread's part lands on the memory near it).
  const int64_t per = n / threads;
  runTogether(threads, [&](int i) {
    const int64_t b = per * i, e = i + 1 == threads ? n : b + per;
    std::fill(p + b, p + e, 1.0f);
  });
  double best = 0;
  for (int r = 0; r < std::max(1, reps); ++r) best = std::max(best, readOnce(p, n, threads));
  std::free(p);
  return best;
}

}  // namespace moe::cpu
