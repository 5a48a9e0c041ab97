// The CPU backend's thread count. For now only the setting: the pool that splits a kernel's row range
// across workers arrives with the CPU kernels, and will read numThreads() when it starts a job.
#pragma once

namespace moe::cpu {

// Threads this process may run on: the CPU affinity mask where the OS has one (a container limited with
// --cpuset-cpus sees its own share), else std::thread::hardware_concurrency(), and at least 1.
int hardwareThreads();

// Process-wide, like the pool it will size: worker_threads share one pool rather than oversubscribe.
int numThreads();

// n >= 1 sets the count; n == 0 goes back to hardwareThreads(). The binding checks the range.
void setNumThreads(int n);

constexpr int kMaxThreads = 1024;

}  // namespace moe::cpu
