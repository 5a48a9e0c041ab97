/*
route: fused scores + selection + weights on the GPU, against a CPU reference in this file.

Compile (from the repository root):
  nvcc -O3 -arch=sm_90 -std=c++17 -o /tmp/route_bench benchmarks/cuda/route.cu native/cuda/route.cu \
       native/cuda/route_capacity.cu native/cuda/permute.cu
Run: /tmp/route_bench [--quick]

Cases are labelled with the model they come from. Every case is validated (ids, counts and capacity masks
exact; weights and scores norm-wise < 1e-5, SPEC §12) on poisoned outputs before anything is timed; timing
is the median of many runs over rotating inputs larger than L2, quoted as GB/s of logits read + scores and
routing written, next to the measured device-to-device copy bandwidth.
*/

#include "common.h"
#include "../../native/cuda/route.cuh"

using namespace moe::cuda;

// ----------------------------------------------------------------------------
// CPU reference (the rules of lib/reference/route*.ts: float64 math, f32-rounded scores before selection)

static bool first(float va, int ia, float vb, int ib) {
  const bool na = std::isnan(va), nb = std::isnan(vb);
  if (na != nb) return na;
  if (!na && va != vb) return va > vb;
  return ia < ib;
}
static std::vector<int> sorted(const float* v, std::vector<int> idx) {
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return first(v[a], a, v[b], b); });
  return idx;
}

struct Case {
  const char* label;
  RouteMethod method;
  int T, E, k, kmax;
  bool renorm = false;
  bool bias = false;
  int G = 1, Gk = 1, topN = 1;
  double scale = 1.0, threshold = 0.0;
  bool capacity = false;
  DropPolicy policy = DropPolicy::Position;
  double factor = 1.0;
  int edge = 0;  // 0 random, 1 all equal, 2 -inf masking, 3 NaN / +inf rows, 4 ties everywhere
};

struct Out {
  std::vector<int> ids, counts, keep, load, demand;
  std::vector<double> weights, scores;
};

static Out route_cpu(const Case& c, const std::vector<float>& z, const std::vector<float>& bias, int cap) {
  const int T = c.T, E = c.E, K = c.kmax;
  Out o;
  o.ids.assign(size_t(T) * K, -1);
  o.weights.assign(size_t(T) * K, 0.0);
  o.counts.assign(T, 0);
  o.scores.assign(size_t(T) * E, 0.0);
  std::vector<float> sc(size_t(T) * E);
  std::vector<double> gates(size_t(T) * K, 0.0);
  for (int t = 0; t < T; ++t) {
    const float* zr = &z[size_t(t) * E];
    float* s = &sc[size_t(t) * E];
    if (c.method == RouteMethod::SigmoidTopk) {
      for (int e = 0; e < E; ++e) s[e] = float(1.0 / (1.0 + std::exp(-double(zr[e]))));
    } else {
      double m = -INFINITY;
      for (int e = 0; e < E; ++e) m = (std::isnan(m) || std::isnan(zr[e])) ? NAN : std::max(m, double(zr[e]));
      double sum = 0;
      std::vector<double> ex(E);
      for (int e = 0; e < E; ++e) sum += ex[e] = std::exp(double(zr[e]) - m);
      for (int e = 0; e < E; ++e) s[e] = float(ex[e] / sum);
    }
    for (int e = 0; e < E; ++e) o.scores[size_t(t) * E + e] = s[e];
    std::vector<int> picks;
    std::vector<int> all(E);
    for (int e = 0; e < E; ++e) all[e] = e;
    const bool thr = c.method == RouteMethod::XmoeThreshold || c.method == RouteMethod::TopP;
    if (thr) {
      const std::vector<int> order = sorted(s, all);
      picks.push_back(order[0]);
      double pre = s[order[0]];
      for (int j = 1; j < K; ++j) {
        if (!(c.method == RouteMethod::TopP ? pre <= c.threshold : pre < c.threshold)) break;
        picks.push_back(order[j]);
        pre += s[order[j]];
      }
    } else {
      std::vector<float> cs(E);
      for (int e = 0; e < E; ++e) cs[e] = (c.method == RouteMethod::TopkSoftmax ? zr[e] : s[e]) + (c.bias ? bias[e] : 0.f);
      std::vector<int> allowed = all;
      if (c.G > 1) {
        const int size = E / c.G;
        std::vector<float> gs(c.G);
        std::vector<int> groups(c.G);
        for (int g = 0; g < c.G; ++g) {
          std::vector<int> mem(size);
          for (int i = 0; i < size; ++i) mem[i] = g * size + i;
          mem = sorted(cs.data(), mem);
          double sum = 0;
          for (int j = 0; j < c.topN; ++j) sum += cs[mem[j]];
          gs[g] = float(sum);
          groups[g] = g;
        }
        std::vector<int> kept = sorted(gs.data(), groups);
        kept.resize(c.Gk);
        std::sort(kept.begin(), kept.end());
        allowed.clear();
        for (int g : kept)
          for (int i = 0; i < size; ++i) allowed.push_back(g * size + i);
      }
      picks = sorted(cs.data(), allowed);
      picks.resize(c.k);
    }
    std::vector<double> raw(picks.size());
    double m = -INFINITY;
    for (int e : picks) m = (std::isnan(m) || std::isnan(zr[e])) ? NAN : std::max(m, double(zr[e]));
    double sum = 0;
    for (size_t j = 0; j < picks.size(); ++j) {
      raw[j] = c.method == RouteMethod::TopkSoftmax ? std::exp(double(zr[picks[j]]) - m) : double(s[picks[j]]);
      sum += raw[j];
    }
    for (size_t j = 0; j < picks.size(); ++j) {
      o.ids[size_t(t) * K + j] = picks[j];
      gates[size_t(t) * K + j] = c.renorm ? raw[j] / (sum + 1e-20) : raw[j];
    }
  }
  if (c.capacity) {
    o.demand.assign(E, 0);
    o.load.assign(E, 0);
    o.keep.assign(size_t(T) * K, 0);
    for (int id : o.ids)
      if (id >= 0) o.demand[id]++;
    if (c.policy == DropPolicy::Probs) {
      std::vector<std::vector<int>> by(E);
      for (int s = 0; s < T * K; ++s)
        if (o.ids[s] >= 0) by[o.ids[s]].push_back(s);
      for (auto& v : by) {
        std::stable_sort(v.begin(), v.end(), [&](int a, int b) { return first(float(gates[a]), a, float(gates[b]), b); });
        for (size_t i = 0; i < v.size() && int(i) < cap; ++i) o.keep[v[i]] = 1, o.load[o.ids[v[i]]]++;
      }
    } else {
      for (int r = 0; r < K; ++r)
        for (int t = 0; t < T; ++t) {
          const int e = o.ids[size_t(t) * K + r];
          if (e >= 0 && o.load[e] < cap) o.keep[size_t(t) * K + r] = 1, o.load[e]++;
        }
    }
    for (int s = 0; s < T * K; ++s)
      if (!o.keep[s]) o.ids[s] = -1, gates[s] = 0;
  }
  for (int t = 0; t < T; ++t)
    for (int j = 0; j < K; ++j) {
      const size_t s = size_t(t) * K + j;
      if (o.ids[s] < 0) continue;
      o.weights[s] = float(gates[s] * c.scale);
      o.counts[t]++;
    }
  return o;
}

// ----------------------------------------------------------------------------

static std::vector<float> make_logits(const Case& c, Rng& rng) {
  std::vector<float> z(size_t(c.T) * c.E);
  for (size_t i = 0; i < z.size(); ++i) {
    switch (c.edge) {
      case 1: z[i] = 0.5f; break;
      case 2: z[i] = (rng.below(3) == 0) ? -INFINITY : float(rng.normal()); break;
      case 3: z[i] = float(rng.normal()); break;
      case 4: z[i] = float(rng.below(3)); break;  // many exact ties
      default: z[i] = float(rng.normal() * 2.0);
    }
  }
  if (c.edge == 3) {
    for (int t = 0; t < c.T; t += 3) z[size_t(t) * c.E + rng.below(c.E)] = (t % 2) ? NAN : INFINITY;
  }
  if (c.edge == 2) {
    for (int t = 0; t < c.T; t += 5)
      for (int e = 0; e < c.E; ++e) z[size_t(t) * c.E + e] = -INFINITY;  // all -inf rows
  }
  return z;
}

static RouteParams params_for(const Case& c, const float* dz, const float* dbias, int cap) {
  RouteParams p;
  p.method = c.method;
  p.tokens = c.T;
  p.experts = c.E;
  p.k = c.method == RouteMethod::XmoeThreshold || c.method == RouteMethod::TopP ? 0 : c.k;
  p.kmax = c.kmax;
  p.renormalize = c.renorm;
  p.groups = c.G;
  p.topk_groups = c.Gk;
  p.group_top_n = c.topN;
  p.scale = c.scale;
  p.threshold = c.threshold;
  p.logits = dz;
  p.bias = c.bias ? dbias : nullptr;
  p.capacity = c.capacity;
  p.policy = c.policy;
  p.cap = cap;
  return p;
}

struct DevOut {
  int32_t *ids, *counts, *sel, *keep, *load, *demand;
  float *weights, *scores;
  void* ws;
  size_t ws_bytes;
};

static DevOut alloc_out(const Case& c, const RouteParams& p) {
  DevOut d{};
  const size_t slots = size_t(c.T) * c.kmax;
  cudaCheck(cudaMalloc(&d.ids, std::max<size_t>(1, slots) * 4));
  cudaCheck(cudaMalloc(&d.weights, std::max<size_t>(1, slots) * 4));
  cudaCheck(cudaMalloc(&d.sel, std::max<size_t>(1, slots) * 4));
  cudaCheck(cudaMalloc(&d.keep, std::max<size_t>(1, slots) * 4));
  cudaCheck(cudaMalloc(&d.counts, std::max(1, c.T) * 4));
  cudaCheck(cudaMalloc(&d.scores, std::max<size_t>(1, size_t(c.T) * c.E) * 4));
  cudaCheck(cudaMalloc(&d.load, c.E * 4));
  cudaCheck(cudaMalloc(&d.demand, c.E * 4));
  d.ws_bytes = route_workspace_bytes(p);
  cudaCheck(cudaMalloc(&d.ws, std::max<size_t>(1, d.ws_bytes)));
  poison(d.ids, slots * 4);
  poison(d.weights, slots * 4);
  poison(d.counts, size_t(c.T) * 4);
  poison(d.scores, size_t(c.T) * c.E * 4);
  return d;
}
static void bind(RouteParams& p, const DevOut& d) {
  p.ids = d.ids;
  p.weights = d.weights;
  p.counts = d.counts;
  p.scores = d.scores;
  p.selected_ids = d.sel;
  p.keep = d.keep;
  p.load = d.load;
  p.demand = d.demand;
}
static void free_out(DevOut& d) {
  for (void* q : {(void*)d.ids, (void*)d.weights, (void*)d.sel, (void*)d.keep, (void*)d.counts, (void*)d.scores,
                  (void*)d.load, (void*)d.demand, d.ws})
    cudaCheck(cudaFree(q));
}

static bool check_case(const Case& c, uint64_t seed) {
  Rng rng(seed);
  const std::vector<float> z = make_logits(c, rng);
  std::vector<float> bias(c.E);
  for (auto& b : bias) b = float(rng.normal() * 0.1);
  const int cap = c.capacity ? std::max(1, int(std::ceil(double(c.kmax) * c.T * c.factor / c.E))) : 0;
  const Out ref = route_cpu(c, z, bias, cap);
  float* dz = to_device(z);
  float* db = to_device(bias);
  RouteParams p = params_for(c, dz, db, cap);
  DevOut d = alloc_out(c, p);
  bind(p, d);
  cudaCheckLaunch(route_launch(p, d.ws, d.ws_bytes, 0));
  const size_t slots = size_t(c.T) * c.kmax;
  const auto ids = to_host(d.ids, slots);
  const auto counts = to_host(d.counts, c.T);
  const auto w = to_host(d.weights, slots);
  const auto sc = to_host(d.scores, size_t(c.T) * c.E);
  bool ok = ids == std::vector<int32_t>(ref.ids.begin(), ref.ids.end()) &&
            counts == std::vector<int32_t>(ref.counts.begin(), ref.counts.end());
  const double ew = rel_err(w, ref.weights), es = rel_err(sc, ref.scores);
  ok = ok && ew < 1e-5 && es < 1e-5;
  if (c.capacity) {
    ok = ok && to_host(d.keep, slots) == std::vector<int32_t>(ref.keep.begin(), ref.keep.end()) &&
         to_host(d.load, c.E) == std::vector<int32_t>(ref.load.begin(), ref.load.end()) &&
         to_host(d.demand, c.E) == std::vector<int32_t>(ref.demand.begin(), ref.demand.end());
  }
  std::printf("%-44s T=%-6d E=%-4d kmax=%-4d %s (weights %.1e, scores %.1e)\n", c.label, c.T, c.E, c.kmax,
              ok ? "OK  " : "FAIL", ew, es);
  free_out(d);
  cudaCheck(cudaFree(dz));
  cudaCheck(cudaFree(db));
  return ok;
}

static void time_case(const Case& c, double d2d) {
  Rng rng(7);
  const std::vector<float> z = make_logits(c, rng);
  const size_t bytes_in = z.size() * 4;
  const int rot = rotations_for(bytes_in * 2);
  std::vector<float*> dz(rot);
  for (auto& q : dz) q = to_device(z);
  std::vector<float> bias(c.E, 0.f);
  float* db = to_device(bias);
  const int cap = c.capacity ? std::max(1, int(std::ceil(double(c.kmax) * c.T * c.factor / c.E))) : 0;
  RouteParams p = params_for(c, dz[0], db, cap);
  DevOut d = alloc_out(c, p);
  bind(p, d);
  const float ms = median_ms([&](int i) {
    p.logits = dz[i % rot];
    cudaCheck(route_launch(p, d.ws, d.ws_bytes, 0));
  });
  const double bytes = double(bytes_in) * 2 + double(c.T) * c.kmax * 8 + double(c.T) * 4;
  const double gbps = bytes / (ms * 1e-3) / 1e9;
  std::printf("%-44s T=%-6d E=%-4d %8.4f ms  %7.1f GB/s  (%.0f%% of D2D copy %.0f GB/s)\n", c.label, c.T, c.E, ms,
              gbps, 100 * gbps / d2d, d2d);
  free_out(d);
  for (auto q : dz) cudaCheck(cudaFree(q));
  cudaCheck(cudaFree(db));
}

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  print_device();
  std::vector<Case> cases;
  for (int T : {1, 7, 255, 4097}) {
    cases.push_back({"mixtral softmax top-2 renorm", RouteMethod::SoftmaxTopk, T, 8, 2, 2, true});
    cases.push_back({"qwen3 softmax top-8 renorm", RouteMethod::SoftmaxTopk, T, 128, 8, 8, true});
    cases.push_back({"switch top-1 (no renorm), kmax 3", RouteMethod::SoftmaxTopk, T, 61, 1, 3});
    cases.push_back({"smoe-dropout topk_softmax k=5", RouteMethod::TopkSoftmax, T, 33, 5, 5, true});
    Case ds{"deepseek-v3 sigmoid G8/4 bias r2.5", RouteMethod::SigmoidTopk, T, 256, 8, 8, true, true, 8, 4, 2, 2.5};
    cases.push_back(ds);
    cases.push_back({"xmoe threshold 0.9", RouteMethod::XmoeThreshold, T, 64, 0, 64, false, false, 1, 1, 1, 1.0, 0.9});
    cases.push_back({"dynamic-moe top_p 0.4, kmax 5", RouteMethod::TopP, T, 40, 0, 5, false, false, 1, 1, 1, 1.0, 0.4});
    Case cp{"gshard top-2 capacity position", RouteMethod::SoftmaxTopk, T, 16, 2, 2};
    cp.capacity = true;
    cp.factor = 0.6;
    cases.push_back(cp);
    cp.label = "v-moe top-2 capacity probs";
    cp.policy = DropPolicy::Probs;
    cases.push_back(cp);
    cases.push_back({"E=1024 top-32", RouteMethod::SoftmaxTopk, T, 1024, 32, 32, true});
    cases.push_back({"E=997 (odd) top-3", RouteMethod::SoftmaxTopk, T, 997, 3, 3, true});
  }
  for (int edge = 1; edge <= 4; ++edge) {
    Case c{"edge: all equal", RouteMethod::SoftmaxTopk, 37, 24, 4, 4, true};
    c.label = edge == 1 ? "edge: all-equal logits" : edge == 2 ? "edge: -inf masking, all -inf rows"
              : edge == 3 ? "edge: NaN / +inf rows" : "edge: integer logits (ties)";
    c.edge = edge;
    cases.push_back(c);
    Case s = c;
    s.method = RouteMethod::SigmoidTopk;
    s.G = 4;
    s.Gk = 2;
    s.bias = edge != 3;
    s.topN = 2;
    cases.push_back(s);
    Case x = c;
    x.method = RouteMethod::XmoeThreshold;
    x.k = 0;
    x.kmax = 24;
    x.threshold = 0.75;
    x.renorm = false;
    cases.push_back(x);
  }
  bool ok = true;
  uint64_t seed = 1;
  for (const Case& c : cases) ok = check_case(c, seed++) && ok;
  if (!ok) {
    std::printf("VALIDATION FAILED\n");
    return 1;
  }
  std::printf("All results match. Timing.\n");
  if (quick) return 0;
  const double d2d = measure_d2d_gbps();
  for (int T : {1, 64, 4096, 65536}) {
    time_case({"mixtral E8 k2", RouteMethod::SoftmaxTopk, T, 8, 2, 2, true}, d2d);
    time_case({"qwen3 E128 k8", RouteMethod::SoftmaxTopk, T, 128, 8, 8, true}, d2d);
    time_case({"deepseek-v3 E256 k8 G8/4", RouteMethod::SigmoidTopk, T, 256, 8, 8, true, true, 8, 4, 2, 2.5}, d2d);
    time_case({"xmoe E64 t0.9", RouteMethod::XmoeThreshold, T, 64, 0, 64, false, false, 1, 1, 1, 1.0, 0.9}, d2d);
  }
  return 0;
}
