// route CPU harness (llm.c style): a plain C++ port of lib/reference/route*.ts (route_reference.h: std::sort
// with the reference comparator, float64 gates, V8's exp), validation of every SIMD path and thread count
// against it, bit for bit, then timings of the routers of real models at T = 4096.
//
/* Build and run from the repository root (the ISA files get their own flags, as in CMakeLists.txt):
     F="-O3 -std=c++17 -DMOE_HAVE_X86 -Inative -Inative/cpu"; mkdir -p /tmp/rb && \
     g++ $F -c native/cpu/x86/route_avx2.cpp -mavx2 -mfma -mf16c -o /tmp/rb/a2.o && \
     g++ $F -c native/cpu/x86/route_avx512.cpp -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma \
         -o /tmp/rb/a512.o && \
     g++ $F -o /tmp/rb/route_bench benchmarks/cpu/route_bench.cpp native/cpu/route.cpp \
         native/cpu/route_math.cpp native/cpu/route_select.cpp native/cpu/route_capacity.cpp \
         native/cpu/thread_pool.cpp native/cpu/cpu_features.cpp /tmp/rb/a2.o /tmp/rb/a512.o -lpthread && \
     /tmp/rb/route_bench [--cases N] [--no-bench] [--reps N] [--only SUBSTRING-OF-A-BENCH-CASE]
*/
// Validation: random cases over every method, option and edge (ties, duplicated values, -inf / NaN / +inf
// entries, all -inf rows, a large bias sending every token to one expert, E up to 1000, k up to E, T in
// {0, 1, 7, 33, 255}), each run on every path with 1 and 2 threads, guard words around every output.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <time.h>

#include "common/route.h"
#include "cpu/cpu_features.h"
#include "cpu/route_kernels.h"
#include "cpu/thread_pool.h"
#include "route_reference.h"

using namespace moe;
using cpu::SimdPath;

// ---------------------------------------------------------------------------------------------------------
// Running the kernel with guard words around every output.

constexpr int kGuard = 16;
constexpr uint32_t kGuardBits = 0x7fc0dead;

template <typename V>
struct Guarded {
  std::vector<V> buf;
  explicit Guarded(size_t n) : buf(n + 2 * kGuard) {
    for (auto& x : buf) std::memcpy(&x, &kGuardBits, 4);  // non-zero garbage, so unwritten slots show
  }
  V* data() { return buf.data() + kGuard; }
  bool guardsOk() const {
    for (int i = 0; i < kGuard; ++i) {
      if (std::memcmp(&buf[i], &kGuardBits, 4) || std::memcmp(&buf[buf.size() - 1 - i], &kGuardBits, 4)) return false;
    }
    return true;
  }
  std::vector<V> body() const { return std::vector<V>(buf.begin() + kGuard, buf.end() - kGuard); }
};

// The kernel's outputs for one case, each inside guard words.
struct Outputs {
  RouteArgs a;
  Guarded<int32_t> ids, counts, sel, keep, load, demand;
  Guarded<float> w, scores;
  explicit Outputs(const Case& c)
      : a(bound(c)), ids(a.tokens * a.kmax), counts(a.tokens), sel(a.tokens * a.kmax), keep(a.tokens * a.kmax),
        load(a.experts), demand(a.experts), w(a.tokens * a.kmax), scores(a.tokens * a.experts) {
    a.ids = ids.data(); a.weights = w.data(); a.counts = counts.data(); a.scores = scores.data();
    a.selectedIds = sel.data(); a.keep = keep.data(); a.load = load.data(); a.demand = demand.data();
  }
  Status run(SimdPath path, int threads) {
    cpu::setNumThreads(threads);
    return cpu::rt::routeOnPath(a, path);
  }
};

static bool runKernel(const Case& c, SimdPath path, int threads, Out& o, bool& guards) {
  Outputs k(c);
  const Status st = k.run(path, threads);
  guards = k.ids.guardsOk() && k.counts.guardsOk() && k.sel.guardsOk() && k.keep.guardsOk() && k.load.guardsOk() &&
           k.demand.guardsOk() && k.w.guardsOk() && k.scores.guardsOk();
  o.ids = k.ids.body(); o.counts = k.counts.body(); o.w = k.w.body();
  if (c.a.method != RouteMethod::External) o.scores = k.scores.body();
  if (c.a.capacity) { o.sel = k.sel.body(); o.keep = k.keep.body(); o.load = k.load.body(); o.demand = k.demand.body(); }
  return st == Status::Ok;
}

static bool sameF(const std::vector<float>& x, const std::vector<float>& y) {
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] != x[i] && y[i] != y[i]) continue;  // both NaN
    if (std::memcmp(&x[i], &y[i], 4)) return false;
  }
  return true;
}

static std::string diff(const Out& r, const Out& k) {
  std::string d;
  if (r.ids != k.ids) d += " ids";
  if (r.counts != k.counts) d += " counts";
  if (!sameF(r.w, k.w)) d += " weights";
  if (!sameF(r.scores, k.scores)) d += " scores";
  if (r.sel != k.sel || r.keep != k.keep || r.load != k.load || r.demand != k.demand) d += " capacity";
  return d;
}

// ---------------------------------------------------------------------------------------------------------
// Random cases.

using Rng = std::mt19937_64;
static int64_t irand(Rng& r, int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(r); }
static double urand(Rng& r) { return std::uniform_real_distribution<double>(0, 1)(r); }
template <typename V> static V pick(Rng& r, std::initializer_list<V> l) { return l.begin()[irand(r, 0, l.size() - 1)]; }

// Logits with the edge a case asks for: ties, specials, rows that underflow into exp's scalar lanes.
static void fillLogits(Rng& r, Case& c, int kind) {
  const int64_t T = c.a.tokens, E = c.a.experts;
  std::normal_distribution<float> nd(0, 2);
  c.z.resize(T * E);
  for (int64_t t = 0; t < T; ++t) {
    const bool allNegInf = kind == 6 && irand(r, 0, 3) == 0;
    const float rowConst = pick(r, {0.0f, -0.0f, 3.5f, -1.0f});
    for (int64_t e = 0; e < E; ++e) {
      float v = nd(r);
      switch (kind) {
        case 1: v = std::round(v * 2) / 2; break;                       // duplicated values
        case 2: v = rowConst; break;                                    // all-equal rows
        case 3: if (irand(r, 0, 4) == 0) v = -INFINITY; break;
        case 4: if (irand(r, 0, 20) == 0) v = NAN; break;
        case 5: if (irand(r, 0, 20) == 0) v = INFINITY; break;
        case 6: if (allNegInf) v = -INFINITY; break;
        case 7: v = pick(r, {0.0f, -0.0f, 1.0f, -1.0f, -INFINITY, v, v, v}); break;  // z = -1: sigmoid's exp(1)
        case 8: v *= 60; break;                                         // most p underflow to 0
        case 9: v *= 200; break;                                        // z - max in exp's rare lanes
        default: break;
      }
      c.z[t * E + e] = v;
    }
  }
}

static Case makeCase(Rng& r, int idx) {
  Case c;  // input pointers are set by bound()
  RouteArgs& a = c.a;
  a.method = static_cast<RouteMethod>(idx % 6);
  const int64_t E = pick<int64_t>(r, {1, 2, 3, 5, 8, 8, 16, 24, 64, 128, 256, 1000});
  int64_t T = pick<int64_t>(r, {0, 1, 7, 33, 255});
  if (E >= 256 && T > 33) T = 33 + (T & 1);
  a.tokens = T;
  a.experts = E;
  const bool topk = idx % 6 < 3;
  const int kind = static_cast<int>(irand(r, 0, 9));
  if (a.method == RouteMethod::External) {
    a.k = static_cast<int32_t>(std::min<int64_t>(E, pick<int64_t>(r, {1, 2, 8, E, irand(r, 1, E)})));
    c.extIds.resize(T * a.k);
    std::vector<int32_t> perm(E);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t e = 0; e < E; ++e) perm[e] = static_cast<int32_t>(e);
      std::shuffle(perm.begin(), perm.end(), r);
      for (int64_t j = 0; j < a.k; ++j) c.extIds[t * a.k + j] = irand(r, 0, 5) == 0 ? -1 : perm[j];
    }
    if (irand(r, 0, 1)) {
      c.extW.resize(T * a.k);
      for (auto& w : c.extW) w = static_cast<float>(urand(r));
    }
    a.renormalize = irand(r, 0, 1);
    a.kmax = static_cast<int32_t>(irand(r, 0, 3) ? a.k : irand(r, a.k, std::max<int64_t>(a.k, E)));
  } else {
    fillLogits(r, c, kind);
    if (topk) {
      a.k = static_cast<int32_t>(std::min<int64_t>(E, pick<int64_t>(r, {1, 2, 8, E, irand(r, 1, E)})));
      a.renormalize = a.method == RouteMethod::TopkSoftmax ? true : irand(r, 0, 1);
      if (irand(r, 0, 9) < 4) {
        c.bias.resize(E);
        for (auto& b : c.bias) b = static_cast<float>(urand(r) - 0.5);
        if (irand(r, 0, 2) == 0) c.bias[irand(r, 0, E - 1)] = 100.0f;  // every token to one expert
      }
      std::vector<int64_t> divisors;
      for (int64_t g = 2; g <= E; ++g) if (E % g == 0) divisors.push_back(g);
      if (a.method != RouteMethod::TopkSoftmax && !divisors.empty() && irand(r, 0, 9) < 3) {
        a.groups = static_cast<int32_t>(divisors[irand(r, 0, divisors.size() - 1)]);
        const int64_t size = E / a.groups;
        a.topkGroups = static_cast<int32_t>(irand(r, 1, a.groups));
        a.groupTopN = static_cast<int32_t>(irand(r, 0, 1) ? std::min<int64_t>(c.bias.empty() ? 1 : 2, size) : irand(r, 1, size));
        if (a.k > a.topkGroups * size) a.k = static_cast<int32_t>(irand(r, 1, a.topkGroups * size));
      }
      a.kmax = static_cast<int32_t>(irand(r, 0, 4) ? a.k : irand(r, a.k, E));
    } else {
      a.threshold = irand(r, 0, 1) ? pick(r, {0.4, 0.5, 0.75, 0.9, 1.0}) : std::max(1e-3, urand(r));
      a.kmax = static_cast<int32_t>(irand(r, 0, 2) ? E : irand(r, 1, E));
    }
    if (irand(r, 0, 4) == 0) {
      c.zeroGate.resize(E);
      for (auto& g : c.zeroGate) g = irand(r, 0, 3) == 0;
    }
    if (irand(r, 0, 4) == 0) {
      a.prune = true;
      a.pruneBeta = pick(r, {0.0, 0.5, 1.0, urand(r)});
      if (irand(r, 0, 1)) {
        c.protect.resize(T);
        c.dropAll.resize(T);
        for (int64_t t = 0; t < T; ++t) {
          const int64_t v = irand(r, 0, 9);
          c.protect[t] = v == 0;
          c.dropAll[t] = v == 1;
        }
      }
    }
  }
  if (irand(r, 0, 2) == 0) {
    a.capacity = true;
    a.dropPolicy = static_cast<RouteDropPolicy>(irand(r, 0, 2));
    const double factor = pick(r, {0.25, 0.5, 1.0, 1.25, 2.0, urand(r) * 2 + 0.01});
    const int64_t minCap = pick<int64_t>(r, {0, 0, 1, 8});
    const int64_t kCap = irand(r, 0, 1) ? a.kmax : irand(r, 1, std::max<int64_t>(a.kmax, E));
    a.cap = static_cast<int32_t>(std::min<double>(INT32_MAX, std::max<double>(minCap, std::ceil(kCap * double(T) * factor / E))));
    a.renormalizeSurvivors = irand(r, 0, 2) == 0;
  }
  a.scale = irand(r, 0, 1) ? 1.0 : pick(r, {2.5, 16.0, urand(r) * 3});
  char buf[256];
  std::snprintf(buf, sizeof buf, "#%d method=%d T=%lld E=%lld k=%d K=%d kind=%d bias=%d G=%d/%d/%d prune=%d zg=%d cap=%d/%d/%d",
                idx, int(a.method), (long long)T, (long long)E, a.k, a.kmax, kind, a.bias != nullptr, a.groups,
                a.topkGroups, a.groupTopN, a.prune, a.zeroGate != nullptr, a.capacity, int(a.dropPolicy), a.cap);
  c.what = buf;
  return c;
}

// ---------------------------------------------------------------------------------------------------------
// Timing.

// One thread: this thread's CPU time (a shared, loaded machine then costs accuracy less: time spent
// descheduled is not counted). More threads: wall time.
static double nowUs(bool cpuTime) {
  if (cpuTime) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
  }
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <typename F>
static double bestUs(int reps, F&& f, bool cpuTime = true) {
  double best = 1e300;
  for (int i = 0; i < reps; ++i) {
    const double t0 = nowUs(cpuTime);
    f();
    best = std::min(best, nowUs(cpuTime) - t0);
  }
  return best;
}

static Case benchCase(const char* name, RouteMethod m, int64_t E, int32_t k, int32_t G = 1, int32_t Gk = 1) {
  Case c;
  RouteArgs& a = c.a;
  a.method = m;
  a.tokens = 4096;
  a.experts = E;
  a.k = k;
  a.kmax = k;
  a.renormalize = true;
  Rng r(42);
  std::normal_distribution<float> nd(0, 1.5f);  // router logits of trained models sit within a few units
  c.z.resize(a.tokens * E);
  for (auto& v : c.z) v = nd(r);
  if (G > 1) {  // DeepSeek-V3: sigmoid, bias, 8 groups, 4 kept, group score = top-2 sum, r = 2.5
    c.bias.resize(E);
    for (auto& b : c.bias) b = static_cast<float>((urand(r) - 0.5) * 0.1);
    a.groups = G;
    a.topkGroups = Gk;
    a.groupTopN = 2;
    a.scale = 2.5;
  }
  c.what = name;
  return c;
}

static void bench(int reps, const std::vector<SimdPath>& paths, const char* only) {
  const int hw = cpu::hardwareThreads();
  std::printf("\nT = 4096 tokens; best of %d; ns per token (1 thread, CPU time | %d threads, wall); port = the plain reference port\n", reps, hw);
  std::printf("%-44s %10s", "case", "port");
  for (SimdPath p : paths) std::printf(" %9s-1t %7s-%dt", cpu::simdPathName(p), "", hw);
  std::printf("\n");
  std::vector<Case> cases;
  for (int64_t E : {8, 128, 256}) {
    for (int32_t k : {2, 8}) {
      char name[64];
      std::snprintf(name, sizeof name, "softmax_topk renorm E=%lld k=%d", (long long)E, k);
      cases.push_back(benchCase(name, RouteMethod::SoftmaxTopk, E, k));
    }
  }
  cases.push_back(benchCase("deepseek-v3 sigmoid bias G=8/4 E=256 k=8", RouteMethod::SigmoidTopk, 256, 8, 8, 4));
  cases.push_back(benchCase("mixtral topk_softmax E=8 k=2", RouteMethod::TopkSoftmax, 8, 2));
  {
    Case c = benchCase("xmoe_threshold t=0.9 E=128", RouteMethod::XmoeThreshold, 128, 0);
    c.a.kmax = 128;
    c.a.threshold = 0.9;
    c.a.renormalize = false;
    cases.push_back(c);
  }
  for (Case& c : cases) {
    if (only && !std::strstr(c.what.c_str(), only)) continue;
    const double T = double(c.a.tokens);
    const double port = bestUs(std::max(1, reps / 4), [&] { reference(c); });
    std::printf("%-44s %10.1f", c.what.c_str(), port * 1e3 / T);
    Outputs out(c);
    for (SimdPath p : paths) {
      for (int th : {1, hw}) {
        const double us = bestUs(reps, [&] { out.run(p, th); }, th == 1);
        std::printf(" %12.1f", us * 1e3 / T);
      }
    }
    std::printf("\n");
  }
  // The float64 exp is the cost of the scores: one softmax row alone, per path.
  if (only && !std::strstr("softmax row", only)) return;
  std::printf("\nsoftmax row alone (max, float64 exp, index-order sum, divide), ns per token:\n");
  for (int64_t E : {8, 128, 256, 1024}) {
    Case c = benchCase("", RouteMethod::SoftmaxTopk, E, 1);
    std::vector<double> e(E);
    std::vector<float> p(c.z.size());
    std::printf("  E=%-5lld", (long long)E);
    for (SimdPath path : paths) {
      const cpu::rt::RowKernels kern = path == SimdPath::Avx512 ? cpu::rt::rowKernelsAvx512()
                                       : path == SimdPath::Avx2 ? cpu::rt::rowKernelsAvx2() : cpu::rt::rowKernelsScalar();
      const double us = bestUs(reps, [&] {
        for (int64_t t = 0; t < c.a.tokens; ++t) kern.softmax(&c.z[t * E], E, e.data(), &p[t * E]);
      });
      std::printf("  %s %8.1f", cpu::simdPathName(path), us * 1e3 / double(c.a.tokens));
    }
    std::printf("\n");
  }
}

// ---------------------------------------------------------------------------------------------------------

int main(int argc, char** argv) {
  int nCases = 3000, reps = 20;
  bool doBench = true;
  const char* only = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--cases") && i + 1 < argc) nCases = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--no-bench")) doBench = false;
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
  }
  std::vector<SimdPath> paths{SimdPath::Scalar};
  if (cpu::bestSimdPath() >= SimdPath::Avx2) paths.push_back(SimdPath::Avx2);
  if (cpu::bestSimdPath() >= SimdPath::Avx512) paths.push_back(SimdPath::Avx512);

  Rng r(20240611);
  int failures = 0, runs = 0;
  for (int i = 0; i < nCases; ++i) {
    const Case c = makeCase(r, i);
    const Out ref = reference(c);
    for (SimdPath p : paths) {
      for (int th : {1, 2}) {
        Out o;
        bool guards = false;
        const bool ok = runKernel(c, p, th, o, guards);
        ++runs;
        const std::string d = ok ? diff(ref, o) : std::string(" status");
        if (!d.empty() || !guards) {
          if (++failures <= 10) {
            std::printf("FAIL %s %dt %s:%s%s\n", cpu::simdPathName(p), th, c.what.c_str(), d.c_str(), guards ? "" : " guards");
          }
        }
      }
    }
  }
  std::printf("validation: %d cases x %zu paths x 2 thread counts = %d runs, %d failures\n", nCases, paths.size(), runs, failures);
  if (doBench) bench(reps, paths, only);
  return failures ? 1 : 0;
}
