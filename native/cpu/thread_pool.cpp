// One persistent pool: workers sleep on a condition variable between jobs; a job is a task count and a
// function, tasks are claimed with an atomic counter, the caller works too and waits for the last task.

#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

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
thread_local bool t_inTask = false;

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  // Returns false when the pool is busy with another caller's job.
  bool run(int64_t tasks, int threads, const std::function<void(int64_t)>& fn) {
    std::unique_lock<std::mutex> owner(ownerMu_, std::try_to_lock);
    if (!owner.owns_lock()) return false;
    const int helpers = std::min<int64_t>(threads, tasks) - 1;
    ensureWorkers(helpers);
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &fn;
      tasks_ = tasks;
      next_.store(0);
      done_ = 0;
      joined_ = 0;
      active_ = helpers;
      ++generation_;
    }
    wake_.notify_all();
    const int64_t mine = work();
    std::unique_lock<std::mutex> lk(mu_);
    done_ += mine;
    finished_.wait(lk, [&] { return done_ == tasks_ && joined_ == active_; });
    joined_ = 0;
    fn_ = nullptr;
    return true;
  }

 private:
  int64_t work() {
    int64_t n = 0;
    t_inTask = true;
    for (int64_t t; (t = next_.fetch_add(1)) < tasks_; ++n) (*fn_)(t);
    t_inTask = false;
    return n;
  }

  // Called by the job's owner before it publishes the job: a new worker starts having "seen" every earlier
  // generation, so it joins exactly the jobs published after its creation.
  void ensureWorkers(int want) {
    while (static_cast<int>(workers_.size()) < want) {
      const int id = static_cast<int>(workers_.size());
      const uint64_t seen = generation_;
      workers_.emplace_back([this, id, seen] { loop(id, seen); });
    }
  }

  void loop(int id, uint64_t seen) {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      wake_.wait(lk, [&] { return stop_ || (generation_ != seen && id < active_); });
      if (stop_) return;
      seen = generation_;
      lk.unlock();
      const int64_t mine = work();
      lk.lock();
      done_ += mine;
      ++joined_;
      if (done_ == tasks_ && joined_ == active_) finished_.notify_all();
    }
  }

  std::mutex ownerMu_;  // one job at a time
  std::mutex mu_;
  std::condition_variable wake_, finished_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t tasks_ = 0;
  std::atomic<int64_t> next_{0};
  int64_t done_ = 0;
  int active_ = 0, joined_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
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
