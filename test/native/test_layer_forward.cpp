// layer_forward on every SIMD path and 1 and 2 threads: bitwise the same as its steps run one by one here
// (router GEMM, route, the layout counted here, permute, W1, W2, the shared expert, unpermute,
// router_stats), on exact-size buffers (ASan sees one element past any of them, the scratch of T · kmax
// rows included): f32 and bf16, with and without the shared expert and copy / zero experts, T = 0, 1, 7,
// 33; and the arguments it must refuse (capacity, external routing, too little scratch).

#include "common/layer_forward.h"

#include "common/permute.h"
#include "check.h"

using namespace moe;
using namespace moe::test;

namespace {

struct Case {
  int64_t T, H, I, E, specials, K;
  DType dt;
  bool shared;
};

struct Data {
  Buf<uint8_t> x, w1, w2, sw1, sw2;
  Buf<float> router;
};

struct Outs {
  Buf<float> logits, scores, weights, probSum;
  Buf<int32_t> ids, counts, slotToRow, rowToToken, offsets, statCounts, top1;
  Buf<uint8_t> rows, act, y, sAct, shared, out;
  RouterStatsTotals totals;
  Outs(const Case& c) {
    const int64_t N = c.E + c.specials, es = static_cast<int64_t>(dtypeSize(c.dt)), S = c.T * c.K;
    logits = Buf<float>(c.T * N, 7.f);
    scores = Buf<float>(c.T * N, 7.f);
    weights = Buf<float>(S, 7.f);
    probSum = Buf<float>(N, 7.f);
    ids = Buf<int32_t>(S, 99);
    counts = Buf<int32_t>(c.T, 99);
    slotToRow = Buf<int32_t>(S, 99);
    rowToToken = Buf<int32_t>(S, 99);
    offsets = Buf<int32_t>(c.E + 1, 99);
    statCounts = Buf<int32_t>(N, 99);
    top1 = Buf<int32_t>(N, 99);
    rows = Buf<uint8_t>(S * c.H * es, 0xa5);
    act = Buf<uint8_t>(S * c.I * es, 0xa5);
    y = Buf<uint8_t>(S * c.H * es, 0xa5);
    sAct = Buf<uint8_t>(c.T * c.I * es, 0xa5);
    shared = Buf<uint8_t>(c.T * c.H * es, 0xa5);
    out = Buf<uint8_t>(c.T * c.H * es, 0xa5);
  }
};

// The args of one forward over `o`, as native/addon/layer_forward.cpp builds them (copy and zero experts:
// the first special id copies, the rest are zero experts).
LayerForwardArgs args(const Case& c, const Data& d, Outs& o, Buf<int32_t>& copy, Buf<int32_t>& zero) {
  const int64_t N = c.E + c.specials;
  LayerForwardArgs f{};
  f.router.a = view(d.x.data(), c.dt, {c.T, c.H});
  f.router.w = view(d.router.data(), DType::F32, {1, N, c.H});
  f.router.experts = 1;
  f.router.out = view(o.logits.data(), DType::F32, {c.T, N});
  f.route.method = RouteMethod::SoftmaxTopk;
  f.route.tokens = c.T;
  f.route.experts = N;
  f.route.k = static_cast<int32_t>(c.K);
  f.route.kmax = static_cast<int32_t>(c.K);
  f.route.renormalize = true;
  f.route.logits = o.logits.data();
  f.route.ids = o.ids.data();
  f.route.weights = o.weights.data();
  f.route.counts = o.counts.data();
  f.route.scores = o.scores.data();
  f.x = d.x.data();
  f.xDtype = c.dt;
  f.hidden = c.H;
  f.experts = c.E;
  f.inputScale = 1.5;
  f.rowCapacity = c.T * c.K;
  f.rows = o.rows.data();
  f.slotToRow = o.slotToRow.data();
  f.rowToToken = o.rowToToken.data();
  f.offsets = o.offsets.data();
  f.w1.w = view(d.w1.data(), c.dt, {c.E, 2 * c.I, c.H});
  f.w1.experts = c.E;
  f.w1.act = Activation::Swiglu;
  f.w1.out.data = o.act.data();
  f.w2.w = view(d.w2.data(), c.dt, {c.E, c.H, c.I});
  f.w2.experts = c.E;
  f.w2.out.data = o.y.data();
  f.sharedExpert = c.shared;
  if (c.shared) {
    f.sharedUp.a = f.router.a;
    f.sharedUp.w = view(d.sw1.data(), c.dt, {1, 2 * c.I, c.H});
    f.sharedUp.experts = 1;
    f.sharedUp.act = Activation::Swiglu;
    f.sharedUp.out = view(o.sAct.data(), c.dt, {c.T, c.I});
    f.sharedDown.a = f.sharedUp.out;
    f.sharedDown.w = view(d.sw2.data(), c.dt, {1, c.H, c.I});
    f.sharedDown.experts = 1;
    f.sharedDown.out = view(o.shared.data(), c.dt, {c.T, c.H});
  }
  UnpermuteArgs& u = f.combine;
  u.tokens = c.T;
  u.hidden = c.H;
  u.kmax = c.K;
  u.copyExperts = copy.data();
  u.nCopy = copy.n;
  u.zeroExperts = zero.data();
  u.nZero = zero.n;
  u.x = d.x.data();
  u.xDtype = c.dt;
  u.inputScale = 1.5;
  if (c.shared) {
    u.shared = o.shared.data();
    u.sharedDtype = c.dt;
  }
  u.out = o.out.data();
  u.outDtype = c.dt;
  f.stats.ids = o.ids.data();
  f.stats.scores = o.scores.data();
  f.stats.logits = o.logits.data();
  f.stats.tokens = c.T;
  f.stats.kmax = c.K;
  f.stats.experts = N;
  f.stats.counts = o.statCounts.data();
  f.stats.top1Counts = o.top1.data();
  f.stats.probSum = o.probSum.data();
  f.totals = &o.totals;
  return f;
}

// The same forward, one step at a time, with the layout counted here.
Status stepByStep(const Case& c, LayerForwardArgs f, Outs& o) {
  const int32_t whole[2] = {0, static_cast<int32_t>(c.T)};
  const int64_t N = c.E + c.specials, S = c.T * c.K;
  f.router.offsets = whole;
  if (cpu::groupedGemm(f.router) != Status::Ok || cpu::route(f.route) != Status::Ok) return Status::Internal;
  std::vector<int32_t> seg(static_cast<size_t>(N), -1);
  for (int64_t e = 0; e < c.E; ++e) seg[static_cast<size_t>(e)] = static_cast<int32_t>(e);
  std::vector<int32_t> count(static_cast<size_t>(c.E), 0);
  for (int64_t i = 0; i < S; ++i)
    if (o.ids[i] >= 0 && o.ids[i] < c.E) ++count[static_cast<size_t>(o.ids[i])];
  o.offsets[0] = 0;
  for (int64_t e = 0; e < c.E; ++e) o.offsets[e + 1] = o.offsets[e] + count[static_cast<size_t>(e)];
  const int64_t R = o.offsets[c.E];
  PermuteArgs p{f.x, c.dt, c.T, c.H, c.K, o.ids.data(), c.E, N, seg.data(), o.offsets.data(), R, 1.5,
                o.rows.data(), o.slotToRow.data(), o.rowToToken.data()};
  if (cpu::permute(p) != Status::Ok) return Status::Internal;
  f.w1.a = view(o.rows.data(), c.dt, {R, c.H});
  f.w1.offsets = o.offsets.data();
  f.w1.out = view(o.act.data(), c.dt, {R, c.I});
  f.w2.a = f.w1.out;
  f.w2.offsets = o.offsets.data();
  f.w2.out = view(o.y.data(), c.dt, {R, c.H});
  if (cpu::groupedGemm(f.w1) != Status::Ok || cpu::groupedGemm(f.w2) != Status::Ok) return Status::Internal;
  if (c.shared) {
    f.sharedUp.offsets = whole;
    f.sharedDown.offsets = whole;
    if (cpu::groupedGemm(f.sharedUp) != Status::Ok || cpu::groupedGemm(f.sharedDown) != Status::Ok) return Status::Internal;
  }
  f.combine.y = o.y.data();
  f.combine.yDtype = c.dt;
  f.combine.rows = R;
  f.combine.ids = o.ids.data();
  f.combine.weights = o.weights.data();
  f.combine.slotToRow = o.slotToRow.data();
  if (cpu::unpermute(f.combine) != Status::Ok) return Status::Internal;
  return cpu::routerStats(f.stats, f.totals);
}

template <typename T>
bool same(const Buf<T>& a, const Buf<T>& b) {
  return a.n == b.n && sameBytes(a.data(), b.data(), static_cast<size_t>(a.n) * sizeof(T));
}

}  // namespace

int main() {
  Rng r(5);
  std::vector<Case> cases;
  for (DType dt : {DType::F32, DType::BF16})
    for (int64_t T : {0, 1, 7, 33}) {
      cases.push_back({T, 37, 24, 8, 0, 3, dt, false});
      cases.push_back({T, 40, 16, 6, 3, 2, dt, true});
    }
  std::vector<Data> data;
  for (const Case& c : cases) {
    const int64_t N = c.E + c.specials;
    Data d;
    d.x = randomFloats(r, c.dt, c.T * c.H);
    d.w1 = randomFloats(r, c.dt, c.E * 2 * c.I * c.H);
    d.w2 = randomFloats(r, c.dt, c.E * c.H * c.I);
    d.sw1 = randomFloats(r, c.dt, 2 * c.I * c.H);
    d.sw2 = randomFloats(r, c.dt, c.H * c.I);
    d.router = Buf<float>(N * c.H);
    for (int64_t i = 0; i < N * c.H; ++i) d.router[i] = r.uniform(-1.f, 1.f);
    data.push_back(std::move(d));
  }
  forEachConfig("layer_forward", [&](cpu::SimdPath, int) {
    for (size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      Buf<int32_t> copy(c.specials > 0 ? 1 : 0, static_cast<int32_t>(c.E)), zero(c.specials > 1 ? c.specials - 1 : 0);
      for (int64_t j = 0; j < zero.n; ++j) zero[j] = static_cast<int32_t>(c.E + 1 + j);
      Outs got(c), want(c);
      const std::string what = "case " + std::to_string(i) + " T=" + std::to_string(c.T) + " " + dtypeName(c.dt);
      CHECK_MSG(cpu::layerForward(args(c, data[i], got, copy, zero)) == Status::Ok, what);
      CHECK_MSG(stepByStep(c, args(c, data[i], want, copy, zero), want) == Status::Ok, what);
      CHECK_MSG(same(got.logits, want.logits) && same(got.scores, want.scores) && same(got.ids, want.ids) &&
                    same(got.weights, want.weights) && same(got.counts, want.counts), what + ": routing");
      CHECK_MSG(same(got.out, want.out), what + ": out");
      CHECK_MSG(same(got.statCounts, want.statCounts) && same(got.top1, want.top1) && same(got.probSum, want.probSum) &&
                    got.totals.tokens == want.totals.tokens && got.totals.selections == want.totals.selections &&
                    bitsOf(float(got.totals.entropySum)) == bitsOf(float(want.totals.entropySum)),
                what + ": stats");
      // Every slot of the forward's outputs written (the 0xa5 / 7 / 99 fills are gone where a value must be).
      for (int64_t s = 0; s < c.T * c.K; ++s) CHECK_MSG(got.ids[s] != 99 && got.slotToRow[s] != 99, what);
    }
  });

  // Refused before anything is written.
  {
    const Case c{3, 8, 4, 4, 0, 2, DType::F32, false};
    Data d;
    d.x = randomFloats(r, c.dt, c.T * c.H);
    d.w1 = randomFloats(r, c.dt, c.E * 2 * c.I * c.H);
    d.w2 = randomFloats(r, c.dt, c.E * c.H * c.I);
    d.router = Buf<float>(c.E * c.H, 0.5f);
    Buf<int32_t> none(0);
    Outs o(c);
    LayerForwardArgs f = args(c, d, o, none, none);
    f.route.capacity = true;
    CHECK(cpu::layerForward(f) == Status::InvalidArgument);
    f = args(c, d, o, none, none);
    f.route.method = RouteMethod::External;
    CHECK(cpu::layerForward(f) == Status::InvalidArgument);
    f = args(c, d, o, none, none);
    f.rowCapacity = c.T * c.K - 1;
    CHECK(cpu::layerForward(f) == Status::InvalidArgument);
    CHECK(o.logits[0] == 7.f && o.out[0] == 0xa5);
  }
  return finish("layer_forward");
}
