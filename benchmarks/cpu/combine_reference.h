// The plain-loop references of combine_bench.cpp (permute, unpermute, router_stats), ports of lib/reference
// with f64 sums, and the dtype-tagged tensors they read and write. Part of that one harness (nothing else
// includes it).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "common/permute.h"
#include "common/router_stats.h"
#include "common/unpermute.h"
#include "cpu/half.h"

using namespace moe;

// ---------------------------------------------------------------------------------------------------------
// Tensors in one of the float dtypes, stored as raw bytes; get / put convert exactly as lib/dtype.ts.

static float bitsF(uint32_t b) { float f; std::memcpy(&f, &b, 4); return f; }
static uint32_t fBits(float f) { uint32_t b; std::memcpy(&b, &f, 4); return b; }

struct Buf {
  DType d = DType::F32;
  std::vector<uint8_t> raw;
  Buf() = default;
  Buf(DType dt, int64_t n) : d(dt), raw(size_t(n) * dtypeSize(dt)) {}
  int64_t size() const { return int64_t(raw.size() / dtypeSize(d)); }
  void* data() { return raw.data(); }
  const void* data() const { return raw.data(); }
  float get(int64_t i) const {
    if (d == DType::F32) { float f; std::memcpy(&f, raw.data() + i * 4, 4); return f; }
    uint16_t h; std::memcpy(&h, raw.data() + i * 2, 2);
    return bitsF(d == DType::BF16 ? cpu::bf16ToF32(h) : cpu::f16ToF32(h));
  }
  void put(int64_t i, float v) {
    if (d == DType::F32) { std::memcpy(raw.data() + i * 4, &v, 4); return; }
    const uint16_t h = d == DType::BF16 ? cpu::f32ToBf16(fBits(v)) : cpu::f32ToF16(fBits(v));
    std::memcpy(raw.data() + i * 2, &h, 2);
  }
};

static Buf randomBuf(DType d, int64_t n, std::mt19937& rng, float sd = 1.0f) {
  Buf b(d, n);
  std::normal_distribution<float> nd(0.f, sd);
  for (int64_t i = 0; i < n; ++i) b.put(i, nd(rng));
  return b;
}

static const DType kFloat[] = {DType::F32, DType::BF16, DType::F16};
static const char* dn(DType d) { return dtypeName(d); }

// Ids [T, K]: distinct ids per token from [0, nIds), some slots -1 (pEmpty), or every token on id `one`.
static std::vector<int32_t> randomIds(int64_t T, int64_t K, int64_t nIds, double pEmpty, int one, std::mt19937& rng) {
  std::vector<int32_t> ids(static_cast<size_t>(T * K), -1), perm(static_cast<size_t>(nIds));
  std::uniform_real_distribution<double> u(0, 1);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t e = 0; e < nIds; ++e) perm[size_t(e)] = int32_t(e);
    for (int64_t j = 0; j < K && j < nIds; ++j) {
      std::swap(perm[size_t(j)], perm[size_t(j + int64_t(rng() % uint32_t(nIds - j)))]);
      if (u(rng) >= pEmpty) ids[size_t(t * K + j)] = perm[size_t(j)];
    }
    if (one >= 0) {
      for (int64_t j = 0; j < K; ++j) ids[size_t(t * K + j)] = -1;
      ids[size_t(t * K)] = one;
    }
  }
  return ids;
}

// ---------------------------------------------------------------------------------------------------------
// permute: the layout (lib/ops/permute.ts permuteLayout) and the reference.

struct PermCase {
  DType d; int64_t T, H, K, E, Eall; int64_t align; double scale;
  std::vector<int32_t> ids, segOf, offsets;
  Buf x;
};

static PermCase makePermCase(DType d, int64_t T, int64_t H, int64_t K, int64_t E, int64_t nSpecial, bool map,
                             int64_t align, double scale, double pEmpty, int one, std::mt19937& rng) {
  PermCase c{d, T, H, K, E, E + nSpecial, align, scale, {}, {}, {}, randomBuf(d, T * H, rng)};
  c.ids = randomIds(T, std::min(K, c.Eall), c.Eall, pEmpty, one, rng);
  c.K = std::min(K, c.Eall);
  c.segOf.assign(size_t(c.Eall), -1);
  for (int64_t e = 0; e < E; ++e) c.segOf[size_t(e)] = int32_t(map ? (e * 5 + 3) % E : e);
  if (map && E > 1) c.segOf[0] = -1;  // another rank's expert
  std::vector<int64_t> n(size_t(E), 0);
  for (int32_t id : c.ids) if (id >= 0 && c.segOf[size_t(id)] >= 0) ++n[size_t(c.segOf[size_t(id)])];
  c.offsets.assign(size_t(E + 1), 0);
  for (int64_t s = 0; s < E; ++s) c.offsets[size_t(s + 1)] = int32_t(c.offsets[size_t(s)] + (n[size_t(s)] + align - 1) / align * align);
  return c;
}

struct PermOut { Buf rows; std::vector<int32_t> slotToRow, rowToToken; };

static PermOut permuteRef(const PermCase& c) {
  const int64_t R = c.offsets[size_t(c.E)];
  PermOut o{Buf(c.d, R * c.H), std::vector<int32_t>(size_t(c.T * c.K), -1), std::vector<int32_t>(size_t(R), -1)};
  std::vector<int32_t> next(c.offsets.begin(), c.offsets.end() - 1);
  for (int64_t j = 0; j < c.K; ++j)
    for (int64_t t = 0; t < c.T; ++t) {
      const int32_t id = c.ids[size_t(t * c.K + j)];
      if (id < 0 || c.segOf[size_t(id)] < 0) continue;
      const int32_t r = next[size_t(c.segOf[size_t(id)])]++;
      o.slotToRow[size_t(t * c.K + j)] = r;
      o.rowToToken[size_t(r)] = int32_t(t);
      for (int64_t h = 0; h < c.H; ++h) {
        if (c.scale == 1) std::memcpy(o.rows.raw.data() + (r * c.H + h) * dtypeSize(c.d), c.x.raw.data() + (t * c.H + h) * dtypeSize(c.d), dtypeSize(c.d));
        else o.rows.put(r * c.H + h, float(double(c.x.get(t * c.H + h)) * c.scale));
      }
    }
  return o;
}

// fresh: new outputs filled with garbage (every element must be written); else reuse o's (timing).
static Status runPermute(const PermCase& c, PermOut& o, bool fresh = true) {
  const int64_t R = c.offsets[size_t(c.E)];
  if (fresh) {
    o.rows = Buf(c.d, R * c.H);
    std::memset(o.rows.data(), 0x5a, o.rows.raw.size());
    o.slotToRow.assign(size_t(c.T * c.K), 12345);
    o.rowToToken.assign(size_t(R), 12345);
  }
  PermuteArgs a{c.x.data(), c.d, c.T, c.H, c.K, c.ids.data(), c.E, c.Eall, c.segOf.data(), c.offsets.data(), R,
                c.scale, o.rows.data(), o.slotToRow.data(), o.rowToToken.data()};
  return cpu::permute(a);
}

// ---------------------------------------------------------------------------------------------------------
// unpermute: the reference (f64 per token, slot order, then shared, then residual).

struct UnpCase {
  int64_t T, H, K, R;
  std::vector<int32_t> ids, slotToRow;
  std::vector<float> w;
  std::vector<int32_t> zero, copy, cst;
  std::vector<float> wc, v;
  Buf y, x, shared, residual;
  bool hasX = false, hasShared = false, hasResidual = false;
  double inputScale = 1;
  DType od;
};

static UnpCase makeUnpCase(DType yd, DType od, int64_t T, int64_t H, int64_t K, int64_t E, bool special,
                           bool sharedRes, bool nanW, std::mt19937& rng) {
  UnpCase c;
  c.T = T; c.H = H; c.od = od;
  const int64_t nSpecial = special ? 4 : 0, Eall = E + nSpecial;
  c.K = std::min(K, Eall);
  c.ids = randomIds(T, c.K, Eall, 0.1, -1, rng);
  if (special) { c.cst = {int32_t(E), int32_t(E + 1)}; c.copy = {int32_t(E + 2)}; c.zero = {int32_t(E + 3)}; }
  std::uniform_real_distribution<float> uw(0, 1);
  c.w.resize(c.ids.size());
  for (auto& x : c.w) x = uw(rng);
  if (nanW && !c.w.empty()) c.w[c.w.size() / 2] = NAN;
  // Rows: FFN slots in a shuffled order (any bijection will do for unpermute).
  c.slotToRow.assign(c.ids.size(), -1);
  std::vector<int64_t> slots;
  for (size_t s = 0; s < c.ids.size(); ++s) if (c.ids[s] >= 0 && c.ids[s] < E) slots.push_back(int64_t(s));
  std::shuffle(slots.begin(), slots.end(), rng);
  c.R = int64_t(slots.size()) + 3;  // 3 unread rows, as padding
  for (size_t i = 0; i < slots.size(); ++i) c.slotToRow[size_t(slots[i])] = int32_t(i);
  c.y = randomBuf(yd, c.R * H, rng);
  if (special) {
    c.hasX = true;
    c.x = randomBuf(kFloat[rng() % 3], T * H, rng);
    c.inputScale = (rng() & 1) ? 2.0 : 0.7;
    Buf wc = randomBuf(DType::F32, 2 * 2 * H, rng, float(1.0 / std::sqrt(double(H))));
    Buf v = randomBuf(DType::F32, 2 * H, rng);
    for (int64_t i = 0; i < wc.size(); ++i) c.wc.push_back(wc.get(i));
    for (int64_t i = 0; i < v.size(); ++i) c.v.push_back(v.get(i));
  }
  if (sharedRes) {
    c.hasShared = c.hasResidual = true;
    c.shared = randomBuf(kFloat[rng() % 3], T * H, rng);
    c.residual = randomBuf(kFloat[rng() % 3], T * H, rng);
  }
  return c;
}

static std::vector<double> unpermuteRef(const UnpCase& c) {
  const int64_t H = c.H;
  std::vector<double> out(static_cast<size_t>(c.T * H)), acc(static_cast<size_t>(H)), u(static_cast<size_t>(H));
  auto kindOf = [&](int32_t id) -> int {
    for (int32_t z : c.zero) if (z == id) return -1;
    for (int32_t z : c.copy) if (z == id) return -2;
    for (size_t i = 0; i < c.cst.size(); ++i) if (c.cst[i] == id) return int(i);
    return -3;
  };
  for (int64_t t = 0; t < c.T; ++t) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t j = 0; j < c.K; ++j) {
      const size_t s = size_t(t * c.K + j);
      const double g = c.w[s];
      const int32_t r = c.slotToRow[s];
      if (r >= 0) { for (int64_t h = 0; h < H; ++h) acc[size_t(h)] += g * c.y.get(r * H + h); continue; }
      const int e = kindOf(c.ids[s]);
      if (e == -1 || e == -3) continue;
      for (int64_t h = 0; h < H; ++h) u[size_t(h)] = c.inputScale * c.x.get(t * H + h);
      if (e == -2) { for (int64_t h = 0; h < H; ++h) acc[size_t(h)] += g * u[size_t(h)]; continue; }
      double l0 = 0, l1 = 0;
      for (int64_t h = 0; h < H; ++h) {
        l0 += double(c.wc[size_t((e * 2) * H + h)]) * u[size_t(h)];
        l1 += double(c.wc[size_t((e * 2 + 1) * H + h)]) * u[size_t(h)];
      }
      const double m = std::max(l0, l1), e0 = std::exp(l0 - m), e1 = std::exp(l1 - m);
      const double a1 = e0 / (e0 + e1), a2 = e1 / (e0 + e1);
      for (int64_t h = 0; h < H; ++h) acc[size_t(h)] += g * (a1 * u[size_t(h)] + a2 * c.v[size_t(e * H + h)]);
    }
    for (int64_t h = 0; h < H; ++h) {
      double o = acc[size_t(h)];
      if (c.hasShared) o += c.shared.get(t * H + h);
      if (c.hasResidual) o += c.residual.get(t * H + h);
      out[size_t(t * H + h)] = o;
    }
  }
  return out;
}

static Status runUnpermute(const UnpCase& c, Buf& out, bool fresh = true) {
  if (fresh) {
    out = Buf(c.od, c.T * c.H);
    std::memset(out.data(), 0x5a, out.raw.size());
  }
  UnpermuteArgs a{};
  a.y = c.y.data(); a.yDtype = c.y.d; a.rows = c.R; a.tokens = c.T; a.hidden = c.H; a.kmax = c.K;
  a.ids = c.ids.data(); a.weights = c.w.data(); a.slotToRow = c.slotToRow.data();
  a.zeroExperts = c.zero.data(); a.nZero = int64_t(c.zero.size());
  a.copyExperts = c.copy.data(); a.nCopy = int64_t(c.copy.size());
  a.constantIds = c.cst.data(); a.nConst = int64_t(c.cst.size());
  a.wc = c.wc.empty() ? nullptr : c.wc.data(); a.v = c.v.empty() ? nullptr : c.v.data();
  a.x = c.hasX ? c.x.data() : nullptr; a.xDtype = c.x.d; a.inputScale = c.inputScale;
  a.shared = c.hasShared ? c.shared.data() : nullptr; a.sharedDtype = c.shared.d;
  a.residual = c.hasResidual ? c.residual.data() : nullptr; a.residualDtype = c.residual.d;
  a.out = out.data(); a.outDtype = c.od;
  return cpu::unpermute(a);
}

// Norm-wise relative error over the finite reference elements; NaN must match NaN.
static double relErr(const Buf& got, const std::vector<double>& ref, bool& nanOk) {
  double num = 0, den = 0;
  nanOk = true;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double g = got.get(int64_t(i)), r = ref[i];
    if (std::isnan(r) || std::isnan(g)) { nanOk &= std::isnan(r) && std::isnan(g); continue; }
    // The reference rounded once to the output dtype, as lib/reference does.
    Buf one(got.d, 1); one.put(0, float(r));
    num += (g - one.get(0)) * (g - one.get(0));
    den += double(one.get(0)) * one.get(0);
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

// ---------------------------------------------------------------------------------------------------------
// router_stats: the reference (one pass in token order).

struct StatsOut { std::vector<int32_t> counts, top1; std::vector<float> prob; RouterStatsTotals tot; };

static double lseRef(const float* z, int64_t n) {
  double m = -INFINITY;
  for (int64_t e = 0; e < n; ++e) { if (std::isnan(z[e])) return NAN; if (z[e] > m) m = z[e]; }
  if (std::isinf(m)) return m;
  double s = 0;
  for (int64_t e = 0; e < n; ++e) s += std::exp(double(z[e]) - m);
  return m + std::log(s);
}

static StatsOut statsRef(const RouterStatsArgs& a) {
  StatsOut o{std::vector<int32_t>(size_t(a.experts)), std::vector<int32_t>(size_t(a.experts)), {}, {}};
  std::vector<double> p64(size_t(a.experts));
  for (int64_t t = 0; t < a.tokens; ++t) {
    if (a.tokenMask && !a.tokenMask[t]) continue;
    ++o.tot.tokens;
    for (int64_t j = 0; j < a.kmax; ++j) {
      const int32_t id = a.ids[t * a.kmax + j];
      if (id < 0) continue;
      ++o.counts[size_t(id)]; ++o.tot.selections;
      if (j == 0) ++o.top1[size_t(id)];
    }
    double denom = 1;
    if (a.normalizeScores) { double s = 0; for (int64_t e = 0; e < a.experts; ++e) s += a.scores[t * a.experts + e]; denom = s + 1e-20; }
    for (int64_t e = 0; e < a.experts; ++e) {
      const double p = a.scores[t * a.experts + e] / denom;
      p64[size_t(e)] += p;
      if (p != 0) o.tot.entropySum -= p * std::log(p);
    }
    if (a.logits) { const double l = lseRef(a.logits + t * a.experts, a.experts); o.tot.zSquareSum += l * l; }
  }
  for (double p : p64) o.prob.push_back(float(p));
  return o;
}

static Status runStats(RouterStatsArgs a, StatsOut& o) {
  o.counts.assign(size_t(a.experts), -7); o.top1.assign(size_t(a.experts), -7); o.prob.assign(size_t(a.experts), -7.f);
  a.counts = o.counts.data(); a.top1Counts = o.top1.data(); a.probSum = o.prob.data();
  return cpu::routerStats(a, &o.tot);
}
