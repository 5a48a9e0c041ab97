// route on every SIMD path and 1 and 2 threads. The oracle for the arithmetic is lib/reference/route.ts
// (the conformance suite compares them bit for bit); here the checks are the invariants every result must
// hold whatever the options, and that every path and thread count gives the same bits as the scalar path
// with 1 thread: ids in range and distinct within a row, -1 slots with weight 0, counts, plain top-k picks
// the k best scores in order (NaN first, ties to the lower id), softmax rows summing to 1, renormalised
// weights summing to the scale, capacity loads within the cap. Logits with ties, -inf and NaN rows, E
// around the vector widths, every method, groups, bias, zero gates, pruning, capacity with each policy,
// external ids; and arguments the kernel must refuse.

#include "common/route.h"

#include <algorithm>

#include "check.h"

using namespace moe;
using namespace moe::test;

namespace {

struct Case {
  RouteMethod method;
  int64_t tokens, experts;
  int32_t k, kmax;
  bool renormalize, bias, zeroGate, prune, capacity;
  int32_t groups, topkGroups;
  RouteDropPolicy policy;
  double scale, threshold;
};

struct Data {
  Buf<float> logits, bias, extWeights;
  Buf<uint8_t> zeroGate, protect, dropAll;
  Buf<int32_t> extIds;
};

struct Out {
  Buf<int32_t> ids, counts, selectedIds, keep, load, demand;
  Buf<float> weights, scores;
};

Data make(Rng& r, const Case& c) {
  const int64_t T = c.tokens, E = c.experts;
  Data d{Buf<float>(T * E), Buf<float>(E), Buf<float>(T * c.k), Buf<uint8_t>(E), Buf<uint8_t>(T), Buf<uint8_t>(T), Buf<int32_t>(T * c.k, -1)};
  for (int64_t t = 0; t < T; ++t) {
    const int64_t kind = r.below(40);
    for (int64_t e = 0; e < E; ++e) {
      float v = r.uniform(-3.f, 3.f);
      if (kind == 0) v = 0.5f;                              // a row of ties
      else if (kind == 1) v = e % 3 ? -INFINITY : v;        // masked experts
      else if (kind == 2 && e == E / 2) v = NAN;            // a NaN router row
      else if (kind == 3) v = -INFINITY;                     // everything masked
      else if (r.below(8) == 0 && e > 0) v = d.logits[t * E + e - 1];  // scattered ties
      d.logits[t * E + e] = v;
    }
    std::vector<int32_t> pool(static_cast<size_t>(E));
    for (int64_t e = 0; e < E; ++e) pool[static_cast<size_t>(e)] = static_cast<int32_t>(e);
    for (int64_t j = 0; j < c.k && j < E; ++j) {
      const int64_t p = j + r.below(E - j);
      std::swap(pool[static_cast<size_t>(j)], pool[static_cast<size_t>(p)]);
      d.extIds[t * c.k + j] = r.below(5) == 0 ? -1 : pool[static_cast<size_t>(j)];
      d.extWeights[t * c.k + j] = r.uniform(0.f, 1.f);
    }
    d.protect[t] = r.below(4) == 0;
    d.dropAll[t] = !d.protect[t] && r.below(6) == 0;
  }
  for (int64_t e = 0; e < E; ++e) {
    d.bias[e] = r.uniform(-0.1f, 0.1f);
    d.zeroGate[e] = r.below(5) == 0;
  }
  return d;
}

Out alloc(const Case& c) {
  const int64_t T = c.tokens, E = c.experts, K = c.kmax;
  return Out{Buf<int32_t>(T * K, 0x5a5a5a5a), Buf<int32_t>(T, 0x5a5a5a5a), Buf<int32_t>(T * K, 0x5a5a5a5a), Buf<int32_t>(T * K, 0x5a5a5a5a),
             Buf<int32_t>(E, 0x5a5a5a5a), Buf<int32_t>(E, 0x5a5a5a5a), Buf<float>(T * K, -7.f), Buf<float>(T * E, -7.f)};
}

RouteArgs args(const Case& c, const Data& d, Out& o) {
  RouteArgs a;
  a.method = c.method;
  a.tokens = c.tokens;
  a.experts = c.experts;
  a.k = c.k;
  a.kmax = c.kmax;
  a.renormalize = c.renormalize;
  a.scale = c.scale;
  a.threshold = c.threshold;
  a.groups = c.groups;
  a.topkGroups = c.topkGroups;
  a.groupTopN = c.groups > 1 ? 1 + static_cast<int32_t>(c.tokens % std::max<int64_t>(1, c.experts / c.groups)) : 1;
  if (c.method == RouteMethod::External) {
    a.externalIds = d.extIds.data();
    a.externalWeights = c.bias ? d.extWeights.data() : nullptr;
  } else {
    a.logits = d.logits.data();
    a.scores = o.scores.data();
    if (c.bias && c.method != RouteMethod::XmoeThreshold && c.method != RouteMethod::TopP) a.bias = d.bias.data();
    if (c.zeroGate) a.zeroGate = d.zeroGate.data();
    if (c.prune) {
      a.prune = true;
      a.pruneBeta = 0.3;
      a.pruneProtect = d.protect.data();
      a.pruneDropAll = d.dropAll.data();
    }
  }
  if (c.capacity) {
    a.capacity = true;
    a.dropPolicy = c.policy;
    a.cap = static_cast<int32_t>(std::max<int64_t>(1, c.tokens * c.kmax / c.experts / 2));
    a.renormalizeSurvivors = c.renormalize;
    a.selectedIds = o.selectedIds.data();
    a.keep = o.keep.data();
    a.load = o.load.data();
    a.demand = o.demand.data();
  }
  a.ids = o.ids.data();
  a.weights = o.weights.data();
  a.counts = o.counts.data();
  return a;
}

// "a ranks above b" for selection: NaN first, then larger, then the lower index.
bool above(float sa, int32_t a, float sb, int32_t b) {
  if (std::isnan(sa) != std::isnan(sb)) return std::isnan(sa);
  if (!std::isnan(sa) && sa != sb) return sa > sb;
  return a < b;
}

void invariants(const Case& c, const Data& d, const Out& o, const std::string& what) {
  const int64_t T = c.tokens, E = c.experts, K = c.kmax;
  const bool plainTopk = (c.method == RouteMethod::SoftmaxTopk || c.method == RouteMethod::SigmoidTopk || c.method == RouteMethod::TopkSoftmax) &&
                         !c.bias && !c.prune && !c.capacity && c.groups == 1;
  for (int64_t t = 0; t < T; ++t) {
    int32_t valid = 0;
    std::vector<bool> seen(static_cast<size_t>(E), false);
    for (int64_t j = 0; j < K; ++j) {
      const int32_t id = o.ids[t * K + j];
      if (!CHECK_MSG(id >= -1 && id < E, what + ": id out of range")) return;
      if (id < 0) {
        CHECK_MSG(o.weights[t * K + j] == 0.f, what + ": an empty slot with a weight");
        continue;
      }
      CHECK_MSG(!seen[static_cast<size_t>(id)], what + ": an expert twice in a row");
      seen[static_cast<size_t>(id)] = true;
      ++valid;
    }
    CHECK_MSG(o.counts[t] == valid, what + ": counts");
    if (c.method == RouteMethod::SoftmaxTopk || c.method == RouteMethod::XmoeThreshold || c.method == RouteMethod::TopP) {
      double s = 0;
      bool finite = true;
      for (int64_t e = 0; e < E; ++e) {
        s += o.scores[t * E + e];
        finite &= std::isfinite(d.logits[t * E + e]) || d.logits[t * E + e] == -INFINITY;
      }
      bool anyFinite = false;
      for (int64_t e = 0; e < E; ++e) anyFinite |= std::isfinite(d.logits[t * E + e]);
      if (finite && anyFinite) CHECK_MSG(std::fabs(s - 1) < 1e-5, what + ": softmax row sum " + std::to_string(s));
    }
    if (plainTopk) {
      // Selection scores: z for topk_softmax, else the scores output.
      auto sel = [&](int32_t e) { return c.method == RouteMethod::TopkSoftmax ? d.logits[t * E + e] : o.scores[t * E + e]; };
      for (int64_t j = 0; j + 1 < c.k; ++j) {
        const int32_t a = o.ids[t * K + j], b = o.ids[t * K + j + 1];
        if (a >= 0 && b >= 0) CHECK_MSG(above(sel(a), a, sel(b), b), what + ": picks out of order");
      }
      const int32_t last = o.ids[t * K + c.k - 1];
      for (int32_t e = 0; e < E && last >= 0 && !c.zeroGate; ++e) {
        if (!seen[static_cast<size_t>(e)]) CHECK_MSG(!above(sel(e), e, sel(last), last), what + ": a better expert was not picked");
      }
      if (c.renormalize && !c.zeroGate) {
        double w = 0;
        bool nan = false;
        for (int64_t j = 0; j < K; ++j) {
          w += o.weights[t * K + j];
          nan |= std::isnan(o.weights[t * K + j]);
        }
        if (!nan && w != 0) CHECK_MSG(std::fabs(w - c.scale) < 1e-5 * c.scale, what + ": renormalised weights sum " + std::to_string(w));
      }
    }
  }
  if (c.capacity) {
    std::vector<int32_t> load(static_cast<size_t>(E), 0), demand(static_cast<size_t>(E), 0);
    for (int64_t i = 0; i < T * K; ++i) {
      if (o.selectedIds[i] >= 0) ++demand[static_cast<size_t>(o.selectedIds[i])];
      if (o.keep[i]) {
        CHECK_MSG(o.ids[i] == o.selectedIds[i] && o.ids[i] >= 0, what + ": a kept slot changed id");
        ++load[static_cast<size_t>(o.ids[i])];
      } else {
        CHECK_MSG(o.ids[i] == -1, what + ": a dropped slot kept its id");
      }
    }
    const int32_t cap = static_cast<int32_t>(std::max<int64_t>(1, c.tokens * c.kmax / c.experts / 2));
    for (int64_t e = 0; e < E; ++e) {
      CHECK_MSG(load[static_cast<size_t>(e)] == o.load[e] && demand[static_cast<size_t>(e)] == o.demand[e], what + ": load / demand");
      CHECK_MSG(o.load[e] <= cap, what + ": load above the cap");
    }
  }
}

bool sameOut(const Out& a, const Out& b) {
  auto eq = [](const auto& x, const auto& y) { return x.n == y.n && sameBytes(x.data(), y.data(), static_cast<size_t>(x.n) * sizeof(x[0])); };
  return eq(a.ids, b.ids) && eq(a.counts, b.counts) && eq(a.weights, b.weights) && eq(a.scores, b.scores) &&
         eq(a.selectedIds, b.selectedIds) && eq(a.keep, b.keep) && eq(a.load, b.load) && eq(a.demand, b.demand);
}

void refused(Rng& r) {
  const Case base{RouteMethod::SoftmaxTopk, 6, 8, 2, 2, true, false, false, false, true, 1, 1, RouteDropPolicy::Position, 1.0, 0.0};
  auto expectRefused = [&](const char* what, Case c, auto breakIt) {
    Data d = make(r, c);
    Out o = alloc(c);
    RouteArgs a = args(c, d, o);
    breakIt(a, d);
    CHECK_MSG(cpu::route(a) == Status::InvalidArgument, what);
  };
  expectRefused("k = 0", base, [](RouteArgs& a, Data&) { a.k = 0; });
  expectRefused("k > experts", base, [](RouteArgs& a, Data&) { a.k = 9; a.kmax = 9; });
  expectRefused("kmax < k", base, [](RouteArgs& a, Data&) { a.kmax = 1; });
  expectRefused("topk_softmax without renormalize", base, [](RouteArgs& a, Data&) { a.method = RouteMethod::TopkSoftmax; a.renormalize = false; });
  expectRefused("groups not dividing experts", base, [](RouteArgs& a, Data&) { a.groups = 3; a.topkGroups = 1; });
  expectRefused("threshold 0", base, [](RouteArgs& a, Data&) { a.method = RouteMethod::TopP; a.threshold = 0; });
  expectRefused("negative cap", base, [](RouteArgs& a, Data&) { a.cap = -1; });
  expectRefused("unknown method", base, [](RouteArgs& a, Data&) { a.method = static_cast<RouteMethod>(9); });
  Case ext = base;
  ext.method = RouteMethod::External;
  expectRefused("external id = experts", ext, [](RouteArgs&, Data& d) { d.extIds[3] = 8; });
  expectRefused("external id = -2", ext, [](RouteArgs&, Data& d) { d.extIds[0] = -2; });
  expectRefused("external id = INT32_MAX", ext, [](RouteArgs&, Data& d) { d.extIds[11] = INT32_MAX; });
}

}  // namespace

int main() {
  Rng r(13);
  refused(r);
  std::vector<Case> cases;
  const RouteMethod methods[] = {RouteMethod::SoftmaxTopk, RouteMethod::TopkSoftmax, RouteMethod::SigmoidTopk,
                                 RouteMethod::XmoeThreshold, RouteMethod::TopP, RouteMethod::External};
  const RouteDropPolicy policies[] = {RouteDropPolicy::Position, RouteDropPolicy::Probs, RouteDropPolicy::RankThenPosition};
  int i = 0;
  for (RouteMethod m : methods) {
    const bool threshold = m == RouteMethod::XmoeThreshold || m == RouteMethod::TopP;
    for (int64_t E : {1, 7, 8, 16, 33, 64, 65, 256}) {
      for (int64_t T : {1, 7, 255}) {
        ++i;
        const int32_t k = threshold ? 0 : static_cast<int32_t>(1 + (i % std::min<int64_t>(E, 8)));
        const int32_t kmax = threshold ? static_cast<int32_t>(std::min<int64_t>(E, 1 + i % 6)) : k + (i % 3 == 0 && k < E ? 1 : 0);
        const bool grouped = (m == RouteMethod::SoftmaxTopk || m == RouteMethod::SigmoidTopk) && E % 4 == 0 && i % 2 == 0;
        const int32_t groups = grouped ? 4 : 1, topkGroups = grouped ? 2 : 1;
        const int32_t kk = grouped ? std::min<int32_t>(k, static_cast<int32_t>(topkGroups * E / groups)) : k;
        cases.push_back({m, T, E, m == RouteMethod::External ? std::max(kk, 1) : kk, std::max(kmax, std::max(kk, 1)),
                         m == RouteMethod::TopkSoftmax || i % 2 == 0, i % 3 == 1, !threshold && m != RouteMethod::External && i % 5 == 0,
                         m != RouteMethod::External && i % 4 == 1, i % 3 == 0, groups, topkGroups, policies[i % 3],
                         i % 4 == 0 ? 2.5 : 1.0, threshold ? (i % 2 ? 0.5 : 1.0) : 0.0});
      }
    }
  }
  cases.push_back({RouteMethod::SoftmaxTopk, 5000, 64, 6, 6, true, false, false, false, true, 1, 1, RouteDropPolicy::Probs, 1.0, 0.0});
  cases.push_back({RouteMethod::SigmoidTopk, 3000, 256, 8, 8, true, true, false, false, false, 8, 4, RouteDropPolicy::Position, 2.5, 0.0});
  std::vector<Data> data;
  for (const Case& c : cases) data.push_back(make(r, c));
  std::vector<Out> first;
  forEachConfig("route", [&](cpu::SimdPath, int) {
    for (size_t ci = 0; ci < cases.size(); ++ci) {
      const Case& c = cases[ci];
      Out o = alloc(c);
      const std::string what = "case " + std::to_string(ci) + " method " + std::to_string(static_cast<int>(c.method)) +
                               " T=" + std::to_string(c.tokens) + " E=" + std::to_string(c.experts) + " k=" + std::to_string(c.k);
      if (!CHECK_MSG(cpu::route(args(c, data[ci], o)) == Status::Ok, what)) continue;
      invariants(c, data[ci], o, what);
      if (first.size() <= ci) first.push_back(std::move(o));
      else CHECK_MSG(sameOut(o, first[ci]), what + ": bits differ from scalar / 1 thread");
    }
  });
  return finish("test_route");
}
