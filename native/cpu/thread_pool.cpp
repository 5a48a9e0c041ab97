// One persistent pool: a job is a task count and a function, tasks are claimed with an atomic counter, the
// caller works too and waits for the last task. Between jobs, workers spin briefly, then sleep on a
// condition variable (see spinNanos).

#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace moe::cpu {

std::vector<int> allowedCpus() {
  std::vector<int> cpus;
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
#endif
  return cpus;
}

int hardwareThreads() {
  const std::vector<int> cpus = allowedCpus();
  if (!cpus.empty()) return static_cast<int>(cpus.size());
  const unsigned n = std::thread::hardware_concurrency();  // 0 when unknown
  return n > 0 ? static_cast<int>(n) : 1;
}

namespace {

std::atomic<int> g_requested{0};  // 0: the default, resolved on read
thread_local bool t_inTask = false;

// How long a worker waits for the next job, and a caller for its job's last task, by spinning before it
// sleeps on a condition variable. Waking a sleeping thread costs a futex wake and, in a VM, an IPI: measured
// on the 2-vCPU CI machine, a forward of a tiny Qwen3-shaped layer (7 op calls, ~190 us on one thread) took
// 447 us on two threads with sleep-only waits, because each op paid two wake-ups (worker start, caller
// finish). A layer's ops come back to back, so a short spin keeps both threads hot between them. The spin
// is bounded, so an idle process stops using CPU after this long. MOE_SPIN_US overrides it (0: never spin).
int64_t spinNanos() {
  static const int64_t ns = [] {
    const char* e = std::getenv("MOE_SPIN_US");
    if (e && *e) {
      char* end = nullptr;
      const long long us = std::strtoll(e, &end, 10);
      if (end && *end == '\0' && us >= 0 && us <= 1000000) return static_cast<int64_t>(us) * 1000;
    }
    return int64_t{200} * 1000;
  }();
  return ns;
}

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until done() or the budget runs out; true when done() became true.
template <class Done>
bool spinUntil(Done done) {
  const int64_t budget = spinNanos();
  if (budget <= 0) return done();
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpuRelax();
    }
    if (std::chrono::steady_clock::now() - start > std::chrono::nanoseconds(budget)) return done();
  }
}

// A job is published as one word, generation << 16 | helpers, so a worker reads which job it is and whether
// it takes part in one atomic load (kMaxThreads < 2^16).
constexpr uint64_t jobWord(uint64_t generation, int helpers) { return generation << 16 | static_cast<uint64_t>(helpers); }
constexpr uint64_t generationOf(uint64_t job) { return job >> 16; }
constexpr int helpersOf(uint64_t job) { return static_cast<int>(job & 0xffff); }

class Pool {
 public:
  ~Pool() {
    stop_.store(true);
    { std::lock_guard<std::mutex> lk(mu_); }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  // Wakes sleeping workers to spin for the next job (see thread_pool.h): a woken worker takes ~0.1 ms to
  // run in these VMs, which the first job of an op call otherwise waits for. With a 450 MiB read before each
  // call (longer than the spin), 2 threads, Zen 5 VM: a tiny grouped_gemm (2 experts x 64 rows x 768) took
  // 190-242 against 247-286 us (medians of 40, 3 processes each, alternated); in a Qwen3 bf16 T=1 forward
  // (140 interleaved pairs, medians) its first parallel job, the router GEMM, took 50 against 104 us, the
  // forward 1801 against 1823 us (the caller pays the wake's syscall). MOE_PREWAKE=off turns it off.
  void prewake() {
    if (sleeping_.load(std::memory_order_relaxed) == 0) return;
    warm_.fetch_add(1, std::memory_order_relaxed);
    { std::lock_guard<std::mutex> lk(mu_); }
    wake_.notify_all();
  }

  // Returns false when the pool is busy with another caller's job.
  bool run(int64_t tasks, int threads, const std::function<void(int64_t)>& fn) {
    std::unique_lock<std::mutex> owner(ownerMu_, std::try_to_lock);
    if (!owner.owns_lock()) return false;
    const int helpers = static_cast<int>(std::min<int64_t>(threads, tasks)) - 1;
    ensureWorkers(helpers);
    keepWorkersOffCaller();
    // The job's fields are written before the job word is stored (seq_cst): a worker that loads the new
    // word sees them. No worker touches them between jobs: every helper of the previous job has joined.
    fn_ = &fn;
    tasks_ = tasks;
    next_.store(0, std::memory_order_relaxed);
    joined_.store(0, std::memory_order_relaxed);
    const uint64_t job = jobWord(generationOf(job_.load(std::memory_order_relaxed)) + 1, helpers);
    job_.store(job);
    // Taking the mutex between the store and the notify closes the window in which a worker has checked its
    // wait predicate (old job) but is not yet waiting: it would miss a notify sent without the lock.
    { std::lock_guard<std::mutex> lk(mu_); }
    wake_.notify_all();
    work();
    auto allJoined = [&] { return joined_.load(std::memory_order_acquire) == helpers; };
    if (!spinUntil(allJoined)) {
      std::unique_lock<std::mutex> lk(mu_);
      finished_.wait(lk, allJoined);
    }
    fn_ = nullptr;
    return true;
  }

 private:
  void work() {
    t_inTask = true;
    for (int64_t t; (t = next_.fetch_add(1, std::memory_order_relaxed)) < tasks_;) (*fn_)(t);
    t_inTask = false;
  }

  // Keeps the workers off the CPU the caller runs on, while the caller's CPUs leave one for each worker.
  // Why: on the 2-vCPU VMs this project runs on (a Firecracker guest kernel with a sched_vcpu_pack knob),
  // a woken worker was often queued on the caller's busy CPU rather than the idle one, and ran only when the
  // scheduler preempted the caller, milliseconds later: after a 450 MiB cache flush by other threads, a
  // Qwen3 bf16 W2 decode call (8 of 128 experts, 1 row each) took 1.96-2.13 ms on 2 threads against
  // 1.74-2.14 ms on 1, and 1.21 ms with this mask; in a C++ model of the pool (48 tasks of 40 us), 4 of 10 jobs started their worker 1.4-5.3 ms late on
  // the caller's CPU, and none did with this mask. It is set again only when the caller's CPU changes (a
  // syscall per worker). MOE_CPU_AFFINITY=off leaves the workers' masks alone.
  void keepWorkersOffCaller() {
#if defined(__linux__)
    static const bool off = [] {
      const char* e = std::getenv("MOE_CPU_AFFINITY");
      return e && std::string(e) == "off";
    }();
    if (off || workers_.empty()) return;
    const int cpu = sched_getcpu();
    if (cpu < 0 || cpu == callerCpu_) return;
    callerCpu_ = cpu;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return;
    // Too few CPUs to give every worker one apart from the caller's: the whole mask, as before.
    if (CPU_ISSET(cpu, &set) && CPU_COUNT(&set) - 1 >= static_cast<int>(workers_.size())) CPU_CLR(cpu, &set);
    for (auto& t : workers_) pthread_setaffinity_np(t.native_handle(), sizeof(set), &set);
#endif
  }

  // Called by the job's owner before it publishes the job: a new worker starts having "seen" every earlier
  // generation, so it joins exactly the jobs published after its creation.
  void ensureWorkers(int want) {
    while (static_cast<int>(workers_.size()) < want) {
      const int id = static_cast<int>(workers_.size());
      const uint64_t seen = generationOf(job_.load(std::memory_order_relaxed));
      workers_.emplace_back([this, id, seen] { loop(id, seen); });
      callerCpu_ = -1;  // the new worker gets its mask in keepWorkersOffCaller
    }
  }

  void loop(int id, uint64_t seen) {
    for (;;) {
      uint64_t job = 0;
      // A job for this worker: a newer generation with more than `id` helpers. Jobs it does not take part
      // in are skipped (marked seen), so it never works on a job twice or on one it was not counted in.
      auto ready = [&] {
        if (stop_.load(std::memory_order_relaxed)) return true;
        job = job_.load(std::memory_order_acquire);
        if (generationOf(job) == seen) return false;
        if (id < helpersOf(job)) return true;
        seen = generationOf(job);
        return false;
      };
      if (!spinUntil(ready)) {
        std::unique_lock<std::mutex> lk(mu_);
        const uint64_t warm = warm_.load(std::memory_order_relaxed);
        bool jobReady = false;
        sleeping_.fetch_add(1, std::memory_order_relaxed);
        wake_.wait(lk, [&] { return (jobReady = ready()) || warm_.load(std::memory_order_relaxed) != warm; });
        sleeping_.fetch_sub(1, std::memory_order_relaxed);
        if (!jobReady) continue;  // prewake(): spin for the job that is coming
      }
      if (stop_.load()) return;
      seen = generationOf(job);
      work();
      if (joined_.fetch_add(1, std::memory_order_acq_rel) + 1 == helpersOf(job)) {
        // The caller may be asleep: notify under the mutex (see run()).
        { std::lock_guard<std::mutex> lk(mu_); }
        finished_.notify_all();
      }
    }
  }

  std::mutex ownerMu_;  // one job at a time
  std::mutex mu_;       // only for the condition variables' sleeps
  std::condition_variable wake_, finished_;
  std::vector<std::thread> workers_;
  int callerCpu_ = -1;  // the caller's CPU when the workers' masks were last set (keepWorkersOffCaller)
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t tasks_ = 0;
  alignas(64) std::atomic<int64_t> next_{0};
  alignas(64) std::atomic<int> joined_{0};
  alignas(64) std::atomic<uint64_t> job_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> sleeping_{0};    // workers waiting on wake_
  std::atomic<uint64_t> warm_{0};   // bumped by prewake()
};

Pool& pool() {
  // Leaked on purpose: joining threads from a static destructor at process exit can deadlock when the
  // process exits from inside a worker-thread environment.
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

int numThreads() {
  const int n = g_requested.load(std::memory_order_relaxed);
  return n > 0 ? n : hardwareThreads();
}

void setNumThreads(int n) { g_requested.store(n > 0 ? n : 0, std::memory_order_relaxed); }

void parallelFor(int64_t tasks, const std::function<void(int64_t)>& fn) {
  if (tasks <= 0) return;
  const int threads = numThreads();
  if (tasks == 1 || threads <= 1 || t_inTask || !pool().run(tasks, threads, fn)) {
    const bool outer = t_inTask;
    t_inTask = true;
    for (int64_t t = 0; t < tasks; ++t) fn(t);
    t_inTask = outer;
  }
}

void prewake() {
  static const bool off = [] {
    const char* e = std::getenv("MOE_PREWAKE");
    return e && std::string(e) == "off";
  }();
  if (!off && numThreads() > 1) pool().prewake();
}

void parallelRanges(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn, int64_t maxTasks) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(maxTasks, n / grain));
  const int64_t base = n / tasks, extra = n % tasks;
  parallelFor(tasks, [&](int64_t t) {
    const int64_t begin = t * base + std::min(t, extra);
    fn(begin, begin + base + (t < extra ? 1 : 0));
  });
}

}  // namespace moe::cpu
