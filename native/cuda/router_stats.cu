// router_stats (SPEC §6): counts [E], top1_counts [E], prob_sum [E] and the z-loss / entropy sums.
//
//   ids [T, K], scores [T, E], logits [T, E] (optional), token_mask [T] (optional)
//
// Deterministic without a sequential loop: integer counts use atomics (their sum does not depend on the
// order); float sums are computed per token (router_stats_token_kernel, a warp per token), then per chunk of
// tokens for each expert (router_stats_partial_kernel), then reduced in a fixed order
// (router_stats_final_kernel). All float sums are float64, like the reference; prob_sum is rounded to f32.

#include "router_stats.cuh"

#include "common.cuh"

namespace moe::cuda {
namespace {

constexpr int64_t kChunk = 256;  // tokens per partial sum
constexpr size_t kAlign = 256;
size_t aligned(size_t b) { return (b + kAlign - 1) / kAlign * kAlign; }

struct Layout {
  int64_t chunks;
  size_t denom, entropy, zsq, partial, total;
};
Layout layout(const RouterStatsParams& p) {
  Layout l{};
  l.chunks = ceil_div64(p.tokens, kChunk);
  l.denom = 0;
  l.entropy = aligned(size_t(p.tokens) * sizeof(double));
  l.zsq = l.entropy + aligned(size_t(p.tokens) * sizeof(double));
  l.partial = l.zsq + aligned(size_t(p.tokens) * sizeof(double));
  l.total = l.partial + aligned(size_t(l.chunks) * p.experts * sizeof(double));
  return l;
}

// Per token (a warp): counts, the score normaliser, entropy and logsumexp² (zeros for masked tokens).
__global__ void router_stats_token_kernel(RouterStatsParams p, double* denom, double* entropy, double* zsq) {
  const int lane = threadIdx.x & 31;
  const int64_t t = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (t >= p.tokens) return;
  const int E = p.experts, K = p.kmax;
  if (p.token_mask && p.token_mask[t] == 0) {
    if (lane == 0) denom[t] = entropy[t] = zsq[t] = 0.0;
    return;
  }
  int sel = 0;
  for (int j = lane; j < K; j += 32) {
    const int id = p.ids[t * K + j];
    if (id < 0 || id >= E) continue;  // validation rejects these; device-resident ids are not validated
    atomicAdd(&p.counts[id], 1);
    if (j == 0) atomicAdd(&p.top1_counts[id], 1);
    ++sel;
  }
  sel = warp_sum(sel);
  if (lane == 0) {
    atomicAdd(&p.scalars->tokens, 1.0);  // integer-valued doubles: exact, so the order does not matter
    atomicAdd(&p.scalars->selections, double(sel));
  }
  const float* s = p.scores + t * E;
  double d = 1.0;
  if (p.normalize_scores) {
    double sum = 0.0;
    for (int e = lane; e < E; e += 32) sum += double(s[e]);
    d = warp_sum(sum) + 1e-20;
  }
  double ent = 0.0;
  for (int e = lane; e < E; e += 32) {
    const double q = double(s[e]) / d;
    if (q != 0.0) ent -= q * log(q);  // 0 log 0 = 0; negative or NaN q makes the sum NaN, as it should
  }
  ent = warp_sum(ent);
  double lse2 = 0.0;
  if (p.logits) {
    // logsumexp, max-subtracted: NaN anywhere -> NaN; a +inf -> +inf; all -inf -> -inf.
    const float* z = p.logits + t * E;
    float m = -INFINITY;
    bool nan = false;
    for (int e = lane; e < E; e += 32) {
      nan |= z[e] != z[e];
      m = fmaxf(m, z[e]);
    }
    nan = __any_sync(0xffffffffu, nan);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    double l;
    if (nan) {
      l = __longlong_as_double(0x7ff8000000000000ll);
    } else if (isinf(m)) {
      l = double(m);
    } else {
      double se = 0.0;
      for (int e = lane; e < E; e += 32) se += exp(double(z[e]) - double(m));
      l = double(m) + log(warp_sum(se));
    }
    lse2 = l * l;
  }
  if (lane == 0) {
    denom[t] = d;
    entropy[t] = ent;
    zsq[t] = lse2;
  }
}

// partial[c][e] = Σ over the unmasked tokens of chunk c of scores[t, e] / denom[t].
__global__ void router_stats_partial_kernel(RouterStatsParams p, const double* denom, double* partial) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t c = blockIdx.y;
  if (e >= p.experts) return;
  double sum = 0.0;
  const int64_t t1 = min(int64_t(p.tokens), (c + 1) * kChunk);
  for (int64_t t = c * kChunk; t < t1; ++t) {
    if (p.token_mask && p.token_mask[t] == 0) continue;
    sum += double(p.scores[t * p.experts + e]) / denom[t];
  }
  partial[c * p.experts + e] = sum;
}

// prob_sum[e] = f32(Σ_c partial[c][e]) in chunk order; block 0 also reduces the per-token sums.
__global__ void router_stats_final_kernel(RouterStatsParams p, int64_t chunks, const double* partial,
                                          const double* entropy, const double* zsq) {
  __shared__ double sh_ent[256], sh_z[256];
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e < p.experts) {
    double sum = 0.0;
    for (int64_t c = 0; c < chunks; ++c) sum += partial[c * p.experts + e];
    p.prob_sum[e] = float(sum);
  }
  if (blockIdx.x != 0) return;
  double a = 0.0, b = 0.0;
  for (int64_t t = threadIdx.x; t < p.tokens; t += blockDim.x) {
    a += entropy[t];
    b += zsq[t];
  }
  sh_ent[threadIdx.x] = a;
  sh_z[threadIdx.x] = b;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) {
      sh_ent[threadIdx.x] += sh_ent[threadIdx.x + s];
      sh_z[threadIdx.x] += sh_z[threadIdx.x + s];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    p.scalars->entropy_sum = sh_ent[0];
    p.scalars->z_square_sum = sh_z[0];
  }
}

}  // namespace

size_t router_stats_workspace_bytes(const RouterStatsParams& p) { return layout(p).total; }

cudaError_t router_stats_launch(const RouterStatsParams& p, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  const Layout l = layout(p);
  if (workspace_bytes < l.total) return cudaErrorInvalidValue;
  const size_t E = size_t(p.experts);
  MOE_CUDA_TRY(cudaMemsetAsync(p.counts, 0, E * sizeof(int32_t), stream));
  MOE_CUDA_TRY(cudaMemsetAsync(p.top1_counts, 0, E * sizeof(int32_t), stream));
  MOE_CUDA_TRY(cudaMemsetAsync(p.scalars, 0, sizeof(RouterStatsScalars), stream));
  char* ws = static_cast<char*>(workspace);
  double* denom = reinterpret_cast<double*>(ws + l.denom);
  double* entropy = reinterpret_cast<double*>(ws + l.entropy);
  double* zsq = reinterpret_cast<double*>(ws + l.zsq);
  double* partial = reinterpret_cast<double*>(ws + l.partial);
  if (p.tokens > 0) {
    router_stats_token_kernel<<<unsigned(ceil_div64(p.tokens, 8)), 256, 0, stream>>>(p, denom, entropy, zsq);
    MOE_CUDA_LAUNCHED();
    if (E > 0) {
      if (l.chunks > 65535) return cudaErrorNotSupported;  // 16.7M tokens in one call
      const dim3 grid(unsigned(ceil_div64(int64_t(E), 256)), unsigned(l.chunks));
      router_stats_partial_kernel<<<grid, 256, 0, stream>>>(p, denom, partial);
      MOE_CUDA_LAUNCHED();
    }
  }
  const unsigned blocks = unsigned(ceil_div64(int64_t(E), 256));
  router_stats_final_kernel<<<blocks > 0 ? blocks : 1, 256, 0, stream>>>(p, l.chunks, partial, entropy, zsq);
  MOE_CUDA_LAUNCHED();
  return cudaSuccess;
}

}  // namespace moe::cuda
