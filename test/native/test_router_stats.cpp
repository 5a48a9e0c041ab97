// router_stats on every SIMD path and 1 and 2 threads: counts exact, sums within 1e-12 of a one-pass f64
// reference and bitwise equal across thread counts and paths (chunks depend on the sizes only); masks,
// normalised scores, logits with -inf rows, NaN scores, sizes the chunking splits; out-of-range ids refused
// with nothing written.

#include "common/router_stats.h"

#include <algorithm>

#include "check.h"

using namespace moe;
using namespace moe::test;

namespace {

struct Case {
  int64_t tokens, kmax, experts;
  bool logits, mask, normalize;
};

struct Data {
  Buf<int32_t> ids;
  Buf<float> scores, logits;
  Buf<uint8_t> mask;
};

struct Result {
  std::vector<int32_t> counts, top1;
  std::vector<float> probSum;
  RouterStatsTotals totals;
};

Data make(Rng& r, const Case& c) {
  Data d{Buf<int32_t>(c.tokens * c.kmax, -1), Buf<float>(c.tokens * c.experts), Buf<float>(c.tokens * c.experts), Buf<uint8_t>(c.tokens)};
  for (int64_t t = 0; t < c.tokens; ++t) {
    for (int64_t j = 0; j < c.kmax; ++j) d.ids[t * c.kmax + j] = r.below(6) == 0 ? -1 : static_cast<int32_t>(r.below(c.experts));
    for (int64_t e = 0; e < c.experts; ++e) {
      d.scores[t * c.experts + e] = r.uniform(0.f, 1.f);
      d.logits[t * c.experts + e] = r.below(50) == 0 ? -INFINITY : r.uniform(-4.f, 4.f);
    }
    d.mask[t] = r.below(5) != 0;
  }
  if (c.tokens > 3) d.scores[3 * c.experts] = NAN;  // a NaN router row (masked or not, it must not crash)
  return d;
}

RouterStatsArgs args(const Case& c, const Data& d, Result& o) {
  o.counts.assign(static_cast<size_t>(c.experts), 0x5a5a5a5a);
  o.top1.assign(static_cast<size_t>(c.experts), 0x5a5a5a5a);
  o.probSum.assign(static_cast<size_t>(c.experts), -1.f);
  RouterStatsArgs a{};
  a.ids = d.ids.data();
  a.scores = d.scores.data();
  a.logits = c.logits ? d.logits.data() : nullptr;
  a.tokenMask = c.mask ? d.mask.data() : nullptr;
  a.tokens = c.tokens;
  a.kmax = c.kmax;
  a.experts = c.experts;
  a.normalizeScores = c.normalize;
  a.counts = o.counts.data();
  a.top1Counts = o.top1.data();
  a.probSum = o.probSum.data();
  return a;
}

Result reference(const Case& c, const Data& d) {
  Result o;
  o.counts.assign(static_cast<size_t>(c.experts), 0);
  o.top1.assign(static_cast<size_t>(c.experts), 0);
  std::vector<double> sum(static_cast<size_t>(c.experts), 0.0);
  for (int64_t t = 0; t < c.tokens; ++t) {
    if (c.mask && !d.mask[t]) continue;
    ++o.totals.tokens;
    for (int64_t j = 0; j < c.kmax; ++j) {
      const int32_t id = d.ids[t * c.kmax + j];
      if (id < 0) continue;
      ++o.counts[static_cast<size_t>(id)];
      ++o.totals.selections;
      if (j == 0) ++o.top1[static_cast<size_t>(id)];
    }
    double rowSum = 0;
    for (int64_t e = 0; e < c.experts; ++e) rowSum += d.scores[t * c.experts + e];
    double ent = 0;
    for (int64_t e = 0; e < c.experts; ++e) {
      const double p = c.normalize ? d.scores[t * c.experts + e] / (rowSum + 1e-20) : d.scores[t * c.experts + e];
      sum[static_cast<size_t>(e)] += p;
      if (p != 0) ent -= p * std::log(p);
    }
    o.totals.entropySum += ent;
    if (c.logits) {
      double m = -INFINITY;
      for (int64_t e = 0; e < c.experts; ++e) m = std::max(m, static_cast<double>(d.logits[t * c.experts + e]));
      double s = 0;
      for (int64_t e = 0; e < c.experts; ++e) s += std::exp(d.logits[t * c.experts + e] - m);
      const double lse = m + std::log(s);
      o.totals.zSquareSum += lse * lse;
    }
  }
  for (int64_t e = 0; e < c.experts; ++e) o.probSum.push_back(static_cast<float>(sum[static_cast<size_t>(e)]));
  return o;
}

bool close(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || a == b || std::fabs(a - b) <= 1e-12 * std::max(1.0, std::fabs(b));
}

}  // namespace

int main() {
  Rng r(5);
  {
    // An id out of range: InvalidArgument, nothing written.
    const Case c{10, 2, 4, false, false, false};
    Data d = make(r, c);
    d.ids[5] = 4;
    Result o;
    RouterStatsTotals totals;
    CHECK(cpu::routerStats(args(c, d, o), &totals) == Status::InvalidArgument);
    CHECK(std::all_of(o.counts.begin(), o.counts.end(), [](int32_t v) { return v == 0x5a5a5a5a; }));
    d.ids[5] = -2;
    CHECK(cpu::routerStats(args(c, d, o), &totals) == Status::InvalidArgument);
    d.ids[5] = INT32_MIN;
    CHECK(cpu::routerStats(args(c, d, o), &totals) == Status::InvalidArgument);
  }
  std::vector<Case> cases = {{0, 2, 3, true, true, true}, {1, 1, 1, true, false, false}, {7, 2, 5, true, true, false},
                             {255, 4, 16, false, true, true}, {4097, 8, 64, true, false, true}, {60000, 2, 9, true, true, false},
                             {33, 0, 7, true, true, true}};
  std::vector<Data> data;
  for (const Case& c : cases) data.push_back(make(r, c));
  std::vector<Result> first(cases.size());
  bool haveFirst = false;
  forEachConfig("router_stats", [&](cpu::SimdPath, int) {
    for (size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      Result o;
      CHECK(cpu::routerStats(args(c, data[i], o), &o.totals) == Status::Ok);
      const Result want = reference(c, data[i]);
      const std::string what = "case " + std::to_string(i);
      CHECK_MSG(o.counts == want.counts && o.top1 == want.top1, what + ": counts");
      CHECK_MSG(o.totals.tokens == want.totals.tokens && o.totals.selections == want.totals.selections, what + ": totals");
      for (size_t e = 0; e < o.probSum.size(); ++e) {
        // f32 results of f64 sums taken in another order: equal, or one f32 rounding apart.
        CHECK_MSG(close(o.probSum[e], want.probSum[e]) || std::fabs(o.probSum[e] - want.probSum[e]) <= 1e-6 * std::fabs(want.probSum[e]), what + ": probSum");
      }
      CHECK_MSG(close(o.totals.entropySum, want.totals.entropySum), what + ": entropySum " + std::to_string(o.totals.entropySum) + " vs " + std::to_string(want.totals.entropySum));
      CHECK_MSG(close(o.totals.zSquareSum, want.totals.zSquareSum), what + ": zSquareSum");
      if (!haveFirst) {
        first[i] = o;
      } else {
        const Result& f = first[i];
        CHECK_MSG(sameBytes(o.probSum.data(), f.probSum.data(), o.probSum.size() * 4) &&
                      std::memcmp(&o.totals.entropySum, &f.totals.entropySum, 8) == 0 &&
                      std::memcmp(&o.totals.zSquareSum, &f.totals.zSquareSum, 8) == 0,
                  what + ": sums differ bitwise from scalar / 1 thread");
      }
    }
    haveFirst = true;
  });
  return finish("test_router_stats");
}
