// The thread pool (native/cpu/thread_pool.cpp) under ASan / UBSan: every task of every job runs exactly once,
// with three threads submitting jobs at once (one owns the pool, the others run serially), nested
// parallelFor inside tasks, task counts from 0 to 36, the thread count changed while jobs run, prewake()
// before some jobs and between them, and the spin budget at its default, at 0 (sleep at once) and at 3 us
// (racing the sleep path). The spin budget is read
// once per process, so ctest runs this executable once per MOE_SPIN_US value.

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "check.h"

using namespace moe;

int main() {
  std::atomic<long> wrong{0};
  auto submitter = [&](int seed) {
    for (int it = 0; it < 2000; ++it) {
      const int64_t tasks = (it * 7 + seed) % 37;
      if (it % 3 == seed % 3) cpu::prewake();  // wakes sleeping workers to spin, racing the jobs
      std::vector<std::atomic<int>> hits(static_cast<size_t>(tasks));
      for (auto& h : hits) h.store(0);
      cpu::parallelFor(tasks, [&](int64_t t) {
        hits[static_cast<size_t>(t)].fetch_add(1);
        if (t == 3 && it % 5 == 0) cpu::parallelFor(4, [](int64_t) {});  // nested: runs serially
      });
      for (auto& h : hits)
        if (h.load() != 1) wrong.fetch_add(1);
      if (seed == 3 && it % 400 == 0) cpu::setNumThreads(1 + (it / 400) % 4);
    }
  };
  std::thread a(submitter, 1), b(submitter, 2);
  submitter(3);
  a.join();
  b.join();
  CHECK_EQ(wrong.load(), 0L);

  // A prewake with the workers asleep (past any spin budget here), then a job after their spin ran out and
  // one while they spin.
  cpu::setNumThreads(2);
  for (int delayUs : {0, 5000}) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    cpu::prewake();
    std::this_thread::sleep_for(std::chrono::microseconds(delayUs));
    std::vector<std::atomic<int>> hits(16);
    for (auto& h : hits) h.store(0);
    cpu::parallelFor(16, [&](int64_t t) { hits[static_cast<size_t>(t)].fetch_add(1); });
    for (auto& h : hits) CHECK_EQ(h.load(), 1);
  }

  // parallelRanges covers [0, n) exactly once for odd sizes.
  cpu::setNumThreads(2);
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{255}, int64_t{4097}}) {
    std::vector<int> seen(static_cast<size_t>(n), 0);
    cpu::parallelRanges(n, 3, [&](int64_t b0, int64_t e0) {
      for (int64_t i = b0; i < e0; ++i) seen[static_cast<size_t>(i)]++;
    });
    bool once = true;
    for (int s : seen) once = once && s == 1;
    CHECK(once);
  }
  return test::finish("thread_pool");
}
