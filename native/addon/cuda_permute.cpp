// JS binding of permute on CUDA: cudaPermute(args) / cudaPermuteAsync(args) (lib/backends/cuda/permute.ts).
// Fields: tokens, hidden, kmax, experts, totalExperts, align, scale, rowsCapacity; x [T, H] (xDtype), ids
// [T, kmax] i32, segmentOf [totalExperts] i32 (global id -> segment or -1); outputs rows [rowsCapacity, H]
// (xDtype), offsets [experts + 1], slotToRow [T, kmax], rowToToken [rowsCapacity], tokensPerExpert
// [experts], overflow? [1] (set to 1 when the routing needs more rows than rowsCapacity). Host callers pass
// the exact row count; device callers may pass permute_rows_bound(...) and read offsets[experts] later.

#if defined(MOE_WITH_CUDA)

#include "../cuda/permute.cuh"

#include "cuda_binding.h"

namespace {

using moe::DType;
using moe::addon::Args;
using namespace moe::addon::cuda;

constexpr int64_t kI32Max = 2147483647;

CudaWork preparePermute(Args& a) {
  Staging st(a, 0);
  moe::cuda::PermuteParams p;
  const int64_t T = a.integer("tokens", 0, kI32Max);
  const int64_t H = a.integer("hidden", 0, kI32Max);
  const int64_t K = a.integer("kmax", 0, kI32Max);
  const int64_t E = a.integer("experts", 1, kI32Max);
  const int64_t total = a.integer("totalExperts", E, kI32Max);
  const int64_t align = a.integer("align", 1, 1 << 16);
  const int64_t cap = a.integer("rowsCapacity", 0, kI32Max);
  p.sort.tokens = int32_t(T);
  p.sort.kmax = int32_t(K);
  p.sort.segments = int32_t(E);
  p.sort.total_experts = int32_t(total);
  p.sort.align = int32_t(align);
  p.sort.rows_capacity = cap;
  p.hidden = int32_t(H);
  p.dtype = a.floatDtype("xDtype");
  p.scale = a.has("scale") ? a.number("scale", -1e300, 1e300) : 1.0;
  p.x = st.in("x", p.dtype, T * H);
  p.sort.ids = static_cast<const int32_t*>(st.in("ids", DType::I32, T * K));
  p.sort.segment_of = static_cast<const int32_t*>(st.in("segmentOf", DType::I32, total));
  if (const auto* h = static_cast<const int32_t*>(st.hostData("segmentOf"))) {
    for (int64_t i = 0; i < total; ++i) {
      if (h[i] < -1 || h[i] >= E) a.rangeError("segmentOf", "must hold segments in [-1, experts)");
    }
  }
  p.rows = st.out("rows", p.dtype, cap * H);
  p.sort.offsets = static_cast<int32_t*>(st.out("offsets", DType::I32, E + 1));
  p.sort.slot_to_row = static_cast<int32_t*>(st.out("slotToRow", DType::I32, T * K));
  p.sort.row_to_token = static_cast<int32_t*>(st.out("rowToToken", DType::I32, cap));
  p.sort.tokens_per_segment = static_cast<int32_t*>(st.out("tokensPerExpert", DType::I32, E));
  if (a.has("overflow")) p.sort.overflow = static_cast<int32_t*>(st.out("overflow", DType::I32, 1));
  const size_t ws_bytes = moe::cuda::permute_workspace_bytes(p);
  void* ws = st.scratch(ws_bytes);
  return [st, p, ws, ws_bytes]() -> Result {
    return st.run([&](cudaStream_t s) { return moe::cuda::permute_launch(p, ws, ws_bytes, s); });
  };
}

}  // namespace

MOE_CUDA_OP("cudaPermute", "permute", preparePermute);

#endif  // MOE_WITH_CUDA
