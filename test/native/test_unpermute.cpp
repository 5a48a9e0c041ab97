// unpermute on every SIMD path and 1 and 2 threads: against a plain f64 reference (1e-5 norm-wise for f32
// outputs, 1e-2 for half), and bitwise against the scalar path with 1 thread (the kernel promises the same
// bits on every path and thread count). Every dtype of y / x / shared / residual / out, zero, copy and
// constant experts, slots without rows, spare rows, one token with a wide row (column chunks), many
// tokens; and arguments the kernel must refuse without writing.

#include "common/unpermute.h"

#include <algorithm>
#include <map>

#include "check.h"

using namespace moe;
using namespace moe::test;

namespace {

struct Case {
  int64_t tokens, hidden, kmax, ffn, nZero, nCopy, nConst;
  DType yT, xT, outT;
  bool shared, residual;
  double inputScale;
};

struct Data {
  int64_t rows = 0;
  Buf<uint8_t> y, x, shared, residual;
  Buf<int32_t> ids, slotToRow, zero, copy, constant;
  Buf<float> weights, wc, v;
};

Data make(Rng& r, const Case& c) {
  Data d;
  const int64_t total = c.ffn + c.nZero + c.nCopy + c.nConst, T = c.tokens, K = c.kmax, H = c.hidden;
  d.ids = Buf<int32_t>(T * K, -1);
  d.slotToRow = Buf<int32_t>(T * K, -1);
  d.weights = Buf<float>(T * K);
  std::vector<int64_t> ffnSlots;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int32_t> pool(static_cast<size_t>(total));
    for (int64_t e = 0; e < total; ++e) pool[static_cast<size_t>(e)] = static_cast<int32_t>(e);
    for (int64_t j = 0; j < K; ++j) {
      const int64_t p = j + r.below(total - j);
      std::swap(pool[static_cast<size_t>(j)], pool[static_cast<size_t>(p)]);
      const int64_t s = t * K + j;
      d.ids[s] = r.below(7) == 0 ? -1 : pool[static_cast<size_t>(j)];
      d.weights[s] = r.uniform(-1.f, 1.f);
      if (d.ids[s] >= 0 && d.ids[s] < c.ffn && r.below(8) != 0) ffnSlots.push_back(s);
    }
  }
  d.rows = static_cast<int64_t>(ffnSlots.size()) + 2;  // two rows no slot reads
  std::vector<int32_t> order(static_cast<size_t>(d.rows));
  for (int64_t i = 0; i < d.rows; ++i) order[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  for (int64_t i = d.rows - 1; i > 0; --i) std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(r.below(i + 1))]);
  for (size_t i = 0; i < ffnSlots.size(); ++i) d.slotToRow[ffnSlots[i]] = order[i];
  d.y = randomFloats(r, c.yT, d.rows * H);
  d.x = randomFloats(r, c.xT, T * H);
  d.shared = randomFloats(r, c.xT, T * H);
  d.residual = randomFloats(r, c.outT, T * H);
  d.zero = Buf<int32_t>(c.nZero);
  d.copy = Buf<int32_t>(c.nCopy);
  d.constant = Buf<int32_t>(c.nConst);
  for (int64_t i = 0; i < c.nZero; ++i) d.zero[i] = static_cast<int32_t>(c.ffn + i);
  for (int64_t i = 0; i < c.nCopy; ++i) d.copy[i] = static_cast<int32_t>(c.ffn + c.nZero + i);
  for (int64_t i = 0; i < c.nConst; ++i) d.constant[i] = static_cast<int32_t>(c.ffn + c.nZero + c.nCopy + i);
  d.wc = Buf<float>(c.nConst * 2 * H);
  d.v = Buf<float>(c.nConst * H);
  for (int64_t i = 0; i < d.wc.n; ++i) d.wc[i] = r.uniform(-0.5f, 0.5f);
  for (int64_t i = 0; i < d.v.n; ++i) d.v[i] = r.uniform();
  return d;
}

UnpermuteArgs args(const Case& c, const Data& d, void* out) {
  UnpermuteArgs a{};
  a.y = d.y.data();
  a.yDtype = c.yT;
  a.rows = d.rows;
  a.tokens = c.tokens;
  a.hidden = c.hidden;
  a.kmax = c.kmax;
  a.ids = d.ids.data();
  a.weights = d.weights.data();
  a.slotToRow = d.slotToRow.data();
  a.zeroExperts = d.zero.data();
  a.nZero = c.nZero;
  a.copyExperts = d.copy.data();
  a.nCopy = c.nCopy;
  a.constantIds = d.constant.data();
  a.nConst = c.nConst;
  a.wc = d.wc.data();
  a.v = d.v.data();
  a.x = c.nCopy + c.nConst > 0 ? d.x.data() : nullptr;
  a.xDtype = c.xT;
  a.inputScale = c.inputScale;
  a.shared = c.shared ? d.shared.data() : nullptr;
  a.sharedDtype = c.xT;
  a.residual = c.residual ? d.residual.data() : nullptr;
  a.residualDtype = c.outT;
  a.out = out;
  a.outDtype = c.outT;
  return a;
}

std::vector<double> reference(const Case& c, const Data& d) {
  const int64_t T = c.tokens, K = c.kmax, H = c.hidden;
  std::map<int32_t, int64_t> kind;  // -1 zero, -2 copy, >= 0 constant index
  for (int64_t i = 0; i < c.nZero; ++i) kind[d.zero[i]] = -1;
  for (int64_t i = 0; i < c.nCopy; ++i) kind[d.copy[i]] = -2;
  for (int64_t i = 0; i < c.nConst; ++i) kind[d.constant[i]] = i;
  std::vector<double> out(static_cast<size_t>(T * H));
  std::vector<double> acc(static_cast<size_t>(H)), u(static_cast<size_t>(H));
  for (int64_t t = 0; t < T; ++t) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t h = 0; h < H; ++h) u[static_cast<size_t>(h)] = c.inputScale * valueAt(d.x.data(), c.xT, t * H + h);
    for (int64_t j = 0; j < K; ++j) {
      const int64_t s = t * K + j;
      const double w = d.weights[s];
      if (d.slotToRow[s] >= 0) {
        for (int64_t h = 0; h < H; ++h) acc[static_cast<size_t>(h)] += w * valueAt(d.y.data(), c.yT, d.slotToRow[s] * H + h);
        continue;
      }
      const auto it = kind.find(d.ids[s]);
      if (it == kind.end() || it->second == -1) continue;
      if (it->second == -2) {
        for (int64_t h = 0; h < H; ++h) acc[static_cast<size_t>(h)] += w * u[static_cast<size_t>(h)];
        continue;
      }
      const int64_t e = it->second;
      double l0 = 0, l1 = 0;
      for (int64_t h = 0; h < H; ++h) {
        l0 += d.wc[(e * 2) * H + h] * u[static_cast<size_t>(h)];
        l1 += d.wc[(e * 2 + 1) * H + h] * u[static_cast<size_t>(h)];
      }
      const double m = std::max(l0, l1), e0 = std::exp(l0 - m), e1 = std::exp(l1 - m);
      for (int64_t h = 0; h < H; ++h) {
        acc[static_cast<size_t>(h)] += w * (e0 / (e0 + e1) * u[static_cast<size_t>(h)] + e1 / (e0 + e1) * d.v[e * H + h]);
      }
    }
    for (int64_t h = 0; h < H; ++h) {
      double o = acc[static_cast<size_t>(h)];
      if (c.shared) o += valueAt(d.shared.data(), c.xT, t * H + h);
      if (c.residual) o += valueAt(d.residual.data(), c.outT, t * H + h);
      out[static_cast<size_t>(t * H + h)] = o;
    }
  }
  return out;
}

std::vector<double> values(const Buf<uint8_t>& b, DType t, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = valueAt(b.data(), t, i);
  return v;
}

void refused(Rng& r) {
  const Case c{6, 9, 3, 3, 1, 1, 1, DType::F32, DType::F32, DType::F32, true, true, 1.0};
  auto expectRefused = [&](const char* what, auto breakIt) {
    Data d = make(r, c);
    Buf<float> out(c.tokens * c.hidden, 7.f);
    UnpermuteArgs a = args(c, d, out.data());
    breakIt(a, d);
    CHECK_MSG(cpu::unpermute(a) == Status::InvalidArgument, what);
    bool untouched = true;
    for (int64_t i = 0; i < out.n; ++i) untouched &= out[i] == 7.f;
    CHECK_MSG(untouched, std::string(what) + ": out was written");
  };
  expectRefused("slotToRow = rows", [](UnpermuteArgs& a, Data& d) { d.slotToRow[4] = static_cast<int32_t>(a.rows); });
  expectRefused("slotToRow = -2", [](UnpermuteArgs&, Data& d) { d.slotToRow[0] = -2; });
  expectRefused("slotToRow = INT32_MAX", [](UnpermuteArgs&, Data& d) { d.slotToRow[17] = INT32_MAX; });
  expectRefused("copy experts without x", [](UnpermuteArgs& a, Data&) { a.x = nullptr; });
  expectRefused("constant experts without wc", [](UnpermuteArgs& a, Data&) { a.wc = nullptr; });
  expectRefused("inputScale NaN", [](UnpermuteArgs& a, Data&) { a.inputScale = NAN; });
  expectRefused("integer out dtype", [](UnpermuteArgs& a, Data&) { a.outDtype = DType::I32; });
  expectRefused("negative hidden", [](UnpermuteArgs& a, Data&) { a.hidden = -1; });
}

}  // namespace

int main() {
  Rng r(11);
  refused(r);
  std::vector<Case> cases;
  const DType all[] = {DType::F32, DType::BF16, DType::F16};
  for (DType yT : all) {
    for (DType outT : all) {
      cases.push_back({7, 33, 3, 4, 1, 1, 1, yT, outT == DType::F32 ? DType::BF16 : DType::F32, outT, true, true, 2.0});
      cases.push_back({1, 1000, 4, 3, 1, 0, 1, yT, DType::F16, outT, false, true, 1.0});  // column chunks
    }
    cases.push_back({255, 17, 2, 6, 0, 1, 0, yT, yT, yT, true, false, -0.5});
    cases.push_back({3000, 64, 4, 8, 1, 1, 1, yT, DType::F32, DType::F32, false, false, 1.0});
    cases.push_back({0, 8, 2, 2, 0, 0, 0, yT, yT, yT, false, false, 1.0});
    cases.push_back({5, 0, 2, 2, 0, 0, 0, yT, yT, yT, true, true, 1.0});
  }
  std::vector<Data> data;
  std::vector<Buf<uint8_t>> baseline;
  for (const Case& c : cases) data.push_back(make(r, c));
  forEachConfig("unpermute", [&](cpu::SimdPath, int) {
    for (size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      const int64_t n = c.tokens * c.hidden;
      Buf<uint8_t> out(n * static_cast<int64_t>(dtypeSize(c.outT)), 0xa5);
      const std::string what = "case " + std::to_string(i) + " T=" + std::to_string(c.tokens) + " H=" + std::to_string(c.hidden) +
                               " y " + dtypeName(c.yT) + " out " + dtypeName(c.outT);
      CHECK_MSG(cpu::unpermute(args(c, data[i], out.data())) == Status::Ok, what);
      const double err = relNorm(values(out, c.outT, n), reference(c, data[i]));
      CHECK_MSG(err <= (c.outT == DType::F32 ? 1e-5 : 1e-2), what + ": relative error " + std::to_string(err));
      if (baseline.size() <= i) baseline.push_back(std::move(out));
      else CHECK_MSG(sameBytes(out.data(), baseline[i].data(), static_cast<size_t>(out.n)), what + ": bits differ from scalar / 1 thread");
    }
  });
  return finish("test_unpermute");
}
