/*
unpermute (combine): out[t] = Σ_j w[t,j] · E_{ids[t,j]}(u_t) + shared[t] + residual[t], against a CPU
reference (float64) in this file.

Compile (from the repository root):
  nvcc -O3 -arch=sm_90 -std=c++17 -o /tmp/unpermute_bench benchmarks/cuda/unpermute.cu native/cuda/unpermute.cu
Run: /tmp/unpermute_bench [--quick]

Validation covers FFN rows, empty slots, zero / copy / constant experts (MoE++), FFN ids without a row
(expert parallelism), shared expert and residual, f32 / bf16 / f16 in and out, on poisoned outputs
(norm-wise < 1e-5 for f32, < 1e-2 with half types). Timing: GB/s of y rows, x, residual read and out
written, next to the D2D copy bandwidth.
*/

#include "common.h"
#include "../../native/cuda/unpermute.cuh"

using namespace moe::cuda;
using moe::DType;

struct Case {
  const char* label;
  int T, K, H;
  DType dt;
  bool specials, shared, residual;
  double input_scale;
};

// MoE++ layout for the special cases: FFN experts 0..F-1, constants F, F+1, copy F+2, zero F+3.
constexpr int kFfn = 16;

static float rounded(float v, DType dt) {
  return dt == DType::F32 ? v : dt == DType::BF16 ? host_bf16_to_f32(host_f32_to_bf16(v)) : host_f16_to_f32(host_f32_to_f16(v));
}
static void* upload(const std::vector<float>& v, DType dt) {
  if (dt == DType::F32) return to_device(v);
  std::vector<uint16_t> b(v.size());
  for (size_t i = 0; i < v.size(); ++i) b[i] = dt == DType::BF16 ? host_f32_to_bf16(v[i]) : host_f32_to_f16(v[i]);
  return to_device(b);
}
static std::vector<float> download(const void* d, DType dt, size_t n) {
  if (dt == DType::F32) return to_host(static_cast<const float*>(d), n);
  const auto b = to_host(static_cast<const uint16_t*>(d), n);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = dt == DType::BF16 ? host_bf16_to_f32(b[i]) : host_f16_to_f32(b[i]);
  return v;
}

static bool run(const Case& c, uint64_t seed, double d2d) {
  Rng rng(seed);
  const int T = c.T, K = c.K, H = c.H;
  const int total = kFfn + (c.specials ? 4 : 0);
  std::vector<int> ids(size_t(T) * K, -1), s2r(size_t(T) * K, -1);
  std::vector<float> w(size_t(T) * K);
  int rows = 0;
  for (int t = 0; t < T; ++t) {
    std::vector<int> pool(total);
    for (int e = 0; e < total; ++e) pool[e] = e;
    for (int j = 0; j < K; ++j) {
      std::swap(pool[j], pool[j + rng.below(total - j)]);
      const size_t s = size_t(t) * K + j;
      ids[s] = rng.below(10) == 0 ? -1 : pool[j];
      w[s] = float(rng.uniform());
      // FFN ids get a row, except some that live on another rank (no row: they add nothing).
      if (ids[s] >= 0 && ids[s] < kFfn && rng.below(8) != 0) s2r[s] = rows++;
    }
  }
  // Rows in a shuffled order, as permute would lay them out by expert.
  std::vector<int> perm(rows);
  for (int r = 0; r < rows; ++r) perm[r] = r;
  for (int r = rows - 1; r > 0; --r) std::swap(perm[r], perm[rng.below(r + 1)]);
  for (int& r : s2r)
    if (r >= 0) r = perm[r];
  auto randv = [&](size_t n, DType dt) {
    std::vector<float> v(n);
    for (auto& x : v) x = rounded(float(rng.normal()), dt);
    return v;
  };
  const std::vector<float> y = randv(size_t(rows) * H, c.dt), x = randv(size_t(T) * H, c.dt);
  const std::vector<float> sh = randv(size_t(T) * H, c.dt), res = randv(size_t(T) * H, c.dt);
  std::vector<float> wc = randv(size_t(2) * 2 * H, DType::F32), v = randv(size_t(2) * H, DType::F32);
  for (auto& q : wc) q *= 0.05f;

  // CPU reference (lib/reference/unpermute.ts).
  std::vector<double> ref(size_t(T) * H);
  for (int t = 0; t < T; ++t) {
    std::vector<double> acc(H, 0.0), u(H);
    for (int h = 0; h < H; ++h) u[h] = c.input_scale * x[size_t(t) * H + h];
    for (int j = 0; j < K; ++j) {
      const size_t s = size_t(t) * K + j;
      const int id = ids[s];
      if (s2r[s] >= 0) {
        for (int h = 0; h < H; ++h) acc[h] += w[s] * double(y[size_t(s2r[s]) * H + h]);
      } else if (c.specials && id == kFfn + 2) {
        for (int h = 0; h < H; ++h) acc[h] += w[s] * u[h];
      } else if (c.specials && (id == kFfn || id == kFfn + 1)) {
        const int ci = id - kFfn;
        double l0 = 0, l1 = 0;
        for (int h = 0; h < H; ++h) l0 += double(wc[(ci * 2) * H + h]) * u[h], l1 += double(wc[(ci * 2 + 1) * H + h]) * u[h];
        const double m = std::max(l0, l1), e0 = std::exp(l0 - m), e1 = std::exp(l1 - m);
        for (int h = 0; h < H; ++h) acc[h] += w[s] * (e0 / (e0 + e1) * u[h] + e1 / (e0 + e1) * v[size_t(ci) * H + h]);
      }
    }
    for (int h = 0; h < H; ++h) {
      double o = acc[h];
      if (c.shared) o += sh[size_t(t) * H + h];
      if (c.residual) o += res[size_t(t) * H + h];
      ref[size_t(t) * H + h] = o;
    }
  }

  const std::vector<int32_t> sp_ids = {kFfn, kFfn + 1, kFfn + 2, kFfn + 3};
  const std::vector<int32_t> sp_kind = {0, 1, kUnpermuteCopy, kUnpermuteZero};
  UnpermuteParams p;
  p.tokens = T;
  p.hidden = H;
  p.kmax = K;
  p.rows = rows;
  p.y = upload(y, c.dt);
  p.y_dtype = c.dt;
  p.ids = to_device(std::vector<int32_t>(ids.begin(), ids.end()));
  p.weights = to_device(w);
  p.slot_to_row = to_device(std::vector<int32_t>(s2r.begin(), s2r.end()));
  if (c.specials) {
    p.special_ids = to_device(sp_ids);
    p.special_kind = to_device(sp_kind);
    p.n_special = 4;
    p.n_constant = 2;
    p.wc = to_device(wc);
    p.v = to_device(v);
  }
  p.x = upload(x, c.dt);
  p.x_dtype = c.dt;
  p.input_scale = c.input_scale;
  if (c.shared) p.shared = upload(sh, c.dt), p.shared_dtype = c.dt;
  if (c.residual) p.residual = upload(res, c.dt), p.residual_dtype = c.dt;
  const size_t out_bytes = size_t(T) * H * (c.dt == DType::F32 ? 4 : 2);
  cudaCheck(cudaMalloc(&p.out, std::max<size_t>(1, out_bytes)));
  poison(p.out, out_bytes);
  p.out_dtype = c.dt;
  cudaCheckLaunch(unpermute_launch(p, 0));
  const double err = rel_err(download(p.out, c.dt, size_t(T) * H), ref);
  const bool ok = err < (c.dt == DType::F32 ? 1e-5 : 1e-2);
  std::printf("%-40s T=%-6d K=%-2d H=%-5d %-4s %s (err %.1e)\n", c.label, T, K, H,
              c.dt == DType::F32 ? "f32" : c.dt == DType::BF16 ? "bf16" : "f16", ok ? "OK" : "FAIL", err);
  if (ok && d2d > 0) {
    const float ms = median_ms([&](int) { cudaCheck(unpermute_launch(p, 0)); });
    const size_t es = c.dt == DType::F32 ? 4 : 2;
    const double bytes = double(rows) * H * es + double(T) * H * es * (1 + c.residual + c.shared + c.specials);
    const double gbps = bytes / (ms * 1e-3) / 1e9;
    std::printf("    %8.4f ms  %7.1f GB/s  (%.0f%% of D2D copy %.0f GB/s)\n", ms, gbps, 100 * gbps / d2d, d2d);
  }
  for (const void* q : {p.y, (const void*)p.ids, (const void*)p.weights, (const void*)p.slot_to_row,
                        (const void*)p.special_ids, (const void*)p.special_kind, (const void*)p.wc, (const void*)p.v,
                        p.x, p.shared, p.residual, (const void*)p.out})
    if (q) cudaCheck(cudaFree(const_cast<void*>(q)));
  return ok;
}

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  print_device();
  bool ok = true;
  uint64_t seed = 5;
  for (int T : {1, 7, 255, 1001})
    for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
      ok = run({"mixtral k2 + residual", T, 2, 131, dt, false, false, true, 1.0}, seed++, 0) && ok;
      ok = run({"moe++ zero/copy/const, u = 2x", T, 2, 64, dt, true, false, true, 2.0}, seed++, 0) && ok;
      ok = run({"deepseek k8 + shared + residual", T, 8, 300, dt, false, true, true, 1.0}, seed++, 0) && ok;
    }
  if (!ok) {
    std::printf("VALIDATION FAILED\n");
    return 1;
  }
  std::printf("All results match. Timing.\n");
  if (quick) return 0;
  const double d2d = measure_d2d_gbps();
  // Sizes bounded by the host reference (float vectors of rows x H), not by the GPU.
  for (int T : {16, 4096, 16384}) {
    run({"mixtral k2 H4096 bf16 + residual", T, 2, 4096, DType::BF16, false, false, true, 1.0}, 1, d2d);
    if (T <= 4096) run({"deepseek-v3 k8 H7168 bf16 + shared", T, 8, 7168, DType::BF16, false, true, true, 1.0}, 2, d2d);
  }
  return 0;
}
