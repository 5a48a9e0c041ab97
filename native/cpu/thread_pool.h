// The CPU backend's one thread pool. Kernels never start threads: they describe their work as `tasks`
// independent pieces (row ranges, usually) and call parallelFor. Results must not depend on which thread
// runs a task, so every output is bitwise the same for every thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace moe::cpu {

// Threads this process may run on: the CPU affinity mask where the OS has one (a container limited with
// --cpuset-cpus sees its own share), else std::thread::hardware_concurrency(), and at least 1.
int hardwareThreads();

// The CPUs the calling thread may run on, in order (empty where the OS does not say: not Linux).
std::vector<int> allowedCpus();

// Process-wide, like the pool: worker_threads share one pool rather than oversubscribe.
int numThreads();

// n >= 1 sets the count; n == 0 goes back to hardwareThreads(). The binding checks the range.
void setNumThreads(int n);

constexpr int kMaxThreads = 1024;

// Run fn(task) for every task in [0, tasks), on up to numThreads() threads (the caller is one of them).
// Tasks are handed out dynamically; fn must write disjoint outputs. Calls made from inside a task, or while
// another caller holds the pool (an async op on a libuv thread and a sync op on the JS thread), run their
// tasks serially on the calling thread: no deadlock, no oversubscription.
void parallelFor(int64_t tasks, const std::function<void(int64_t task)>& fn);

// Wakes the workers that sleep between jobs, so that they spin (spinNanos in thread_pool.cpp) waiting for
// the next one: a caller about to run parallel work calls it first (the op bindings, on entry), and the
// wake-up overlaps the caller's own work (reading its arguments). No effect when no worker sleeps.
void prewake();

// Split [0, n) into at most `maxTasks` contiguous ranges of at least `grain` items and run
// fn(begin, end) for each range through parallelFor. The split depends only on n, grain and maxTasks.
void parallelRanges(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn,
                    int64_t maxTasks = 256);

}  // namespace moe::cpu
