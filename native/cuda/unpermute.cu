// unpermute (combine): one block per token, out[t] = Σ_j w[t,j] · E_{ids[t,j]}(u_t) + shared[t] + residual[t].
//
//   y [rows, H] (FFN outputs in permute's row order), ids / weights / slot_to_row [T, K] -> out [T, H]
//
// Slots are summed in slot order in f32, each thread owning columns h = tid, tid + 256, ...: no atomics, so
// the result is the same on every run. Zero, copy and constant experts (MoE++) are resolved here from the
// token's own input: a slot first gets a kind (FFN row, skip, copy, constant c) in shared memory; for a
// constant expert the block computes (a1, a2) = softmax(Wc_c u) once (float64 dot products, like the
// reference) before the column loop.

#include "unpermute.cuh"

#include "common.cuh"

namespace moe::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kRow = -3;   // slot has an FFN row
constexpr int kSkip = -4;  // id -1, zero expert, or an FFN expert without a row (another rank's)

__device__ double block_sum(double v, double* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by the previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  double s = 0.0;
  for (int w = 0; w < int(blockDim.x >> 5); ++w) s += scratch[w];  // fixed order: deterministic
  return s;
}

__global__ void __launch_bounds__(kThreads) unpermute_kernel(UnpermuteParams p) {
  extern __shared__ __align__(16) unsigned char sh_raw[];
  __shared__ int32_t sp_ids[kUnpermuteMaxSpecial], sp_kind[kUnpermuteMaxSpecial];
  __shared__ double scratch[kThreads / 32];
  const int64_t t = blockIdx.x;
  const int K = p.kmax;
  const int64_t H = p.hidden;
  double* ab = reinterpret_cast<double*>(sh_raw);                 // [K][2] when there are constant experts
  int* kind = reinterpret_cast<int*>(sh_raw + (p.n_constant > 0 ? size_t(K) * 16 : 0));  // [K]

  for (int i = threadIdx.x; i < p.n_special; i += blockDim.x) {
    sp_ids[i] = p.special_ids[i];
    sp_kind[i] = p.special_kind[i];
  }
  __syncthreads();
  for (int j = threadIdx.x; j < K; j += blockDim.x) {
    const int64_t s = t * K + j;
    int k = kSkip;
    const int r = p.slot_to_row[s];
    if (r >= 0 && r < p.rows) {  // a row past the end (device-resident maps are not validated) is skipped
      k = kRow;
    } else {
      const int id = p.ids[s];
      for (int i = 0; i < p.n_special && id >= 0; ++i) {
        if (sp_ids[i] == id) k = sp_kind[i] == kUnpermuteZero ? kSkip : sp_kind[i];
      }
    }
    kind[j] = k;
  }
  __syncthreads();

  // Constant experts: (a1, a2) = softmax(Wc_c u), u = input_scale · x_t, dot products in float64.
  if (p.n_constant > 0) {
    for (int j = 0; j < K; ++j) {
      const int c = kind[j];
      if (c < 0) continue;
      double l0 = 0.0, l1 = 0.0;
      for (int64_t h = threadIdx.x; h < H; h += blockDim.x) {
        const double u = p.input_scale * double(load_f32(p.x, p.x_dtype, t * H + h));
        l0 += double(p.wc[(int64_t(c) * 2) * H + h]) * u;
        l1 += double(p.wc[(int64_t(c) * 2 + 1) * H + h]) * u;
      }
      l0 = block_sum(l0, scratch);
      l1 = block_sum(l1, scratch);
      if (threadIdx.x == 0) {
        const double m = l0 > l1 ? l0 : l1;
        const double e0 = exp(l0 - m), e1 = exp(l1 - m);
        ab[2 * j] = e0 / (e0 + e1);
        ab[2 * j + 1] = e1 / (e0 + e1);
      }
    }
    __syncthreads();
  }

  for (int64_t h = threadIdx.x; h < H; h += blockDim.x) {
    float acc = 0.f;
    for (int j = 0; j < K; ++j) {
      const int k = kind[j];
      if (k == kSkip) continue;
      const int64_t s = t * K + j;
      const float g = p.weights[s];
      if (k == kRow) {
        acc = fmaf(g, load_f32(p.y, p.y_dtype, int64_t(p.slot_to_row[s]) * H + h), acc);
        continue;
      }
      const double u = p.input_scale * double(load_f32(p.x, p.x_dtype, t * H + h));
      if (k == kUnpermuteCopy) {
        acc += float(double(g) * u);
      } else {
        acc += float(double(g) * (ab[2 * j] * u + ab[2 * j + 1] * double(p.v[int64_t(k) * H + h])));
      }
    }
    if (p.shared) acc += load_f32(p.shared, p.shared_dtype, t * H + h);
    if (p.residual) acc += load_f32(p.residual, p.residual_dtype, t * H + h);
    store_f32(p.out, p.out_dtype, t * H + h, acc);
  }
}

}  // namespace

bool unpermute_supported(const UnpermuteParams& p) {
  // Per-slot kinds (4 bytes) and constant-expert mixes (16 bytes) live in shared memory next to ~2 KB of
  // static tables, under the default 48 KB.
  return p.n_special <= kUnpermuteMaxSpecial && size_t(p.kmax) * 20 + 4096 <= 48 * 1024;
}

cudaError_t unpermute_launch(const UnpermuteParams& p, cudaStream_t stream) {
  if (!unpermute_supported(p)) return cudaErrorNotSupported;
  if (p.tokens == 0 || p.hidden == 0) return cudaSuccess;
  const size_t smem = size_t(p.kmax) * sizeof(int) + (p.n_constant > 0 ? size_t(p.kmax) * 2 * sizeof(double) : 0);
  unpermute_kernel<<<unsigned(p.tokens), kThreads, smem, stream>>>(p);
  MOE_CUDA_LAUNCHED();
  return cudaSuccess;
}

}  // namespace moe::cuda
