/*
router_stats (+ convert): per-expert counts and probability sums, z-loss and entropy sums; and the f32 <->
bf16 / f16 conversions. CPU references in this file.

Compile (from the repository root):
  nvcc -O3 -arch=sm_90 -std=c++17 -o /tmp/router_stats_bench benchmarks/cuda/router_stats.cu \
       native/cuda/router_stats.cu native/cuda/convert.cu
Run: /tmp/router_stats_bench [--quick]

Validation: counts exact, float sums relative 1e-9 (both float64), conversions bit-exact (NaN, inf,
subnormals, ties); then timing as GB/s next to the D2D copy bandwidth.
*/

#include "common.h"
#include "../../native/cuda/convert.cuh"
#include "../../native/cuda/router_stats.cuh"

using namespace moe::cuda;
using moe::DType;

static bool stats_case(int T, int K, int E, bool normalize, bool mask, bool logits, uint64_t seed, double d2d) {
  Rng rng(seed);
  std::vector<int32_t> ids(size_t(T) * K, -1);
  std::vector<float> sc(size_t(T) * E), z(size_t(T) * E);
  std::vector<uint8_t> m(T, 1);
  for (int t = 0; t < T; ++t) {
    double sum = 0;
    for (int e = 0; e < E; ++e) z[size_t(t) * E + e] = float(rng.normal()), sum += std::exp(z[size_t(t) * E + e]);
    for (int e = 0; e < E; ++e) sc[size_t(t) * E + e] = float(std::exp(z[size_t(t) * E + e]) / sum);
    for (int j = 0; j < K; ++j) ids[size_t(t) * K + j] = rng.below(4) == 0 ? -1 : (j * 7 + rng.below(3)) % E;
    if (mask) m[t] = rng.below(5) != 0;
  }
  if (T > 3) z[size_t(2) * E] = -INFINITY;  // a -inf logit is allowed
  // CPU reference (lib/reference/router_stats.ts).
  std::vector<int> cnt(E, 0), top1(E, 0);
  std::vector<double> ps(E, 0.0);
  double zsq = 0, ent = 0;
  long long used = 0, sel = 0;
  for (int t = 0; t < T; ++t) {
    if (!m[t]) continue;
    ++used;
    for (int j = 0; j < K; ++j) {
      const int id = ids[size_t(t) * K + j];
      if (id < 0) continue;
      cnt[id]++, ++sel;
      if (j == 0) top1[id]++;
    }
    double d = 1;
    if (normalize) {
      double s = 0;
      for (int e = 0; e < E; ++e) s += sc[size_t(t) * E + e];
      d = s + 1e-20;
    }
    for (int e = 0; e < E; ++e) {
      const double p = sc[size_t(t) * E + e] / d;
      ps[e] += p;
      if (p != 0) ent -= p * std::log(p);
    }
    double mx = -INFINITY;
    for (int e = 0; e < E; ++e) mx = std::max(mx, double(z[size_t(t) * E + e]));
    double se = 0;
    for (int e = 0; e < E; ++e) se += std::exp(z[size_t(t) * E + e] - mx);
    zsq += (mx + std::log(se)) * (mx + std::log(se));
  }
  RouterStatsParams p;
  p.tokens = T;
  p.kmax = K;
  p.experts = E;
  p.ids = to_device(ids);
  p.scores = to_device(sc);
  p.logits = logits ? to_device(z) : nullptr;
  p.normalize_scores = normalize;
  p.token_mask = mask ? to_device(m) : nullptr;
  cudaCheck(cudaMalloc(&p.counts, E * 4));
  cudaCheck(cudaMalloc(&p.top1_counts, E * 4));
  cudaCheck(cudaMalloc(&p.prob_sum, E * 4));
  cudaCheck(cudaMalloc(&p.scalars, sizeof(RouterStatsScalars)));
  poison(p.prob_sum, E * 4);
  const size_t wsb = router_stats_workspace_bytes(p);
  void* ws = nullptr;
  cudaCheck(cudaMalloc(&ws, std::max<size_t>(1, wsb)));
  cudaCheckLaunch(router_stats_launch(p, ws, wsb, 0));
  RouterStatsScalars s{};
  cudaCheck(cudaMemcpy(&s, p.scalars, sizeof(s), cudaMemcpyDeviceToHost));
  const auto gps = to_host(p.prob_sum, E);
  bool ok = to_host(p.counts, E) == std::vector<int32_t>(cnt.begin(), cnt.end()) &&
            to_host(p.top1_counts, E) == std::vector<int32_t>(top1.begin(), top1.end()) && s.tokens == double(used) &&
            s.selections == double(sel);
  for (int e = 0; e < E; ++e) ok = ok && std::fabs(gps[e] - float(ps[e])) <= 1e-6 * std::fabs(ps[e]) + 1e-30;
  ok = ok && std::fabs(s.entropy_sum - ent) <= 1e-9 * std::fabs(ent) + 1e-12;
  if (logits) ok = ok && std::fabs(s.z_square_sum - zsq) <= 1e-9 * std::fabs(zsq) + 1e-12;
  std::printf("router_stats T=%-6d K=%-2d E=%-4d norm=%d mask=%d logits=%d %s\n", T, K, E, normalize, mask, logits, ok ? "OK" : "FAIL");
  if (ok && d2d > 0) {
    const float ms = median_ms([&](int) { cudaCheck(router_stats_launch(p, ws, wsb, 0)); });
    const double bytes = double(T) * E * 4 * (logits ? 2 : 1) + double(T) * K * 4;
    std::printf("    %8.4f ms  %7.1f GB/s (D2D copy %.0f GB/s)\n", ms, bytes / (ms * 1e-3) / 1e9, d2d);
  }
  for (const void* q : {(const void*)p.ids, (const void*)p.scores, (const void*)p.logits, (const void*)p.token_mask,
                        (const void*)p.counts, (const void*)p.top1_counts, (const void*)p.prob_sum,
                        (const void*)p.scalars, (const void*)ws})
    if (q) cudaCheck(cudaFree(const_cast<void*>(q)));
  return ok;
}

// Every f32 bit pattern class: random, ties for both half types, subnormals, overflow, NaN payloads.
static std::vector<float> convert_inputs(size_t n, Rng& rng) {
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t r = uint32_t(rng.next());
    switch (i % 6) {
      case 0: x[i] = bits_f32(r); break;                               // any pattern, NaNs included
      case 1: x[i] = bits_f32((r & 0xffff0000u) | 0x8000u); break;      // bf16 ties
      case 2: x[i] = bits_f32((r & 0xc7ffe000u) | 0x38001000u); break;  // f16 ties near its range
      case 3: x[i] = float(rng.normal() * 1e-6); break;                 // f16 subnormals
      case 4: x[i] = float(rng.normal() * 7e4); break;                  // f16 overflow
      default: x[i] = float(rng.normal());
    }
  }
  return x;
}

static bool convert_case(size_t n, uint64_t seed, double d2d) {
  Rng rng(seed);
  const std::vector<float> x = convert_inputs(n, rng);
  float* dx = to_device(x);
  uint16_t *db = nullptr, *dh = nullptr, *dbh = nullptr;
  float* dy = nullptr;
  cudaCheck(cudaMalloc(&db, n * 2));
  cudaCheck(cudaMalloc(&dh, n * 2));
  cudaCheck(cudaMalloc(&dbh, n * 2));
  cudaCheck(cudaMalloc(&dy, n * 4));
  cudaCheckLaunch(convert_launch(dx, DType::F32, db, DType::BF16, int64_t(n), 0));
  cudaCheckLaunch(convert_launch(dx, DType::F32, dh, DType::F16, int64_t(n), 0));
  cudaCheckLaunch(convert_launch(db, DType::BF16, dbh, DType::F16, int64_t(n), 0));
  cudaCheckLaunch(convert_launch(dh, DType::F16, dy, DType::F32, int64_t(n), 0));
  const auto b = to_host(db, n), h = to_host(dh, n), bh = to_host(dbh, n);
  const auto y = to_host(dy, n);
  bool ok = true;
  for (size_t i = 0; i < n && ok; ++i) {
    ok = b[i] == host_f32_to_bf16(x[i]) && h[i] == host_f32_to_f16(x[i]) &&
         bh[i] == host_f32_to_f16(host_bf16_to_f32(b[i])) &&
         (f32_bits(y[i]) == f32_bits(host_f16_to_f32(h[i])) || (std::isnan(y[i]) && std::isnan(host_f16_to_f32(h[i]))));
    if (!ok) std::printf("  mismatch at %zu: x bits %08x\n", i, f32_bits(x[i]));
  }
  std::printf("convert n=%-9zu f32->bf16, f32->f16, bf16->f16, f16->f32 %s\n", n, ok ? "OK" : "FAIL");
  if (ok && d2d > 0) {
    const float ms = median_ms([&](int) { cudaCheck(convert_launch(dx, DType::F32, db, DType::BF16, int64_t(n), 0)); });
    std::printf("    f32->bf16 %8.4f ms  %7.1f GB/s (D2D copy %.0f GB/s)\n", ms, double(n) * 6 / (ms * 1e-3) / 1e9, d2d);
  }
  for (void* q : {(void*)dx, (void*)db, (void*)dh, (void*)dbh, (void*)dy}) cudaCheck(cudaFree(q));
  return ok;
}

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  print_device();
  bool ok = true;
  uint64_t seed = 1;
  for (int T : {1, 7, 255, 3001}) {
    ok = stats_case(T, 2, 8, false, false, true, seed++, 0) && ok;
    ok = stats_case(T, 8, 257, true, true, true, seed++, 0) && ok;
    ok = stats_case(T, 64, 64, false, true, false, seed++, 0) && ok;
  }
  for (size_t n : {size_t(1), size_t(7), size_t(4099), size_t(1) << 20}) ok = convert_case(n, seed++, 0) && ok;
  if (!ok) {
    std::printf("VALIDATION FAILED\n");
    return 1;
  }
  std::printf("All results match. Timing.\n");
  if (quick) return 0;
  const double d2d = measure_d2d_gbps();
  stats_case(65536, 8, 256, false, false, true, 99, d2d);
  stats_case(65536, 2, 8, false, false, true, 98, d2d);
  convert_case(size_t(1) << 28, 97, d2d);
  return 0;
}
