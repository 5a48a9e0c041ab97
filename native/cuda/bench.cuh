// Timing support for the GPU check: a kernel that keeps the stream busy for a while, so the host can
// enqueue many timed launches behind it and the GPU then runs them back to back (no host gaps inside the
// event pairs, however slow the JS loop that enqueued them). Plain C++ for the bindings.
#pragma once

#include <cuda_runtime_api.h>

namespace moe::cuda {

// Enqueue a single-thread kernel that spins for `microseconds` of GPU time (%globaltimer).
cudaError_t bench_spin_launch(double microseconds, cudaStream_t stream);

}  // namespace moe::cuda
