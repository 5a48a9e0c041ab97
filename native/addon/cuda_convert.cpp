// JS binding of convert on CUDA: cudaConvert(args) / cudaConvertAsync(args) (lib/backends/cuda/convert.ts).
// Fields: n; x [n] (xDtype), out [n] (outDtype). Exactly in place is allowed when the element sizes match
// (the same DeviceTensor, or the same typed array).

#if defined(MOE_WITH_CUDA)

#include "../cuda/convert.cuh"

#include "cuda_binding.h"

namespace {

using moe::addon::Args;
using namespace moe::addon::cuda;

CudaWork prepareConvert(Args& a) {
  Staging st(a, 0);
  const int64_t n = a.integer("n", 0, int64_t(1) << 50);
  const moe::DType from = a.floatDtype("xDtype"), to = a.floatDtype("outDtype");
  const void* x = st.in("x", from, n);
  void* out = st.out("out", to, n);
  return [st, x, out, from, to, n]() -> Result {
    return st.run([&](cudaStream_t s) { return moe::cuda::convert_launch(x, from, out, to, n, s); });
  };
}

}  // namespace

MOE_CUDA_OP("cudaConvert", "convert", prepareConvert);

#endif  // MOE_WITH_CUDA
