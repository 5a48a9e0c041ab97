/*
permute: stable device-side counting sort of routed slots by expert + row gather, against a CPU reference.

Compile (from the repository root):
  nvcc -O3 -arch=sm_90 -std=c++17 -o /tmp/permute_bench benchmarks/cuda/permute.cu native/cuda/permute.cu
Run: /tmp/permute_bench [--quick]

Validation (exact: offsets, tokens per expert, slot_to_row, row_to_token and the row bits) covers odd sizes,
empty slots, zero-computation ids, an expert map, padding to a tile multiple and input scaling; then
timing of the whole op (sort + gather) as GB/s of rows read + written, next to the D2D copy bandwidth.
*/

#include "common.h"
#include "../../native/cuda/permute.cuh"

using namespace moe::cuda;
using moe::DType;

// ----------------------------------------------------------------------------
// CPU reference (lib/reference/permute.ts)

struct Ref {
  std::vector<int> offsets, tpe, slot_to_row, row_to_token;
  std::vector<uint16_t> rows16;
  std::vector<float> rows32;
  int R;
};

static Ref permute_cpu(const std::vector<int>& ids, const std::vector<int>& seg, int T, int K, int S, int align,
                       const std::vector<float>& x32, const std::vector<uint16_t>& x16, DType dt, int H, double scale) {
  Ref r;
  r.tpe.assign(S, 0);
  for (int id : ids)
    if (id >= 0 && seg[id] >= 0) r.tpe[seg[id]]++;
  r.offsets.assign(S + 1, 0);
  for (int s = 0; s < S; ++s) r.offsets[s + 1] = r.offsets[s] + (r.tpe[s] + align - 1) / align * align;
  r.R = r.offsets[S];
  r.slot_to_row.assign(size_t(T) * K, -1);
  r.row_to_token.assign(r.R, -1);
  r.rows32.assign(size_t(r.R) * H, 0.f);
  r.rows16.assign(size_t(r.R) * H, 0);
  std::vector<int> next(r.offsets.begin(), r.offsets.end() - 1);
  for (int j = 0; j < K; ++j)
    for (int t = 0; t < T; ++t) {
      const int id = ids[size_t(t) * K + j];
      if (id < 0 || seg[id] < 0) continue;
      const int row = next[seg[id]]++;
      r.slot_to_row[size_t(t) * K + j] = row;
      r.row_to_token[row] = t;
      for (int h = 0; h < H; ++h) {
        const size_t i = size_t(t) * H + h, o = size_t(row) * H + h;
        if (dt == DType::F32) {
          r.rows32[o] = scale == 1.0 ? x32[i] : float(double(x32[i]) * scale);
        } else if (scale == 1.0) {
          r.rows16[o] = x16[i];
        } else {
          const double v = double(dt == DType::BF16 ? host_bf16_to_f32(x16[i]) : host_f16_to_f32(x16[i])) * scale;
          r.rows16[o] = dt == DType::BF16 ? host_f32_to_bf16(float(v)) : host_f32_to_f16(float(v));
        }
      }
    }
  return r;
}

// ----------------------------------------------------------------------------

struct Case {
  const char* label;
  int T, K, E, total, H, align;
  DType dt;
  double scale;
  bool expert_map;
  double empty_frac;  // fraction of -1 slots
};

// Distinct ids per row in [0, total), some -1.
static std::vector<int> make_ids(const Case& c, Rng& rng) {
  std::vector<int> ids(size_t(c.T) * c.K, -1);
  for (int t = 0; t < c.T; ++t) {
    std::vector<int> pool(c.total);
    for (int e = 0; e < c.total; ++e) pool[e] = e;
    for (int j = 0; j < c.K && j < c.total; ++j) {
      const int pick = j + rng.below(c.total - j);
      std::swap(pool[j], pool[pick]);
      ids[size_t(t) * c.K + j] = rng.uniform() < c.empty_frac ? -1 : pool[j];
    }
  }
  return ids;
}

struct Dev {
  int32_t *ids, *seg, *offsets, *tpe, *s2r, *r2t, *overflow;
  void *x, *rows, *ws;
  size_t ws_bytes;
};

static PermuteParams params(const Case& c, const Dev& d, int64_t rows_capacity) {
  PermuteParams p;
  p.sort.tokens = c.T;
  p.sort.kmax = c.K;
  p.sort.ids = d.ids;
  p.sort.segment_of = d.seg;
  p.sort.segments = c.E;
  p.sort.total_experts = c.total;
  p.sort.align = c.align;
  p.sort.rows_capacity = rows_capacity;
  p.sort.offsets = d.offsets;
  p.sort.tokens_per_segment = d.tpe;
  p.sort.slot_to_row = d.s2r;
  p.sort.row_to_token = d.r2t;
  p.sort.overflow = d.overflow;
  p.hidden = c.H;
  p.x = d.x;
  p.dtype = c.dt;
  p.scale = c.scale;
  p.rows = d.rows;
  return p;
}

static Dev alloc(const Case& c, const std::vector<int>& ids, const std::vector<int>& seg, const void* x, size_t xbytes,
                 int64_t rows_capacity) {
  Dev d{};
  const size_t es = c.dt == DType::F32 ? 4 : 2;
  d.ids = to_device(ids);
  d.seg = to_device(seg);
  cudaCheck(cudaMalloc(&d.offsets, (c.E + 1) * 4));
  cudaCheck(cudaMalloc(&d.tpe, c.E * 4));
  cudaCheck(cudaMalloc(&d.s2r, std::max<size_t>(1, ids.size()) * 4));
  cudaCheck(cudaMalloc(&d.r2t, std::max<int64_t>(1, rows_capacity) * 4));
  cudaCheck(cudaMalloc(&d.overflow, 4));
  cudaCheck(cudaMalloc(&d.x, std::max<size_t>(1, xbytes)));
  cudaCheck(cudaMemcpy(d.x, x, xbytes, cudaMemcpyHostToDevice));
  cudaCheck(cudaMalloc(&d.rows, std::max<size_t>(1, size_t(rows_capacity) * c.H * es)));
  poison(d.rows, size_t(rows_capacity) * c.H * es);
  poison(d.s2r, ids.size() * 4);
  poison(d.offsets, (c.E + 1) * 4);
  poison(d.tpe, c.E * 4);
  d.ws_bytes = slot_sort_workspace_bytes(c.T, c.K, c.E);
  cudaCheck(cudaMalloc(&d.ws, std::max<size_t>(1, d.ws_bytes)));
  return d;
}
static void release(Dev& d) {
  for (void* q : {(void*)d.ids, (void*)d.seg, (void*)d.offsets, (void*)d.tpe, (void*)d.s2r, (void*)d.r2t,
                  (void*)d.overflow, d.x, d.rows, d.ws})
    cudaCheck(cudaFree(q));
}

static std::vector<int> segments_of(const Case& c, Rng& rng) {
  std::vector<int> seg(c.total, -1);
  if (c.expert_map) {
    for (int e = 0; e < c.total; ++e) seg[e] = rng.below(3) == 0 ? -1 : rng.below(c.E);  // EP: some not local
  } else {
    for (int e = 0; e < c.E; ++e) seg[e] = e;  // ids in [E, total) are zero-computation experts
  }
  return seg;
}

static bool check_case(const Case& c, uint64_t seed) {
  Rng rng(seed);
  const std::vector<int> ids = make_ids(c, rng);
  const std::vector<int> seg = segments_of(c, rng);
  std::vector<float> x32(size_t(c.T) * c.H);
  std::vector<uint16_t> x16(x32.size());
  for (size_t i = 0; i < x32.size(); ++i) {
    x32[i] = float(rng.normal());
    x16[i] = c.dt == DType::BF16 ? host_f32_to_bf16(x32[i]) : host_f32_to_f16(x32[i]);
  }
  const Ref ref = permute_cpu(ids, seg, c.T, c.K, c.E, c.align, x32, x16, c.dt, c.H, c.scale);
  const void* xh = c.dt == DType::F32 ? (const void*)x32.data() : (const void*)x16.data();
  const size_t es = c.dt == DType::F32 ? 4 : 2;
  bool ok = true;
  // Exact R (host callers), then a capacity bound (device callers): same results in the first R rows.
  for (const int64_t cap : {int64_t(ref.R), permute_rows_bound(c.T, c.K, c.E, c.align)}) {
    Dev d = alloc(c, ids, seg, xh, x32.size() * es, cap);
    const PermuteParams p = params(c, d, cap);
    cudaCheckLaunch(permute_launch(p, d.ws, d.ws_bytes, 0));
    ok = ok && to_host(d.offsets, c.E + 1) == std::vector<int32_t>(ref.offsets.begin(), ref.offsets.end());
    ok = ok && to_host(d.tpe, c.E) == std::vector<int32_t>(ref.tpe.begin(), ref.tpe.end());
    ok = ok && to_host(d.s2r, ids.size()) == std::vector<int32_t>(ref.slot_to_row.begin(), ref.slot_to_row.end());
    auto r2t = to_host(d.r2t, size_t(cap));
    r2t.resize(ref.R);
    ok = ok && r2t == std::vector<int32_t>(ref.row_to_token.begin(), ref.row_to_token.end());
    ok = ok && to_host(d.overflow, 1)[0] == 0;
    const size_t n = size_t(ref.R) * c.H;
    if (c.dt == DType::F32) {
      const auto rows = to_host(static_cast<const uint32_t*>(d.rows), n);
      for (size_t i = 0; i < n && ok; ++i) ok = rows[i] == f32_bits(ref.rows32[i]);
    } else {
      ok = ok && to_host(static_cast<const uint16_t*>(d.rows), n) == ref.rows16;
    }
    release(d);
  }
  std::printf("%-40s T=%-6d K=%-3d E=%-4d H=%-5d align=%-3d R=%-7d %s\n", c.label, c.T, c.K, c.E, c.H, c.align, ref.R,
              ok ? "OK" : "FAIL");
  return ok;
}

static void time_case(const Case& c, double d2d) {
  Rng rng(3);
  const std::vector<int> ids = make_ids(c, rng);
  const std::vector<int> seg = segments_of(c, rng);
  const size_t es = c.dt == DType::F32 ? 4 : 2;
  std::vector<uint16_t> x(size_t(c.T) * c.H * es / 2, 0x3f80);
  const int64_t cap = permute_rows_bound(c.T, c.K, c.E, c.align);
  Dev d = alloc(c, ids, seg, x.data(), x.size() * 2, cap);
  const PermuteParams p = params(c, d, cap);
  const float ms = median_ms([&](int) { cudaCheck(permute_launch(p, d.ws, d.ws_bytes, 0)); });
  int R = 0;
  cudaCheck(cudaMemcpy(&R, d.offsets + c.E, 4, cudaMemcpyDeviceToHost));
  const double bytes = double(R) * c.H * es * 2 + double(ids.size()) * 4 * 3;
  const double gbps = bytes / (ms * 1e-3) / 1e9;
  std::printf("%-40s T=%-6d K=%-2d E=%-4d H=%-5d %8.4f ms  %7.1f GB/s  (%.0f%% of D2D copy %.0f GB/s)\n", c.label, c.T,
              c.K, c.E, c.H, ms, gbps, 100 * gbps / d2d, d2d);
  release(d);
}

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  print_device();
  std::vector<Case> cases;
  for (int T : {1, 7, 255, 1031, 5000}) {
    cases.push_back({"mixtral E8 k2 f32", T, 2, 8, 8, 33, 1, DType::F32, 1.0, false, 0.0});
    cases.push_back({"qwen3 E128 k8 bf16, empty slots", T, 8, 128, 128, 64, 1, DType::BF16, 1.0, false, 0.2});
    cases.push_back({"moe++ 16 FFN + 4 special, scale 2 f16", T, 2, 16, 20, 24, 1, DType::F16, 2.0, false, 0.0});
    cases.push_back({"expert map (EP), align 16, bf16", T, 4, 12, 40, 8, 16, DType::BF16, 1.0, true, 0.1});
    cases.push_back({"align 128, scale 0.5 f32, H odd", T, 3, 5, 5, 7, 128, DType::F32, 0.5, false, 0.0});
  }
  cases.push_back({"every token to one expert", 3000, 1, 1, 1, 16, 1, DType::BF16, 1.0, false, 0.0});
  cases.push_back({"E=10000 segments (global hist)", 777, 4, 10000, 10000, 8, 8, DType::F32, 1.0, false, 0.0});
  bool ok = true;
  uint64_t seed = 11;
  for (const Case& c : cases) ok = check_case(c, seed++) && ok;
  if (!ok) {
    std::printf("VALIDATION FAILED\n");
    return 1;
  }
  std::printf("All results match. Timing.\n");
  if (quick) return 0;
  const double d2d = measure_d2d_gbps();
  for (int T : {16, 512, 8192, 32768}) {
    time_case({"mixtral E8 k2 H4096 bf16", T, 2, 8, 8, 4096, 1, DType::BF16, 1.0, false, 0.0}, d2d);
    time_case({"qwen3 E128 k8 H2048 bf16", T, 8, 128, 128, 2048, 1, DType::BF16, 1.0, false, 0.0}, d2d);
    time_case({"deepseek-v3 E256 k8 H7168 bf16 align128", T, 8, 256, 256, 7168, 128, DType::BF16, 1.0, false, 0.0}, d2d);
  }
  return 0;
}
