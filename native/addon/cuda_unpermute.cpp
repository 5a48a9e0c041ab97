// JS binding of unpermute on CUDA: cudaUnpermute(args) / cudaUnpermuteAsync(args)
// (lib/backends/cuda/unpermute.ts). Fields: tokens, hidden, kmax, rows, inputScale; y [rows, H] (yDtype),
// ids / weights / slotToRow [T, kmax]; zeroExperts?, copyExperts?, constantIds? (Int32Array lists, host),
// wc? [nConst, 2, H] f32, v? [nConst, H] f32, x? (xDtype), shared? (sharedDtype), residual?
// (residualDtype) [T, H]; output out [T, H] (outDtype).

#if defined(MOE_WITH_CUDA)

#include <vector>

#include "../cuda/unpermute.cuh"

#include "cuda_binding.h"

namespace {

using moe::DType;
using moe::addon::Args;
using namespace moe::addon::cuda;

constexpr int64_t kI32Max = 2147483647;

CudaWork prepareUnpermute(Args& a) {
  Staging st(a, 0);
  moe::cuda::UnpermuteParams p;
  const int64_t T = a.integer("tokens", 0, kI32Max), H = a.integer("hidden", 0, kI32Max);
  const int64_t K = a.integer("kmax", 0, kI32Max), R = a.integer("rows", 0, kI32Max);
  p.tokens = int32_t(T);
  p.hidden = int32_t(H);
  p.kmax = int32_t(K);
  p.rows = R;
  p.input_scale = a.has("inputScale") ? a.number("inputScale", -1e300, 1e300) : 1.0;
  p.y_dtype = a.floatDtype("yDtype");
  p.y = st.in("y", p.y_dtype, R * H);
  p.ids = static_cast<const int32_t*>(st.in("ids", DType::I32, T * K));
  p.weights = static_cast<const float*>(st.in("weights", DType::F32, T * K));
  p.slot_to_row = static_cast<const int32_t*>(st.in("slotToRow", DType::I32, T * K));

  // Special experts: one table of (id, kind) built here from the host lists.
  std::vector<int32_t> ids, kinds;
  // kind < 0: that kind for every entry; kind = 0: constant experts, entry i is constant i.
  auto list = [&](const char* field, int32_t kind) -> int64_t {
    if (!a.has(field)) return 0;
    const auto s = a.i32(field);
    for (int64_t i = 0; i < s.size; ++i) {
      if (s.data[i] < 0) a.rangeError(field, "must hold expert ids >= 0");
      ids.push_back(s.data[i]);
      kinds.push_back(kind < 0 ? kind : int32_t(i));
    }
    return s.size;
  };
  list("zeroExperts", moe::cuda::kUnpermuteZero);
  const int64_t n_copy = list("copyExperts", moe::cuda::kUnpermuteCopy);
  const int64_t n_const = list("constantIds", 0);
  p.n_special = int32_t(ids.size());
  p.n_constant = int32_t(n_const);
  if (p.n_special) {
    p.special_ids = static_cast<const int32_t*>(st.constant(ids.data(), ids.size() * sizeof(int32_t)));
    p.special_kind = static_cast<const int32_t*>(st.constant(kinds.data(), kinds.size() * sizeof(int32_t)));
  }
  if (n_const) {
    // n_const is a caller's list length, not an int32 size: its products are checked against wrapping.
    p.wc = static_cast<const float*>(st.in("wc", DType::F32, moe::addon::elementCount(a, "wc", 2 * n_const, H)));
    p.v = static_cast<const float*>(st.in("v", DType::F32, moe::addon::elementCount(a, "v", n_const, H)));
  }
  const bool needs_x = n_const > 0 || n_copy > 0;
  if (needs_x || a.has("x")) {
    p.x_dtype = a.floatDtype("xDtype");
    p.x = st.in("x", p.x_dtype, T * H);
  }
  if (a.has("shared")) {
    p.shared_dtype = a.floatDtype("sharedDtype");
    p.shared = st.in("shared", p.shared_dtype, T * H);
  }
  if (a.has("residual")) {
    p.residual_dtype = a.floatDtype("residualDtype");
    p.residual = st.in("residual", p.residual_dtype, T * H);
  }
  p.out_dtype = a.floatDtype("outDtype");
  p.out = st.out("out", p.out_dtype, T * H);
  if (!moe::cuda::unpermute_supported(p)) a.rangeError("kmax", "or the special-expert lists are too large for the CUDA kernel");
  return [st, p]() -> Result {
    return st.run([&](cudaStream_t s) { return moe::cuda::unpermute_launch(p, s); });
  };
}

}  // namespace

MOE_CUDA_OP("cudaUnpermute", "unpermute", prepareUnpermute);

#endif  // MOE_WITH_CUDA
