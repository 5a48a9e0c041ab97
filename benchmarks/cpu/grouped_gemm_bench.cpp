// grouped_gemm CPU harness (llm.c style): a plain-loop f64 reference, validation of every SIMD path against
// it, then timings of the MoE expert GEMMs of Qwen3-30B-A3B and Mixtral-8x7B next to this machine's
// measured f32 FMA peak and memory bandwidth.
//
//   Y[r, :] = act(A[r, :] · W[e]ᵀ + bias[e] + addend[r]),  A [rows, K], W [E, N, K], rows of expert e
//   contiguous (offsets [E+1]); GLU activations pair gate / up columns and output N/2 columns.
//
/* Build and run from the repository root:
     g++ -O3 -std=c++17 -march=native -DMOE_HAVE_X86 -Inative -o /tmp/gg_bench benchmarks/cpu/grouped_gemm_bench.cpp \
         native/cpu/grouped_gemm.cpp native/cpu/x86/grouped_gemm_avx2.cpp native/cpu/x86/grouped_gemm_avx512.cpp \
         native/cpu/thread_pool.cpp native/cpu/cpu_features.cpp native/cpu/ceilings.cpp native/cpu/x86/ceilings_avx2.cpp \
         native/cpu/x86/ceilings_avx512.cpp -lpthread
     /tmp/gg_bench [--validate] [--skip-validation] [--no-mixtral] [--only qwen3|mixtral] [--reps N]
                   [--T tokens] [--threads n]
*/
// Validation runs first on every path the CPU has (scalar, avx2, avx512): every activation, both GLU
// layouts, every dtype combination, odd sizes, empty experts, one expert with every row, bias / addend,
// guard words around the output, and bitwise equality between 1 and 2 threads.

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's _mm512_undefined_*() initialise a variable from itself (GCC bug 105593): silence its false
// "uninitialized" warnings, which point into immintrin.h.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <time.h>

#include "common/grouped_gemm.h"
#include "cpu/ceilings.h"
#include "cpu/cpu_features.h"
#include "cpu/grouped_gemm_kernels.h"
#include "cpu/thread_pool.h"

using namespace moe;
using cpu::SimdPath;

// ---------------------------------------------------------------------------------------------------------
// dtype helpers and the f64 reference

static float h2f(uint16_t h, DType d) {
  if (d == DType::BF16) { uint32_t u = uint32_t(h) << 16; float f; std::memcpy(&f, &u, 4); return f; }
  return _cvtsh_ss(h);
}
static uint16_t f2h(float f, DType d) {
  if (d == DType::F16) return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
  uint32_t u; std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffff) > 0x7f800000) return uint16_t((u >> 16) | 0x40);
  return uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

struct Buf {  // a tensor in one of the float dtypes; `f` holds the exactly decoded values
  DType d = DType::F32;
  std::vector<float> f32;
  std::vector<uint16_t> h;
  void* data() { return d == DType::F32 ? (void*)f32.data() : (void*)h.data(); }
  double at(size_t i) const { return d == DType::F32 ? f32[i] : h2f(h[i], d); }
};

static Buf makeBuf(DType d, size_t n, std::mt19937& rng, float scale) {
  Buf b; b.d = d;
  std::normal_distribution<float> nd(0.f, scale);
  if (d == DType::F32) { b.f32.resize(n); for (auto& x : b.f32) x = nd(rng); }
  else { b.h.resize(n); for (auto& x : b.h) x = f2h(nd(rng), d); }
  return b;
}

static double sigm(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }
static double actRef(Activation a, double x) {
  switch (a) {
    case Activation::Relu: return x > 0 ? x : 0;
    case Activation::Gelu: case Activation::Geglu: return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    case Activation::GeluTanh: return x * sigm(2 * std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x));
    case Activation::Silu: case Activation::Swiglu: return x * sigm(x);
    case Activation::Tanh: return std::tanh(x);
    case Activation::Sigmoid: return sigm(x);
    default: return x;
  }
}

struct Case {
  int64_t E, N, K; std::vector<int32_t> off;
  Buf a, w; DType od; Activation act; GluLayout glu; std::vector<float> bias, addend;
};

static bool isGlu(Activation a) { return a == Activation::Swiglu || a == Activation::Geglu; }

static void gemmRef(const Case& c, std::vector<double>& y) {
  const int64_t R = c.off[c.E], N = c.N, K = c.K, nOut = isGlu(c.act) ? N / 2 : N;
  y.assign(size_t(R * nOut), 0);
  std::vector<double> acc(static_cast<size_t>(N));
  for (int64_t e = 0; e < c.E; ++e)
    for (int64_t r = c.off[e]; r < c.off[e + 1]; ++r) {
      for (int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += c.a.at(size_t(r * K + k)) * c.w.at(size_t((e * N + n) * K + k));
        if (!c.bias.empty()) s += c.bias[size_t(e * N + n)];
        if (!c.addend.empty()) s += c.addend[size_t(r * N + n)];
        acc[size_t(n)] = s;
      }
      for (int64_t j = 0; j < nOut; ++j) {
        if (!isGlu(c.act)) { y[size_t(r * nOut + j)] = actRef(c.act, acc[size_t(j)]); continue; }
        const bool h = c.glu == GluLayout::Halves;
        const double g = acc[size_t(h ? j : 2 * j)], u = acc[size_t(h ? N / 2 + j : 2 * j + 1)];
        y[size_t(r * nOut + j)] = actRef(c.act, g) * u;
      }
    }
}

static TensorView view(void* p, DType d, std::initializer_list<int64_t> s) {
  TensorView v; v.data = p; v.dtype = d; v.ndim = int32_t(s.size());
  int i = 0; for (int64_t x : s) v.shape[i++] = x;
  return v;
}

// Runs the op on `path` with `threads` threads; out has 16 guard elements each side.
static Status runCase(Case& c, SimdPath path, int threads, Buf& out, bool& guardsOk) {
  const int64_t R = c.off[c.E], nOut = isGlu(c.act) ? c.N / 2 : c.N, n = R * nOut;
  out.d = c.od;
  const uint16_t gh = 0x7bcd; const float gf = 1234.5f;
  if (c.od == DType::F32) out.f32.assign(size_t(n + 32), gf); else out.h.assign(size_t(n + 32), gh);
  GroupedGemmArgs g{};
  g.a = view(c.a.data(), c.a.d, {R, c.K});
  g.w = view(c.w.data(), c.w.d, {c.E, c.N, c.K});
  g.offsets = c.off.data(); g.experts = c.E;
  g.bias = c.bias.empty() ? nullptr : c.bias.data();
  g.addend = c.addend.empty() ? nullptr : c.addend.data();
  g.act = c.act; g.glu = c.glu;
  void* o = c.od == DType::F32 ? (void*)(out.f32.data() + 16) : (void*)(out.h.data() + 16);
  g.out = view(o, c.od, {R, nOut});
  cpu::setNumThreads(threads);
  const Status st = cpu::gg::groupedGemmOnPath(g, path);
  guardsOk = true;
  for (int i = 0; i < 16; ++i) {
    if (c.od == DType::F32) guardsOk &= out.f32[size_t(i)] == gf && out.f32[size_t(n + 16 + i)] == gf;
    else guardsOk &= out.h[size_t(i)] == gh && out.h[size_t(n + 16 + i)] == gh;
  }
  return st;
}

// ---------------------------------------------------------------------------------------------------------
// Validation

static std::vector<int32_t> offsetsFrom(const std::vector<int64_t>& counts) {
  std::vector<int32_t> off(1, 0);
  for (int64_t c : counts) off.push_back(off.back() + int32_t(c));
  return off;
}

static int g_fail = 0, g_cases = 0;
static bool g_skipValidation = false;
static double g_maxErr[3][2];  // [path][half inputs or output]

static void validate(const char* what, Case& c, const std::vector<SimdPath>& paths) {
  std::vector<double> ref;
  gemmRef(c, ref);
  const bool half = c.a.d != DType::F32 || c.w.d != DType::F32 || c.od != DType::F32;
  const double tol = half ? 1e-2 : 1e-5;
  for (SimdPath p : paths) {
    Buf o1, o2; bool g1, g2;
    const Status s1 = runCase(c, p, 1, o1, g1), s2 = runCase(c, p, 2, o2, g2);
    double num = 0, den = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      const double d = o1.at(i + 16) - ref[i];
      num += d * d; den += ref[i] * ref[i];
    }
    const double err = std::sqrt(num / std::max(den, 1e-300));
    const bool same = c.od == DType::F32 ? o1.f32 == o2.f32 : o1.h == o2.h;
    if (den > 0) g_maxErr[int(p)][half] = std::max(g_maxErr[int(p)][half], err);
    const bool ok = s1 == Status::Ok && s2 == Status::Ok && g1 && g2 && same && (err < tol || den == 0);
    ++g_cases;
    if (!ok) {
      ++g_fail;
      std::printf("FAIL %-7s %s: err %.3g (tol %.0e) status %d/%d guards %d/%d 1-vs-2-threads %s\n",
                  cpu::simdPathName(p), what, err, tol, int(s1), int(s2), g1, g2, same ? "same" : "DIFFER");
    }
  }
}

static const char* dn(DType d) { return dtypeName(d); }
static const char* an(Activation a) {
  static const char* n[] = {"none", "relu", "gelu", "gelu_tanh", "silu", "swiglu", "geglu", "tanh", "sigmoid"};
  return n[int(a)];
}

static Case makeCase(std::mt19937& rng, const std::vector<int64_t>& counts, int64_t N, int64_t K, DType ad, DType wd,
                     DType od, Activation act, GluLayout glu, bool bias, bool addend) {
  Case c; c.E = int64_t(counts.size()); c.N = N; c.K = K; c.off = offsetsFrom(counts);
  const int64_t R = c.off.back();
  c.a = makeBuf(ad, size_t(R * K), rng, 1.0f);
  c.w = makeBuf(wd, size_t(c.E * N * K), rng, float(1 / std::sqrt(double(std::max<int64_t>(K, 1)))));
  c.od = od; c.act = act; c.glu = glu;
  std::normal_distribution<float> nd(0.f, 0.5f);
  if (bias) { c.bias.resize(size_t(c.E * N)); for (auto& x : c.bias) x = nd(rng); }
  if (addend) { c.addend.resize(size_t(R * N)); for (auto& x : c.addend) x = nd(rng); }
  return c;
}

static void validateAll(const std::vector<SimdPath>& paths) {
  std::mt19937 rng(1234);
  const DType dts[] = {DType::F32, DType::BF16, DType::F16};
  const Activation acts[] = {Activation::None, Activation::Relu, Activation::Gelu, Activation::GeluTanh,
                             Activation::Silu, Activation::Swiglu, Activation::Geglu, Activation::Tanh,
                             Activation::Sigmoid};
  // Row layouts: single rows, decode-sized, a prefill segment with a dot tail (16k + 2), with a padded
  // tail (16k + 9), empty experts, one expert with every row.
  const std::vector<std::vector<int64_t>> layouts = {
      {1}, {7}, {255}, {0, 3, 0, 4}, {18, 0, 41, 5}, {0, 0, 255, 0}, {33, 1, 16, 0, 50}, {24, 21, 12, 40}};
  const int64_t sizes[][2] = {{33, 127}, {127, 33}, {34, 16}, {64, 1}, {8, 0}, {130, 1100}};
  char what[256];
  // Every activation x GLU layout x layout x size, f32.
  for (Activation act : acts)
    for (int gl = 0; gl < (isGlu(act) ? 2 : 1); ++gl)
      for (const auto& lay : layouts)
        for (const auto& sz : sizes) {
          int64_t N = sz[0];
          if (isGlu(act) && N % 2) ++N;
          const bool ba = (N + sz[1]) % 3 == 0;
          Case c = makeCase(rng, lay, N, sz[1], DType::F32, DType::F32, DType::F32, act, GluLayout(gl), ba, !ba);
          std::snprintf(what, sizeof what, "%s/%s rows=%lld E=%zu N=%lld K=%lld f32", an(act),
                        gl ? "interleaved" : "halves", (long long)c.off.back(), lay.size(), (long long)N,
                        (long long)sz[1]);
          validate(what, c, paths);
        }
  // Every dtype combination, with and without bias / addend, a GLU and a plain activation.
  for (DType ad : dts)
    for (DType wd : dts)
      for (DType od : dts)
        for (Activation act : {Activation::Swiglu, Activation::Gelu})
          for (const auto& lay : {std::vector<int64_t>{1}, std::vector<int64_t>{7, 0, 2},
                                  std::vector<int64_t>{255}, std::vector<int64_t>{40, 19}})
            for (bool extras : {false, true}) {
              Case c = makeCase(rng, lay, 34, 127, ad, wd, od, act, GluLayout::Halves, extras, extras);
              std::snprintf(what, sizeof what, "%s a=%s w=%s out=%s rows=%lld extras=%d", an(act), dn(ad), dn(wd),
                            dn(od), (long long)c.off.back(), extras);
              validate(what, c, paths);
            }
  // Long K (several K blocks), a Qwen3-like slice.
  for (DType wd : dts) {
    Case c = makeCase(rng, {37, 3, 0, 70}, 48, 2600, wd == DType::F32 ? DType::F32 : DType::BF16, wd, DType::F32,
                      Activation::Swiglu, GluLayout::Interleaved, true, true);
    std::snprintf(what, sizeof what, "long K=2600 w=%s", dn(wd));
    validate(what, c, paths);
  }
  // Several column blocks of 32 tiles with several K blocks (partial sums between blocks).
  for (Activation act : {Activation::None, Activation::Geglu}) {
    Case c = makeCase(rng, {255, 9}, 1040, 1100, DType::F32, DType::BF16, DType::F32, act, GluLayout::Halves,
                      true, false);
    std::snprintf(what, sizeof what, "column blocks N=1040 K=1100 rows=264 %s", an(act));
    validate(what, c, paths);
  }
  // Special values: NaN / ±inf in A propagate as in the reference (checked by hand, not by norm).
  {
    Case c = makeCase(rng, {20}, 16, 40, DType::F32, DType::F32, DType::F32, Activation::Silu, GluLayout::Halves,
                      false, false);
    c.a.f32[0] = NAN; c.a.f32[40] = INFINITY; c.a.f32[80] = -INFINITY;
    for (SimdPath p : paths) {
      Buf o; bool g; runCase(c, p, 2, o, g);
      const float* y = o.f32.data() + 16;
      bool ok = g;
      for (int j = 0; j < 16; ++j) {  // row 0 all NaN; rows 1, 2: ±inf or NaN (inf - inf); row 3 finite
        ok &= std::isnan(y[j]);
        ok &= std::isfinite(y[3 * 16 + j]);
      }
      ++g_cases;
      if (!ok) { ++g_fail; std::printf("FAIL %s special values\n", cpu::simdPathName(p)); }
    }
  }
  // Inconsistent shapes are rejected and nothing is written.
  {
    Case c = makeCase(rng, {3, 4}, 8, 8, DType::F32, DType::F32, DType::F32, Activation::None, GluLayout::Halves,
                      false, false);
    c.off[2] = 6;  // offsets end != rows
    Buf o; bool g;
    GroupedGemmArgs ga{};
    ++g_cases;
    ga.a = view(c.a.data(), DType::F32, {7, 8}); ga.w = view(c.w.data(), DType::F32, {2, 8, 8});
    ga.offsets = c.off.data(); ga.experts = 2; ga.out = view(c.a.data(), DType::F32, {7, 8});
    if (cpu::groupedGemm(ga) != Status::InvalidArgument) { ++g_fail; std::printf("FAIL bad offsets accepted\n"); }
    (void)o; (void)g;
  }
  std::printf("validation: %d (case, path) checks, %d failures\n", g_cases, g_fail);
  for (SimdPath p : paths)
    std::printf("  %-7s max relative norm error: f32 %.2e (tol 1e-5), with half types %.2e (tol 1e-2)\n",
                cpu::simdPathName(p), g_maxErr[int(p)][0], g_maxErr[int(p)][1]);
}

// ---------------------------------------------------------------------------------------------------------
// Clocks (the machine's ceilings are native/cpu/ceilings.cpp's, as the JS benchmarks measure them)

static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
// CPU time of the calling thread: with one thread every kernel runs on the caller, and this clock does not
// count the time other processes hold the core (helpers build on the same 2 cores while we measure).
static double cpuNow(clockid_t clock = CLOCK_THREAD_CPUTIME_ID) {
  timespec ts;
  clock_gettime(clock, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// ---------------------------------------------------------------------------------------------------------
// Model shapes

struct Model { const char* name; int64_t E, topk, H, I; };

// Realistic random routing: mildly uneven expert popularity (log-normal, sigma 0.5), top-k distinct.
static std::vector<int32_t> route(std::mt19937& rng, int64_t T, const Model& m) {
  std::vector<double> pop(size_t(m.E));
  std::normal_distribution<double> nd(0, 0.5);
  for (auto& p : pop) p = std::exp(nd(rng));
  std::vector<int64_t> counts(size_t(m.E), 0);
  for (int64_t t = 0; t < T; ++t) {
    std::vector<double> w = pop;
    for (int64_t j = 0; j < m.topk; ++j) {
      std::discrete_distribution<int> dd(w.begin(), w.end());
      const int e = dd(rng);
      ++counts[size_t(e)];
      w[size_t(e)] = 0;
    }
  }
  return offsetsFrom(counts);
}

struct Timing { double ms, gflops, gbs, cpuMsPerThread; };

static double g_peak[3], g_bw[3];
static int g_reps = 7;
static std::vector<int64_t> g_T = {1, 32, 512};
static std::vector<int> g_threads = {1, 2};

// Median over reps; each rep gets a fresh routing so decode touches other experts (weights beyond L3).
static Timing timeGemm(const Model& m, int64_t N, int64_t K, Activation act, const Buf& w, DType ad, int64_t T,
                       int threads, SimdPath path) {
  std::mt19937 rng(42);
  const int64_t R = T * m.topk, nOut = isGlu(act) ? N / 2 : N;
  Buf a = makeBuf(ad, size_t(R * K), rng, 1.0f);
  std::vector<uint16_t> oh(size_t(R * nOut));
  cpu::setNumThreads(threads);
  std::vector<double> ms, cpuMs;
  double flops = 0, bytes = 0;
  const int reps = T >= 512 ? std::max(3, g_reps / 2) : g_reps * 3;
  for (int rep = -1; rep < reps; ++rep) {
    std::vector<int32_t> off = route(rng, T, m);
    GroupedGemmArgs g{};
    g.a = view(a.data(), ad, {R, K});
    g.w = view(const_cast<Buf&>(w).data(), w.d, {m.E, N, K});
    g.offsets = off.data(); g.experts = m.E; g.act = act; g.glu = GluLayout::Halves;
    g.out = view(oh.data(), DType::BF16, {R, nOut});
    const double t0 = threads == 1 ? cpuNow() : now(), c0 = cpuNow(CLOCK_PROCESS_CPUTIME_ID);
    if (cpu::gg::groupedGemmOnPath(g, path) != Status::Ok) { std::printf("op failed\n"); std::exit(1); }
    const double dt = (threads == 1 ? cpuNow() : now()) - t0, dc = cpuNow(CLOCK_PROCESS_CPUTIME_ID) - c0;
    if (rep < 0) continue;  // warm-up
    ms.push_back(dt * 1e3);
    cpuMs.push_back(dc * 1e3 / threads);
    double used = 0;
    for (int64_t e = 0; e < m.E; ++e) used += off[size_t(e + 1)] > off[size_t(e)] ? 1 : 0;
    flops += 2.0 * double(R) * double(N) * double(K);
    bytes += used * double(N) * double(K) * double(dtypeSize(w.d));
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpuMs.begin(), cpuMs.end());
  const double med = ms[ms.size() / 2];
  const double sumMs = [&] { double s = 0; for (double x : ms) s += x; return s; }();
  return {med, flops / (sumMs * 1e-3) / 1e9, bytes / (sumMs * 1e-3) / 1e9, cpuMs[cpuMs.size() / 2]};
}

static void benchModel(const Model& m, SimdPath path) {
  std::mt19937 rng(7);
  struct Mat { const char* name; int64_t N, K; Activation act; };
  const Mat mats[] = {{"W1 (gate+up, swiglu)", 2 * m.I, m.H, Activation::Swiglu}, {"W2 (down)", m.H, m.I, Activation::None}};
  for (const Mat& mt : mats) {
    const size_t n = size_t(m.E * mt.N * mt.K);
    std::printf("\n%s %s [E=%lld, N=%lld, K=%lld], top-%lld, %s\n", m.name, mt.name, (long long)m.E,
                (long long)mt.N, (long long)mt.K, (long long)m.topk, cpu::simdPathName(path));
    std::printf("%-16s %5s %3s %9s %9s %7s %8s %7s %10s\n", "dtypes (a x w)", "T", "thr", "ms", "GFLOP/s", "%peak",
                "GB/s W", "%bw", "cpu ms/thr");
    Buf w32; w32.d = DType::F32; w32.f32.resize(n);
    {  // fast fill: an LCG scaled to ~N(0, 1/sqrt(K)) spread; the values do not matter for timing
      uint32_t s = 12345;
      const float sc = float(1.0 / std::sqrt(double(mt.K)) * 3.4 / 2147483648.0);
      for (size_t i = 0; i < n; ++i) { s = s * 1664525u + 1013904223u; w32.f32[i] = float(int32_t(s)) * sc; }
    }
    Buf w16; w16.d = DType::BF16; w16.h.resize(n);
    for (size_t i = 0; i < n; ++i) w16.h[i] = f2h(w32.f32[i], DType::BF16);
    for (int64_t T : g_T) {
      for (int thr : g_threads) {
        struct Combo { const char* name; DType a; const Buf* w; };
        const Combo combos[] = {{"f32 x f32", DType::F32, &w32}, {"bf16 x bf16", DType::BF16, &w16},
                                {"f32 x bf16", DType::F32, &w16}};
        for (const Combo& c : combos) {
          const Timing t = timeGemm(m, mt.N, mt.K, mt.act, *c.w, c.a, T, thr, path);
          std::printf("%-16s %5lld %3d %9.3f %9.1f %6.1f%% %8.2f %6.1f%% %10.3f\n", c.name, (long long)T, thr, t.ms,
                      t.gflops, 100 * t.gflops / g_peak[thr], t.gbs, 100 * t.gbs / g_bw[thr], t.cpuMsPerThread);
          std::fflush(stdout);
        }
      }
    }
  }
}

int main(int argc, char** argv) {
  bool validateOnly = false, mixtral = true, qwen = true;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    if (s == "--validate") validateOnly = true;
    else if (s == "--no-mixtral") mixtral = false;
    else if (s == "--reps" && i + 1 < argc) g_reps = std::atoi(argv[++i]);
    else if (s == "--T" && i + 1 < argc) g_T = {std::atoll(argv[++i])};
    else if (s == "--threads" && i + 1 < argc) g_threads = {std::atoi(argv[++i])};
    else if (s == "--skip-validation") g_skipValidation = true;
    else if (s == "--only" && i + 1 < argc) { const std::string o = argv[++i]; qwen = o == "qwen3"; mixtral = o == "mixtral"; }
  }
  std::vector<SimdPath> paths = {SimdPath::Scalar};
  if (cpu::bestSimdPath() >= SimdPath::Avx2) paths.push_back(SimdPath::Avx2);
  if (cpu::bestSimdPath() >= SimdPath::Avx512) paths.push_back(SimdPath::Avx512);
  if (!g_skipValidation) validateAll(paths);
  if (g_fail) return 1;
  if (validateOnly) return 0;

  for (int t : {1, 2}) {
    // On CPU time (other processes share these 2 cores), as the 1-thread timings below are.
    g_peak[t] = cpu::fmaPeak(t, 600).cpuGflops;
    g_bw[t] = cpu::readBandwidth(int64_t(1) << 30, t, 5);
    std::printf("machine, %d thread(s): f32 FMA peak %.1f GFLOP/s, read bandwidth %.1f GB/s\n", t, g_peak[t], g_bw[t]);

  }
  std::printf("ms: median; 1 thread: the caller's CPU time (other processes share these cores), 2 threads: wall\n"
              "clock; GFLOP/s and GB/s from the mean; cpu ms/thr: process CPU time / threads (what 2 threads\n"
              "would take with perfect balance and no contention: a lower bound)\n");
  const SimdPath best = cpu::bestSimdPath();
  if (qwen) benchModel({"Qwen3-30B-A3B", 128, 8, 2048, 768}, best);
  if (mixtral) benchModel({"Mixtral-8x7B", 8, 2, 4096, 14336}, best);
  return 0;
}
