// JS binding of layer_forward (common/layer_forward.h): layerForward(args) -> undefined and
// layerForwardAsync(args) -> Promise<undefined>. lib/layer_native.ts is the only caller. One args object:
//   route's fields under route's names (route.cpp; no capacity, no external ids): method, tokens, experts
//     (N, every expert), k, kmax, ..., logits, scores, ids, weights, counts;
//   the router GEMM: x [tokens, hidden] (xDtype), router Float32Array [N, hidden], routerBias? [N];
//   the experts: ffnExperts (E), intermediate (I), inputScale, activation, gluLayout, w1 [E, n1, hidden]
//     (w1Dtype; n1 = 2I for swiglu / geglu, else I), b1? Float32Array [E, n1], w2 [E, hidden, I] (w2Dtype),
//     b2? [E, hidden];
//   the shared expert (sharedIntermediate present): sharedW1 [n1s, hidden], sharedW2 [hidden, sI] (their
//     dtype fields), scratch sharedAct [tokens, sI] and shared [tokens, hidden];
//   scratch: rows [tokens · kmax, hidden], act [tokens · kmax, I], y [tokens · kmax, hidden] (xDtype),
//     slotToRow Int32Array [tokens, kmax], rowToToken [tokens · kmax], offsets [E + 1];
//   the combine: zeroExperts, copyExperts, constantIds Int32Array, wc? [nConst, 2, hidden], v? [nConst,
//     hidden], residual? [tokens, hidden] (residualDtype), out [tokens, hidden] (xDtype);
//   router_stats: normalizeScores, statCounts / statTop1Counts Int32Array [N], statProbSum Float32Array [N],
//     statTotals Uint8Array (4 f64: tokens, selections, zSquareSum, entropySum).
// Every array the call writes overlaps no other array, except that out may be exactly residual's memory.

#include <cfloat>
#include <string>

#include "layer_forward_args.h"
#include "route_args.h"
#include "router_stats_args.h"
#include "unpermute_args.h"

namespace {

using moe::addon::Args;
using moe::addon::elementCount;

constexpr int64_t kMaxDim = 2147483647;

moe::TensorView shaped(moe::TensorView v, std::initializer_list<int64_t> shape) {
  v.ndim = 0;
  for (int64_t d : shape) v.shape[v.ndim++] = d;
  return v;
}

moe::GroupedGemmArgs gemm(Args& a, const char* w, const char* wDtype, int64_t experts, int64_t n, int64_t k) {
  moe::GroupedGemmArgs g{};
  g.w = shaped(a.tensor(w, a.floatDtype(wDtype), elementCount(a, w, elementCount(a, w, experts, n), k)), {experts, n, k});
  g.experts = experts;
  g.act = moe::Activation::None;
  g.glu = moe::GluLayout::Halves;
  return g;
}

}  // namespace

namespace moe::addon {

LayerForwardRead readLayerForward(Args& a) {
  if (a.has("cap")) a.rangeError("cap", "capacity is not covered: run the layer op by op");
  if (a.has("extIds")) a.rangeError("extIds", "external routing is not covered: run the layer op by op");
  moe::LayerForwardArgs f{};
  f.route = moe::addon::readRouteArgs(a);
  if (f.route.method == moe::RouteMethod::External) a.rangeError("method", "'external' is not covered: run the layer op by op");
  const int64_t T = f.route.tokens, N = f.route.experts, K = f.route.kmax;
  const int64_t H = a.integer("hidden", 0, kMaxDim), E = a.integer("ffnExperts", 1, N);
  const int64_t I = a.integer("intermediate", 0, kMaxDim);
  const int64_t slots = elementCount(a, "slotToRow", T, K), tokenRows = elementCount(a, "out", T, H);

  // The router GEMM: x -> logits, one group.
  f.xDtype = a.floatDtype("xDtype");
  const moe::TensorView x = shaped(a.tensor("x", f.xDtype, tokenRows), {T, H});
  f.x = x.data;
  f.router = gemm(a, "router", "routerDtype", 1, N, H);
  if (f.router.w.dtype != moe::DType::F32) a.rangeError("routerDtype", "must be 'f32'");
  f.router.a = x;
  f.router.bias = a.has("routerBias") ? a.f32("routerBias", N).data : nullptr;
  f.router.out = shaped(moe::TensorView{const_cast<float*>(f.route.logits), moe::DType::F32, 0, {}}, {T, N});
  f.hidden = H;
  f.experts = E;
  f.inputScale = a.number("inputScale", -DBL_MAX, DBL_MAX);

  // The expert FFN. a, out's shape and offsets depend on the routing: layerForward sets them.
  const int act = a.oneOf("activation", {"none", "relu", "gelu", "gelu_tanh", "silu", "swiglu", "geglu", "tanh", "sigmoid"});
  const auto glu = static_cast<moe::GluLayout>(a.oneOf("gluLayout", {"halves", "interleaved"}));
  const bool isGlu = act == int(moe::Activation::Swiglu) || act == int(moe::Activation::Geglu);
  const int64_t n1 = isGlu ? 2 * I : I;
  f.rowCapacity = slots;
  f.w1 = gemm(a, "w1", "w1Dtype", E, n1, H);
  f.w1.act = static_cast<moe::Activation>(act);
  f.w1.glu = glu;
  f.w1.bias = a.has("b1") ? a.f32("b1", elementCount(a, "b1", E, n1)).data : nullptr;
  f.w1.out.data = a.tensor("act", f.xDtype, elementCount(a, "act", slots, I)).data;
  f.w2 = gemm(a, "w2", "w2Dtype", E, H, I);
  f.w2.bias = a.has("b2") ? a.f32("b2", elementCount(a, "b2", E, H)).data : nullptr;
  f.w2.out.data = a.tensor("y", f.xDtype, elementCount(a, "y", slots, H)).data;
  f.rows = a.tensor("rows", f.xDtype, elementCount(a, "rows", slots, H)).data;
  f.slotToRow = a.i32("slotToRow", slots).data;
  f.rowToToken = a.i32("rowToToken", slots).data;
  f.offsets = a.i32("offsets", E + 1).data;

  f.sharedExpert = a.has("sharedIntermediate");
  if (f.sharedExpert) {
    const int64_t sI = a.integer("sharedIntermediate", 1, kMaxDim);
    f.sharedUp = gemm(a, "sharedW1", "sharedW1Dtype", 1, isGlu ? 2 * sI : sI, H);
    f.sharedUp.act = static_cast<moe::Activation>(act);
    f.sharedUp.glu = glu;
    f.sharedUp.a = x;
    f.sharedUp.out = shaped(a.tensor("sharedAct", f.xDtype, elementCount(a, "sharedAct", T, sI)), {T, sI});
    f.sharedDown = gemm(a, "sharedW2", "sharedW2Dtype", 1, H, sI);
    f.sharedDown.a = f.sharedUp.out;
    f.sharedDown.out = shaped(a.tensor("shared", f.xDtype, tokenRows), {T, H});
  }

  moe::UnpermuteArgs& c = f.combine;
  c.tokens = T;
  c.hidden = H;
  c.kmax = K;
  moe::addon::readExpertLists(a, c);
  if (c.nCopy + c.nConst > 0) {
    c.x = x.data;
    c.xDtype = f.xDtype;
    c.inputScale = f.inputScale;
  }
  if (f.sharedExpert) {
    c.shared = f.sharedDown.out.data;
    c.sharedDtype = f.xDtype;
  }
  if (a.has("residual")) {
    c.residualDtype = a.floatDtype("residualDtype");
    c.residual = a.tensor("residual", c.residualDtype, tokenRows).data;
  }
  c.outDtype = f.xDtype;
  c.out = a.tensor("out", f.xDtype, tokenRows).data;

  moe::RouterStatsArgs& st = f.stats;
  st.ids = f.route.ids;
  st.scores = f.route.scores;
  st.logits = f.route.logits;
  st.tokens = T;
  st.kmax = K;
  st.experts = N;
  st.normalizeScores = a.boolean("normalizeScores");
  st.counts = a.i32("statCounts", N).data;
  st.top1Counts = a.i32("statTop1Counts", N).data;
  st.probSum = a.f32("statProbSum", N).data;
  uint8_t* totals = a.u8("statTotals", 32).data;
  checkLayerOutputs(a);
  return {f, totals};
}

void checkLayerOutputs(const Args& a) {
  // Every array the call writes overlaps nothing else; out may be exactly residual (an in-place add).
  a.outputsDisjoint({"logits", "scores", "ids", "weights", "counts", "rows", "slotToRow", "rowToToken", "offsets", "act", "y",
                     "sharedAct", "shared", "out", "statCounts", "statTop1Counts", "statProbSum", "statTotals"},
                    "out", "residual");
}

Work layerForwardWork(moe::LayerForwardArgs f, uint8_t* totals) {
  return [f, totals]() mutable {
    moe::RouterStatsTotals t;
    f.totals = &t;
    const moe::Status s = moe::cpu::layerForward(f);
    if (s == moe::Status::Ok) storeTotals(totals, t);
    return s;
  };
}

}  // namespace moe::addon

namespace {

moe::addon::Work prepareLayerForward(Args& a) {
  const moe::addon::LayerForwardRead r = moe::addon::readLayerForward(a);
  return moe::addon::layerForwardWork(r.f, r.totals);
}

}  // namespace

MOE_OP("layerForward", "layer_forward", prepareLayerForward);
