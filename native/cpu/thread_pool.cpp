#include "thread_pool.h"

#include <atomic>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

namespace moe::cpu {

int hardwareThreads() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();  // 0 when unknown
  return n > 0 ? static_cast<int>(n) : 1;
}

namespace {
std::atomic<int> g_requested{0};  // 0: the default, resolved on read
}  // namespace

int numThreads() {
  const int n = g_requested.load(std::memory_order_relaxed);
  return n > 0 ? n : hardwareThreads();
}

void setNumThreads(int n) { g_requested.store(n > 0 ? n : 0, std::memory_order_relaxed); }

}  // namespace moe::cpu
