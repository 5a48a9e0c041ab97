// layer_forward on the CPU: the op kernels in the order of lib/layer.ts (see common/layer_forward.h). The
// only work of its own is the permute layout, which lib/ops/permute.ts computes in JS for the op-by-op
// path: rows per FFN expert with no alignment padding, as an exclusive prefix sum.

#include "../common/layer_forward.h"

#include <new>
#include <vector>

#include "../common/permute.h"

namespace moe::cpu {

namespace {

TensorView matrix(void* data, DType dtype, int64_t rows, int64_t cols) {
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.ndim = 2;
  v.shape[0] = rows;
  v.shape[1] = cols;
  return v;
}

}  // namespace

Status layerForward(LayerForwardArgs a) {
  const int64_t T = a.route.tokens, N = a.route.experts, K = a.route.kmax, E = a.experts, H = a.hidden;
  if (a.route.capacity || a.route.method == RouteMethod::External || a.rowCapacity < T * K) return Status::InvalidArgument;
  // The router and the shared expert are one group of all T rows.
  const int32_t whole[2] = {0, static_cast<int32_t>(T)};
  a.router.offsets = whole;
  Status s = groupedGemm(a.router);
  if (s != Status::Ok) return s;
  if ((s = route(a.route)) != Status::Ok) return s;

  // The layout: experts 0..E-1 are segments 0..E-1; the zero-computation experts (ids E..N-1) get no rows.
  std::vector<int32_t> segmentOf;
  try {
    segmentOf.resize(static_cast<size_t>(N));
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory;
  }
  for (int64_t i = 0; i < N; ++i) segmentOf[static_cast<size_t>(i)] = i < E ? static_cast<int32_t>(i) : -1;
  for (int64_t e = 0; e <= E; ++e) a.offsets[e] = 0;
  for (int64_t i = 0; i < T * K; ++i) {
    const int32_t id = a.route.ids[i];
    if (id >= 0 && id < E) ++a.offsets[id + 1];
  }
  for (int64_t e = 0; e < E; ++e) a.offsets[e + 1] += a.offsets[e];
  const int64_t R = a.offsets[E];

  PermuteArgs p{};
  p.x = a.x;
  p.dtype = a.xDtype;
  p.tokens = T;
  p.hidden = H;
  p.kmax = K;
  p.ids = a.route.ids;
  p.experts = E;
  p.totalExperts = N;
  p.segmentOf = segmentOf.data();
  p.offsets = a.offsets;
  p.rowCount = R;
  p.scale = a.inputScale;
  p.rows = a.rows;
  p.slotToRow = a.slotToRow;
  p.rowToToken = a.rowToToken;
  if ((s = permute(p)) != Status::Ok) return s;

  const int64_t I = a.w2.w.shape[2];
  a.w1.a = matrix(a.rows, a.xDtype, R, H);
  a.w1.offsets = a.offsets;
  a.w1.out = matrix(a.w1.out.data, a.xDtype, R, I);
  if ((s = groupedGemm(a.w1)) != Status::Ok) return s;
  a.w2.a = matrix(a.w1.out.data, a.xDtype, R, I);
  a.w2.offsets = a.offsets;
  a.w2.out = matrix(a.w2.out.data, a.xDtype, R, H);
  if ((s = groupedGemm(a.w2)) != Status::Ok) return s;

  if (a.sharedExpert) {
    a.sharedUp.offsets = whole;
    a.sharedDown.offsets = whole;
    if ((s = groupedGemm(a.sharedUp)) != Status::Ok) return s;
    if ((s = groupedGemm(a.sharedDown)) != Status::Ok) return s;
  }

  a.combine.y = a.w2.out.data;
  a.combine.yDtype = a.xDtype;
  a.combine.rows = R;
  a.combine.ids = a.route.ids;
  a.combine.weights = a.route.weights;
  a.combine.slotToRow = a.slotToRow;
  if ((s = unpermute(a.combine)) != Status::Ok) return s;
  return routerStats(a.stats, a.totals);
}

}  // namespace moe::cpu
