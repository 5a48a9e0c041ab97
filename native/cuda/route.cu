// route: logits [T, E] -> ids / weights [T, kmax], counts [T], scores [T, E] (SPEC §1–§4, §7, §8).
//
// route_kernel<EPT>: a warp per token row, each lane holding EPT = ceil(E/32) experts (expert i*32 + lane)
// in registers; one kernel does scores, group limit, selection, raw weights, prune, zero gates,
// renormalisation and scale. Instantiated for EPT in {1, 2, 4, 8, 16, 32} (E <= 1024), one switch.
// route_external_kernel: a thread per token for caller-supplied ids (SPEC §7).
// Capacity (SPEC §3) runs after, over all tokens, in route_capacity.cu.
//
// Exactness: scores are computed in float64 and rounded to f32 before selection, like the reference, so
// ids match it exactly; selection repeats a warp arg-best under the SPEC order (NaN first, larger first,
// lower index first), each round taking the best candidate strictly after the previous pick.

#include "route.cuh"

#include "common.cuh"
#include "route_capacity.cuh"

namespace moe::cuda {
namespace {

constexpr int kRouteWarps = 4;  // rows per 128-thread block

// Expert i*32 + lane of this lane's slot i, and whether it exists.
__device__ __forceinline__ int expert_of(int i, int lane) { return i * 32 + lane; }

// Group limit (SPEC §2.1 step 3) for one row: group score = f32(Σ of its top-N selection scores, float64 in
// selection order); the `keep` best groups survive. Returns a bitmask over this lane's EPT slots.
template <int EPT>
__device__ uint32_t kept_by_groups(const float (&cs)[EPT], int E, int G, int keep, int top_n, float* sh_cs,
                                   float* sh_gscore, int lane) {
#pragma unroll
  for (int i = 0; i < EPT; ++i) {
    const int e = expert_of(i, lane);
    if (e < E) sh_cs[e] = cs[i];
  }
  __syncwarp();
  const int size = E / G;
  for (int g = lane; g < G; g += 32) {
    double sum = 0.0;
    float pv = 0.f;
    int pi = -1;  // previous pick within the group
    for (int n = 0; n < top_n; ++n) {
      float bv = 0.f;
      int bi = -1;
      for (int e = g * size; e < (g + 1) * size; ++e) {
        const float v = sh_cs[e];
        if (pi >= 0 && !goes_first(pv, pi, v, e)) continue;
        if (bi < 0 || goes_first(v, e, bv, bi)) {
          bv = v;
          bi = e;
        }
      }
      sum += double(bv);
      pv = bv;
      pi = bi;
    }
    sh_gscore[g] = float(sum);
  }
  __syncwarp();
  uint32_t mask = 0;
  float pv = 0.f;
  int pi = -1;
  for (int n = 0; n < keep; ++n) {
    float bv = 0.f;
    int bi = -1;
    for (int g = lane; g < G; g += 32) {
      const float v = sh_gscore[g];
      if (pi >= 0 && !goes_first(pv, pi, v, g)) continue;
      if (bi < 0 || goes_first(v, g, bv, bi)) {
        bv = v;
        bi = g;
      }
    }
    warp_best(bv, bi);
#pragma unroll
    for (int i = 0; i < EPT; ++i) {
      if (expert_of(i, lane) / size == bi) mask |= 1u << i;
    }
    pv = bv;
    pi = bi;
  }
  return mask;
}

// The raw (float64) weight of expert `id`: its score, or exp(z - m) for 'topk_softmax'.
__device__ __forceinline__ double raw_weight(const RouteParams& p, int64_t row, int id, float m) {
  if (p.method != RouteMethod::TopkSoftmax) return double(p.scores[row * p.experts + id]);
  const float z = load_f32(p.logits, p.logits_dtype, row * p.experts + id);
  return exp(double(z) - double(m));
}

template <int EPT>
__global__ void __launch_bounds__(kRouteWarps * 32) route_kernel(RouteParams p, double* gates) {
  extern __shared__ float sh[];  // groups only: [warps][E + G]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t row = int64_t(blockIdx.x) * kRouteWarps + warp;
  if (row >= p.tokens) return;
  const int E = p.experts;
  const int K = p.kmax;
  const bool sigmoid = p.method == RouteMethod::SigmoidTopk;
  const bool threshold = p.method == RouteMethod::XmoeThreshold || p.method == RouteMethod::TopP;

  float z[EPT], sc[EPT];
  uint32_t valid = 0;
#pragma unroll
  for (int i = 0; i < EPT; ++i) {
    const int e = expert_of(i, lane);
    z[i] = e < E ? load_f32(p.logits, p.logits_dtype, row * E + e) : 0.f;
    if (e < E) valid |= 1u << i;
  }

  // Scores in float64, rounded to f32 (the reference's softmaxRows / sigmoidAll). A NaN or +inf in the row,
  // or a row of -inf, makes the max-subtracted softmax NaN everywhere, as IEEE arithmetic gives.
  if (sigmoid) {
#pragma unroll
    for (int i = 0; i < EPT; ++i) sc[i] = float(1.0 / (1.0 + exp(-double(z[i]))));
  } else {
    float m = -INFINITY;
#pragma unroll
    for (int i = 0; i < EPT; ++i) {
      if (valid >> i & 1u) m = nan_max(m, z[i]);
    }
    m = warp_nan_max(m);
    double ex[EPT];
    double sum = 0.0;
#pragma unroll
    for (int i = 0; i < EPT; ++i) {
      ex[i] = (valid >> i & 1u) ? exp(double(z[i]) - double(m)) : 0.0;
      sum += ex[i];
    }
    sum = warp_sum(sum);
#pragma unroll
    for (int i = 0; i < EPT; ++i) sc[i] = float(ex[i] / sum);
  }
#pragma unroll
  for (int i = 0; i < EPT; ++i) {
    if (valid >> i & 1u) p.scores[row * E + expert_of(i, lane)] = sc[i];
  }

  // Selection scores: p for the thresholds; p, s or z plus the bias (an f32 add) for the top-k methods.
  float cs[EPT];
#pragma unroll
  for (int i = 0; i < EPT; ++i) {
    const float base = p.method == RouteMethod::TopkSoftmax ? z[i] : sc[i];
    const int e = expert_of(i, lane);
    cs[i] = (!threshold && p.bias && e < E) ? __fadd_rn(base, p.bias[e]) : base;
  }
  uint32_t allowed = valid;
  if (p.groups > 1) {
    float* sh_cs = sh + warp * (E + p.groups);
    allowed &= kept_by_groups<EPT>(cs, E, p.groups, p.topk_groups, p.group_top_n, sh_cs, sh_cs + E, lane);
  }

  // Picks: each round takes the best allowed candidate strictly after the previous pick.
  int32_t* ids = p.ids + row * K;
  const int limit = threshold ? K : p.k;
  const bool inclusive = p.method == RouteMethod::TopP;
  double prefix = 0.0;  // thresholds: S_{j-1}, float64 sum of the sorted f32 p
  float pv = 0.f;
  int pi = -1;
  int n = 0;
  for (; n < limit; ++n) {
    if (threshold && n > 0 && !(inclusive ? prefix <= p.threshold : prefix < p.threshold)) break;
    float bv = 0.f;
    int bi = -1;
#pragma unroll
    for (int i = 0; i < EPT; ++i) {
      const int e = expert_of(i, lane);
      if (!(allowed >> i & 1u)) continue;
      if (pi >= 0 && !goes_first(pv, pi, cs[i], e)) continue;
      if (bi < 0 || goes_first(cs[i], e, bv, bi)) {
        bv = cs[i];
        bi = e;
      }
    }
    warp_best(bv, bi);
    if (bi < 0) break;  // cannot happen after validation (k <= allowed experts); never write garbage
    if (lane == 0) ids[n] = bi;
    prefix += double(bv);
    pv = bv;
    pi = bi;
  }
  __syncwarp();  // ids[] and scores[] written above are read back by other lanes below

  // topk_softmax weighs the picks by softmax over their logits: m = max z over the picks (NaN propagates).
  float m = -INFINITY;
  if (p.method == RouteMethod::TopkSoftmax) {
    for (int j = lane; j < n; j += 32) m = nan_max(m, load_f32(p.logits, p.logits_dtype, row * E + ids[j]));
    m = warp_nan_max(m);
  }

  // MC-MoE pruning (SPEC §8): drop-all tokens lose every slot; otherwise slot j >= 1 goes iff
  // w_j < beta * w_0; survivors move to the front in order (ballot compaction, 32 slots at a time).
  if (p.prune && n > 0) {
    if (p.prune_drop_all && p.prune_drop_all[row]) {
      n = 0;
    } else if (!(p.prune_protect && p.prune_protect[row])) {
      const double limit0 = p.prune_beta * raw_weight(p, row, ids[0], m);
      int out = 0;
      for (int j0 = 0; j0 < n; j0 += 32) {
        const int j = j0 + lane;
        const int id = j < n ? ids[j] : -1;
        const bool keep = j < n && (j == 0 || !(raw_weight(p, row, id, m) < limit0));
        const uint32_t mask = __ballot_sync(0xffffffffu, keep);
        __syncwarp();
        if (keep) ids[out + __popc(mask & ((1u << lane) - 1u))] = id;
        out += __popc(mask);
        __syncwarp();
      }
      n = out;
    }
  }

  // Gates: raw weight, zero gate, renormalisation over the survivors (float64); then scale, or keep the
  // pre-scale gates for the capacity step.
  double sum = 0.0;
  for (int j = lane; j < n; j += 32) {
    const int id = ids[j];
    sum += (p.zero_gate && p.zero_gate[id]) ? 0.0 : raw_weight(p, row, id, m);
  }
  sum = warp_sum(sum) + 1e-20;
  for (int j = lane; j < K; j += 32) {
    double g = 0.0;
    if (j < n) {
      const int id = ids[j];
      g = (p.zero_gate && p.zero_gate[id]) ? 0.0 : raw_weight(p, row, id, m);
      if (p.renormalize) g /= sum;
    } else {
      ids[j] = -1;
    }
    if (gates) {
      gates[row * K + j] = g;
    } else {
      p.weights[row * K + j] = j < n ? float(g * p.scale) : 0.f;
    }
  }
  if (lane == 0) p.counts[row] = n;
}

// 'external': ids [T, k] from the caller, weights (default 1) renormalised if asked, then scale.
__global__ void route_external_kernel(RouteParams p, double* gates) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= p.tokens) return;
  const int k = p.k, K = p.kmax;
  double sum = 0.0;
  for (int j = 0; j < k; ++j) {
    const int e = p.ext_ids[t * k + j];
    sum += e < 0 ? 0.0 : (p.ext_weights ? double(p.ext_weights[t * k + j]) : 1.0);
  }
  int count = 0;
  for (int j = 0; j < K; ++j) {
    const int e = j < k ? p.ext_ids[t * k + j] : -1;
    double g = e < 0 ? 0.0 : (p.ext_weights ? double(p.ext_weights[t * k + j]) : 1.0);
    if (p.renormalize) g /= sum + 1e-20;
    p.ids[t * K + j] = e;
    count += e >= 0;
    if (gates) {
      gates[t * K + j] = g;
    } else {
      p.weights[t * K + j] = e >= 0 ? float(g * p.scale) : 0.f;
    }
  }
  p.counts[t] = count;
}

template <int EPT>
cudaError_t launch_rows(const RouteParams& p, double* gates, cudaStream_t stream) {
  const unsigned blocks = unsigned(ceil_div64(p.tokens, kRouteWarps));
  const size_t smem = p.groups > 1 ? size_t(kRouteWarps) * (p.experts + p.groups) * sizeof(float) : 0;
  if (smem > 48 * 1024) {
    MOE_CUDA_TRY(cudaFuncSetAttribute(route_kernel<EPT>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  }
  route_kernel<EPT><<<blocks, kRouteWarps * 32, smem, stream>>>(p, gates);
  MOE_CUDA_LAUNCHED();
  return cudaSuccess;
}

}  // namespace

bool route_supported(const RouteParams& p) {
  if (p.method == RouteMethod::External) return true;
  return p.experts >= 1 && p.experts <= kRouteMaxExperts && p.logits != nullptr && p.scores != nullptr;
}

size_t route_workspace_bytes(const RouteParams& p) {
  return p.capacity ? route_capacity_workspace_bytes(p) : 0;
}

cudaError_t route_launch(const RouteParams& p, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  if (!route_supported(p)) return cudaErrorNotSupported;
  if (workspace_bytes < route_workspace_bytes(p)) return cudaErrorInvalidValue;
  if (p.tokens == 0) return p.capacity ? route_capacity_launch(p, workspace, stream) : cudaSuccess;
  double* gates = p.capacity ? route_capacity_gates(p, workspace) : nullptr;
  if (p.method == RouteMethod::External) {
    route_external_kernel<<<unsigned(ceil_div64(p.tokens, 128)), 128, 0, stream>>>(p, gates);
    MOE_CUDA_LAUNCHED();
  } else {
    const int ept = int(ceil_div64(p.experts, 32));
    cudaError_t e;
    if (ept <= 1) e = launch_rows<1>(p, gates, stream);
    else if (ept <= 2) e = launch_rows<2>(p, gates, stream);
    else if (ept <= 4) e = launch_rows<4>(p, gates, stream);
    else if (ept <= 8) e = launch_rows<8>(p, gates, stream);
    else if (ept <= 16) e = launch_rows<16>(p, gates, stream);
    else e = launch_rows<32>(p, gates, stream);
    if (e != cudaSuccess) return e;
  }
  return p.capacity ? route_capacity_launch(p, workspace, stream) : cudaSuccess;
}

}  // namespace moe::cuda
