// grouped_gemm on every SIMD path and 1 and 2 threads: against a plain f64 reference (1e-5 norm-wise for
// f32 outputs, 1e-2 for half), bitwise equal for 1 and 2 threads on each path; every activation and GLU
// layout, every dtype of A / W / out, bias and addend, empty experts, K = 0, K and N around the vector
// widths, a size the pool splits into many tasks; and arguments the kernel must refuse without writing.

#include "common/grouped_gemm.h"

#include <algorithm>
#include <cstdlib>

#include "check.h"

using namespace moe;
using namespace moe::test;

namespace {

struct Case {
  std::vector<int32_t> counts;
  int64_t k, n;
  DType aT, wT, outT;
  Activation act;
  GluLayout glu;
  bool bias, addend;
};

bool isGlu(Activation a) { return a == Activation::Swiglu || a == Activation::Geglu; }

double act1(Activation a, double x) {
  switch (a) {
    case Activation::Relu: return x > 0 ? x : 0;
    case Activation::Gelu:
    case Activation::Geglu: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Activation::GeluTanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::Silu:
    case Activation::Swiglu: return x / (1 + std::exp(-x));
    case Activation::Tanh: return std::tanh(x);
    case Activation::Sigmoid: return 1 / (1 + std::exp(-x));
    default: return x;
  }
}

struct Data {
  int64_t rows = 0;
  Buf<uint8_t> a, w;
  Buf<int32_t> offsets;
  Buf<float> bias, addend;
};

Data make(Rng& r, const Case& c) {
  Data d;
  const int64_t E = static_cast<int64_t>(c.counts.size());
  d.offsets = Buf<int32_t>(E + 1, 0);
  for (int64_t e = 0; e < E; ++e) d.offsets[e + 1] = d.offsets[e] + c.counts[static_cast<size_t>(e)];
  d.rows = d.offsets[E];
  d.a = randomFloats(r, c.aT, d.rows * c.k);
  d.w = randomFloats(r, c.wT, E * c.n * c.k);
  d.bias = Buf<float>(E * c.n);
  d.addend = Buf<float>(d.rows * c.n);
  for (int64_t i = 0; i < d.bias.n; ++i) d.bias[i] = r.uniform();
  for (int64_t i = 0; i < d.addend.n; ++i) d.addend[i] = r.uniform();
  return d;
}

GroupedGemmArgs args(const Case& c, const Data& d, void* out) {
  const int64_t E = static_cast<int64_t>(c.counts.size());
  GroupedGemmArgs g{};
  g.a = view(d.a.data(), c.aT, {d.rows, c.k});
  g.w = view(d.w.data(), c.wT, {E, c.n, c.k});
  g.offsets = d.offsets.data();
  g.experts = E;
  g.bias = c.bias ? d.bias.data() : nullptr;
  g.addend = c.addend ? d.addend.data() : nullptr;
  g.act = c.act;
  g.glu = c.glu;
  g.out = view(out, c.outT, {d.rows, isGlu(c.act) ? c.n / 2 : c.n});
  return g;
}

std::vector<double> reference(const Case& c, const Data& d) {
  const int64_t E = static_cast<int64_t>(c.counts.size()), nOut = isGlu(c.act) ? c.n / 2 : c.n;
  std::vector<double> out(static_cast<size_t>(d.rows * nOut)), acc(static_cast<size_t>(c.n));
  for (int64_t e = 0; e < E; ++e) {
    for (int64_t r = d.offsets[e]; r < d.offsets[e + 1]; ++r) {
      for (int64_t j = 0; j < c.n; ++j) {
        double s = 0;
        for (int64_t k = 0; k < c.k; ++k) s += valueAt(d.a.data(), c.aT, r * c.k + k) * valueAt(d.w.data(), c.wT, (e * c.n + j) * c.k + k);
        if (c.bias) s += d.bias[e * c.n + j];
        if (c.addend) s += d.addend[r * c.n + j];
        acc[static_cast<size_t>(j)] = s;
      }
      for (int64_t j = 0; j < nOut; ++j) {
        double v;
        if (!isGlu(c.act)) v = act1(c.act, acc[static_cast<size_t>(j)]);
        else if (c.glu == GluLayout::Halves) v = act1(c.act, acc[static_cast<size_t>(j)]) * acc[static_cast<size_t>(nOut + j)];
        else v = act1(c.act, acc[static_cast<size_t>(2 * j)]) * acc[static_cast<size_t>(2 * j + 1)];
        out[static_cast<size_t>(r * nOut + j)] = v;
      }
    }
  }
  return out;
}

void refused(Rng& r) {
  const Case c{{3, 0, 4}, 5, 6, DType::F32, DType::F32, DType::F32, Activation::Swiglu, GluLayout::Halves, true, false};
  auto expectRefused = [&](const char* what, auto breakIt) {
    Data d = make(r, c);
    Buf<float> out(d.rows * 3, 9.f);
    GroupedGemmArgs g = args(c, d, out.data());
    breakIt(g, d);
    CHECK_MSG(cpu::groupedGemm(g) == Status::InvalidArgument, what);
    bool untouched = true;
    for (int64_t i = 0; i < out.n; ++i) untouched &= out[i] == 9.f;
    CHECK_MSG(untouched, std::string(what) + ": out was written");
  };
  expectRefused("offsets[0] != 0", [](GroupedGemmArgs&, Data& d) { d.offsets[0] = 1; });
  expectRefused("offsets decreasing", [](GroupedGemmArgs&, Data& d) { d.offsets[1] = 5; d.offsets[2] = 4; });
  expectRefused("offsets end != rows", [](GroupedGemmArgs&, Data& d) { d.offsets[3] = 6; });
  expectRefused("offsets end past rows", [](GroupedGemmArgs&, Data& d) { d.offsets[3] = INT32_MAX; });
  expectRefused("w k != a k", [](GroupedGemmArgs& g, Data&) { g.w.shape[2] = 4; });
  expectRefused("w experts != experts", [](GroupedGemmArgs& g, Data&) { g.w.shape[0] = 2; });
  expectRefused("out columns", [](GroupedGemmArgs& g, Data&) { g.out.shape[1] = 6; });
  expectRefused("out rows", [](GroupedGemmArgs& g, Data&) { g.out.shape[0] = 6; });
  expectRefused("odd n for a GLU", [](GroupedGemmArgs& g, Data&) { g.w.shape[1] = 5; });
  expectRefused("unknown activation", [](GroupedGemmArgs& g, Data&) { g.act = static_cast<Activation>(42); });
  expectRefused("integer a", [](GroupedGemmArgs& g, Data&) { g.a.dtype = DType::I32; });
  expectRefused("no offsets", [](GroupedGemmArgs& g, Data&) { g.offsets = nullptr; });
}

// MOE_CPU_DISABLE's grammar for the vendor choices: amd by its name, and only by it (zen5, a switch of
// an earlier decode, is now an unknown name).
void featureSwitches() {
  cpu::CpuFeatures f;
  f.amd = f.avx2 = true;
  CHECK(!cpu::disableFeatures(f, "amd").amd);
  CHECK(cpu::disableFeatures(f, "amd").avx2);
  CHECK(cpu::disableFeatures(f, "avx512bf16,zen5,x").amd);
}

// CpuFeatures::family (the decode prefetch depends on it) is the family Linux reports for CPU 0.
void cpuFamily() {
#if defined(MOE_HAVE_X86)
  std::FILE* f = std::fopen("/proc/cpuinfo", "r");
  if (!f) return;  // not Linux
  char line[512];
  int reported = -1;
  while (reported < 0 && std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "cpu family", 10) == 0)
      if (const char* c = std::strchr(line, ':')) reported = std::atoi(c + 1);
  std::fclose(f);
  if (reported >= 0) CHECK(cpu::cpuFeatures().family == reported);
#endif
}

}  // namespace

int main() {
  Rng r(3);
  refused(r);
  featureSwitches();
  cpuFamily();
  const Activation acts[] = {Activation::None, Activation::Relu, Activation::Gelu, Activation::GeluTanh, Activation::Silu,
                             Activation::Swiglu, Activation::Geglu, Activation::Tanh, Activation::Sigmoid};
  const DType all[] = {DType::F32, DType::BF16, DType::F16};
  std::vector<Case> cases;
  int i = 0;
  for (Activation act : acts) {
    for (DType aT : all) {
      for (DType wT : all) {
        const DType outT = all[(i++) % 3];
        const GluLayout glu = i % 2 ? GluLayout::Halves : GluLayout::Interleaved;
        cases.push_back({{3, 0, 5, 1}, 7 + i % 40, 2 * (1 + i % 17), aT, wT, outT, act, glu, i % 3 == 0, i % 4 == 0});
      }
    }
    cases.push_back({{1}, 0, 4, DType::F32, DType::F32, DType::F32, act, GluLayout::Halves, true, true});        // K = 0
    cases.push_back({{0, 0}, 8, 8, DType::BF16, DType::BF16, DType::BF16, act, GluLayout::Interleaved, true, false});  // no rows
    cases.push_back({{40, 3, 0, 77}, 33, 34, DType::F32, DType::BF16, DType::F32, act, GluLayout::Halves, false, true});
  }
  cases.push_back({{300, 0, 211}, 256, 128, DType::BF16, DType::BF16, DType::F32, Activation::Swiglu, GluLayout::Halves, true, false});
  cases.push_back({{513}, 100, 96, DType::F32, DType::F32, DType::F32, Activation::None, GluLayout::Halves, false, false});
  // f32 W over two K blocks in single-panel prefill tasks (W read in place on AMD): 40 and 48 rows, K = 6151.
  cases.push_back({{40, 48}, 6151, 24, DType::F32, DType::F32, DType::F32, Activation::Swiglu, GluLayout::Halves, true, false});
  // bf16 x bf16 likewise (the dp kernel reads W in place for an even K): 48 and 33 rows, K = 8200.
  cases.push_back({{48, 33}, 8200, 16, DType::BF16, DType::BF16, DType::BF16, Activation::Silu, GluLayout::Halves, false, false});
  // Decode rows (1..8 per expert, K whole and in chunks), K = 2053: stream tiles only (N = 2 x 48 GLU and
  // 64 columns), stream tiles and a plain last tile (2 x 46 GLU, 69 columns; 2 x 43 interleaved).
  const std::vector<int32_t> decode{1, 2, 3, 4, 7, 8};
  cases.push_back({decode, 2053, 96, DType::F32, DType::F32, DType::F32, Activation::Swiglu, GluLayout::Halves, false, false});
  cases.push_back({decode, 2053, 64, DType::F32, DType::BF16, DType::F32, Activation::Relu, GluLayout::Halves, true, false});
  cases.push_back({decode, 2053, 92, DType::BF16, DType::BF16, DType::F32, Activation::Swiglu, GluLayout::Halves, false, true});
  cases.push_back({decode, 2053, 69, DType::F32, DType::F16, DType::BF16, Activation::Gelu, GluLayout::Halves, true, true});
  cases.push_back({decode, 2053, 86, DType::F32, DType::F32, DType::F32, Activation::Geglu, GluLayout::Interleaved, false, false});
  // Tails of 3..8 rows (the AVX-512 half vector) in each panel arrangement, f32 / widened bf16 / dp W, and
  // across two K blocks (64 + 5 rows: K = 2600 f32, 5001 dp).
  const std::vector<int32_t> halves{19, 24, 37, 56, 72, 102};
  cases.push_back({halves, 300, 40, DType::F32, DType::F32, DType::F32, Activation::Swiglu, GluLayout::Halves, true, false});
  cases.push_back({halves, 301, 33, DType::F32, DType::BF16, DType::F32, Activation::Gelu, GluLayout::Halves, false, true});
  cases.push_back({halves, 301, 40, DType::BF16, DType::BF16, DType::BF16, Activation::Geglu, GluLayout::Interleaved, false, false});
  cases.push_back({{69, 37}, 2600, 24, DType::F32, DType::F32, DType::F32, Activation::Silu, GluLayout::Halves, true, false});
  cases.push_back({{69, 37}, 5001, 16, DType::BF16, DType::BF16, DType::F32, Activation::None, GluLayout::Halves, true, false});
  std::vector<Data> data;
  for (const Case& c : cases) data.push_back(make(r, c));
  std::vector<Buf<uint8_t>> oneThread(cases.size());
  forEachConfig("grouped_gemm", [&](cpu::SimdPath, int threads) {
    for (size_t ci = 0; ci < cases.size(); ++ci) {
      const Case& c = cases[ci];
      const Data& d = data[ci];
      const int64_t n = d.rows * (isGlu(c.act) ? c.n / 2 : c.n);
      Buf<uint8_t> out(n * static_cast<int64_t>(dtypeSize(c.outT)), 0xa5);
      const std::string what = "case " + std::to_string(ci) + " K=" + std::to_string(c.k) + " N=" + std::to_string(c.n) +
                               " act=" + std::to_string(static_cast<int>(c.act)) + " " + dtypeName(c.aT) + "x" + dtypeName(c.wT) +
                               "->" + dtypeName(c.outT);
      CHECK_MSG(cpu::groupedGemm(args(c, d, out.data())) == Status::Ok, what);
      std::vector<double> got(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) got[static_cast<size_t>(j)] = valueAt(out.data(), c.outT, j);
      const double err = relNorm(got, reference(c, d));
      CHECK_MSG(err <= (c.outT == DType::F32 ? 1e-5 : 1e-2), what + ": relative error " + std::to_string(err));
      if (threads == 1) oneThread[ci] = std::move(out);
      else CHECK_MSG(sameBytes(out.data(), oneThread[ci].data(), static_cast<size_t>(out.n)), what + ": 2 threads differ from 1 bitwise");
    }
  });
  return finish("test_grouped_gemm");
}
