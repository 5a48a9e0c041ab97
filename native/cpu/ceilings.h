// The machine's own ceilings, measured in the same process as the benchmarks (benchmarks/ceilings.ts), so
// every rate can be printed as a share of what this machine delivers now, noise included:
//   fmaPeak:   f32 multiply-adds per second on the SIMD path in effect (simdPath()), many independent chains
//              per thread so neither FMA latency nor the loop limits the rate;
//   readBandwidth: bytes per second summing a buffer far larger than the last-level cache.
// These are measurements, not kernels: they start their own threads (exactly `threads` of them, pinned to
// nothing) because the pool's dynamic hand-out cannot promise one task per thread.
#pragma once

#include <cstdint>

namespace moe::cpu {

struct FmaPeak {
  double gflops = 0;     // best repetition: total f32 FLOP (2 per FMA lane) / wall time
  double cpuGflops = 0;  // the same work over each thread's CPU time, summed: what the cores do when they run
  const char* path = "scalar";
};

// Runs for about `ms` milliseconds in all (at least 5 repetitions) on `threads` threads.
FmaPeak fmaPeak(int threads, double ms);

// Sums `bytes` (rounded down to 64-byte lines) of f32 split into `threads` contiguous parts, `reps` times;
// returns the best GB/s (1e9 bytes per second). The buffer is allocated and touched first.
double readBandwidth(int64_t bytes, int threads, int reps);

// One pass over a caller's buffer (a cache flush that also measures): GB/s of that pass.
double readOnce(const float* data, int64_t n, int threads);

}  // namespace moe::cpu
