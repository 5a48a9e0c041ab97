// grouped_gemm: Y[r, :] = act(A[r, :] · W[e]ᵀ + bias[e, :] + addend[r, :]) for the rows r of expert e.
//
//   A [rows, k], W [experts, n, k] ([out, in]), offsets [experts + 1] (device), Y [rows, n or n/2]
//
// Kernels (all f32 accumulation, all with the fused epilogue of grouped_gemm_impl.cuh):
//   gemm_tc_kernel      tensor cores, bf16 / f16 A and W, 128 x 128 tiles (grouped_gemm_tc.cu)
//   gemm_simt_kernel    any dtypes (f32 exact path, mixed f32 x bf16, sm_75, unaligned k): 64 x 64 tiles,
//                       4 x 4 outputs per thread, operands widened to f32 in shared memory
//   gemm_decode_kernel  few rows per expert (decode): a warp per (gate, up) column pair streams its W rows
//                       once with 16-byte loads and dots them with up to 8 rows of A
// Row tiles never straddle experts: blocks find their (expert, rows) from the device offsets (find_tile),
// so no host sync and no padding is needed.

#include "grouped_gemm_impl.cuh"

namespace moe::cuda {
namespace {

// ---- SIMT: 64 x 64 block tile, k-step 16, 256 threads as 16 x 16, each 4 rows x 4 virtual columns ----
constexpr int kSBM = 64, kSBN = 64, kSBK = 16;

template <typename TA, typename TW>
__global__ void __launch_bounds__(256) gemm_simt_kernel(GemmArgs g) {
  __shared__ __align__(16) float As[kSBK][kSBM + 4];
  __shared__ __align__(16) float Ws[kSBK][kSBN + 4];
  __shared__ TileSlot slot;
  __shared__ int found;
  const int tid = threadIdx.x;
  if (tid < 32) {
    TileSlot s;
    const bool ok = find_tile(g.offsets, g.experts, kSBM, blockIdx.x, &s);
    if (tid == 0) {
      found = ok;
      slot = s;
    }
  }
  __syncthreads();
  if (!found) return;
  const int e = slot.expert;
  const int64_t m0 = slot.row_begin, m_end = min(min(slot.row_end, m0 + kSBM), g.rows);
  const int64_t v0 = int64_t(blockIdx.y) * kSBN;
  const int64_t K = g.k;
  const auto* A = static_cast<const typename TA::storage*>(g.a);
  const auto* W = static_cast<const typename TW::storage*>(g.w) + int64_t(e) * g.n * K;
  const int tx = tid & 15, ty = tid >> 4;

  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < K; k0 += kSBK) {
    // 64 x 16 elements of each operand, 4 per thread; 16 consecutive threads read 16 consecutive k.
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int id = tid + i * 256;
      const int r = id >> 4, kk = id & 15;
      const int64_t k = k0 + kk;
      const int64_t row = m0 + r;
      As[kk][r] = (row < m_end && k < K) ? to_f32<TA>(A[row * K + k]) : 0.f;
      const int64_t v = v0 + r;
      Ws[kk][r] = (v < g.n && k < K) ? to_f32<TW>(W[wrow_of(g, v) * K + k]) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kSBK; ++kk) {
      const float4 a = *reinterpret_cast<const float4*>(&As[kk][ty * 4]);
      const float4 b = *reinterpret_cast<const float4*>(&Ws[kk][tx * 4]);
      const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t r = m0 + ty * 4 + i;
    if (r >= m_end) continue;
    epilogue_pair(g, e, r, v0 + tx * 4, acc[i][0], acc[i][1]);
    epilogue_pair(g, e, r, v0 + tx * 4 + 2, acc[i][2], acc[i][3]);
  }
}

// ---- decode: a warp per virtual column pair, up to 8 rows of one expert per block ----
constexpr int kDRows = 8, kDWarps = 8;

// Eight consecutive elements as f32: one 16-byte load for halves, two for f32 (caller guarantees alignment).
template <typename T>
__device__ __forceinline__ void load8(const typename T::storage* p, float (&v)[8]) {
  if constexpr (sizeof(typename T::storage) == 4) {
    const float4 x = reinterpret_cast<const float4*>(p)[0], y = reinterpret_cast<const float4*>(p)[1];
    v[0] = x.x; v[1] = x.y; v[2] = x.z; v[3] = x.w; v[4] = y.x; v[5] = y.y; v[6] = y.z; v[7] = y.w;
  } else {
    const uint4 x = *reinterpret_cast<const uint4*>(p);
    const uint32_t w[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      v[2 * i] = to_f32<T>(uint16_t(w[i] & 0xffffu));
      v[2 * i + 1] = to_f32<T>(uint16_t(w[i] >> 16));
    }
  }
}

template <typename TA, typename TW>
__global__ void __launch_bounds__(kDWarps * 32) gemm_decode_kernel(GemmArgs g, bool vec8) {
  __shared__ TileSlot slot;
  __shared__ int found;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (warp == 0) {
    TileSlot s;
    const bool ok = find_tile(g.offsets, g.experts, kDRows, blockIdx.x, &s);
    if (lane == 0) {
      found = ok;
      slot = s;
    }
  }
  __syncthreads();
  if (!found) return;
  const int64_t v = (int64_t(blockIdx.y) * kDWarps + warp) * 2;
  if (v >= g.n) return;
  const int e = slot.expert;
  const int64_t m0 = slot.row_begin;
  const int nr = int(max(min(min(slot.row_end, g.rows) - m0, int64_t(kDRows)), int64_t(0)));
  const int64_t K = g.k;
  const auto* A = static_cast<const typename TA::storage*>(g.a) + m0 * K;
  const auto* W = static_cast<const typename TW::storage*>(g.w) + int64_t(e) * g.n * K;
  const bool has1 = v + 1 < g.n;
  const auto* w0 = W + wrow_of(g, v) * K;
  const auto* w1 = W + wrow_of(g, has1 ? v + 1 : v) * K;  // a duplicate read when there is no odd column

  float acc[kDRows][2] = {};
  if (vec8) {
    for (int64_t k = int64_t(lane) * 8; k < K; k += 32 * 8) {
      float x0[8], x1[8];
      load8<TW>(w0 + k, x0);
      load8<TW>(w1 + k, x1);
#pragma unroll
      for (int r = 0; r < kDRows; ++r) {
        if (r >= nr) break;
        float a[8];
        load8<TA>(A + r * K + k, a);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          acc[r][0] = fmaf(a[i], x0[i], acc[r][0]);
          acc[r][1] = fmaf(a[i], x1[i], acc[r][1]);
        }
      }
    }
  } else {
    for (int64_t k = lane; k < K; k += 32) {
      const float x0 = to_f32<TW>(w0[k]), x1 = to_f32<TW>(w1[k]);
#pragma unroll
      for (int r = 0; r < kDRows; ++r) {
        if (r >= nr) break;
        const float a = to_f32<TA>(A[r * K + k]);
        acc[r][0] = fmaf(a, x0, acc[r][0]);
        acc[r][1] = fmaf(a, x1, acc[r][1]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kDRows; ++r) {
    acc[r][0] = warp_sum(acc[r][0]);
    acc[r][1] = warp_sum(acc[r][1]);
  }
  // Lane r finishes row r (all lanes hold all sums after the butterfly).
#pragma unroll
  for (int r = 0; r < kDRows; ++r) {
    if (r == lane && r < nr) epilogue_pair(g, e, m0 + r, v, acc[r][0], acc[r][1]);
  }
}

template <typename TA, typename TW>
cudaError_t launch_generic(const GemmArgs& g, GemmPath path, cudaStream_t stream) {
  if (path == GemmPath::Decode) {
    const bool vec8 = g.k % 8 == 0 && reinterpret_cast<uintptr_t>(g.a) % 16 == 0 && reinterpret_cast<uintptr_t>(g.w) % 16 == 0;
    const int64_t pairs = ceil_div64(g.n, 2);
    const dim3 grid(unsigned(gemm_tile_bound(g.rows, g.experts, kDRows)), unsigned(ceil_div64(pairs, kDWarps)));
    if (grid.y > 65535) return cudaErrorNotSupported;
    gemm_decode_kernel<TA, TW><<<grid, kDWarps * 32, 0, stream>>>(g, vec8);
  } else {
    const dim3 grid(unsigned(gemm_tile_bound(g.rows, g.experts, kSBM)), unsigned(ceil_div64(g.n, kSBN)));
    if (grid.y > 65535) return cudaErrorNotSupported;
    gemm_simt_kernel<TA, TW><<<grid, 256, 0, stream>>>(g);
  }
  MOE_CUDA_LAUNCHED();
  return cudaSuccess;
}

template <typename TA>
cudaError_t launch_for_w(const GemmArgs& g, DType w, GemmPath path, cudaStream_t stream) {
  switch (w) {
    case DType::F32: return launch_generic<TA, F32>(g, path, stream);
    case DType::BF16: return launch_generic<TA, BF16>(g, path, stream);
    case DType::F16: return launch_generic<TA, F16>(g, path, stream);
    default: return cudaErrorInvalidValue;
  }
}

int device_cc_major() {
  int dev = 0, major = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) return 0;
  return major;
}

bool tc_eligible(const GroupedGemmParams& p) {
  const bool halves = (p.a_dtype == DType::BF16 || p.a_dtype == DType::F16) && p.w_dtype == p.a_dtype;
  const bool aligned = reinterpret_cast<uintptr_t>(p.a) % 16 == 0 && reinterpret_cast<uintptr_t>(p.w) % 16 == 0;
  return halves && aligned && p.k % 8 == 0 && device_cc_major() >= 8;
}

}  // namespace

GemmPath grouped_gemm_choose_path(const GroupedGemmParams& p) {
  // Few rows per expert (decode): streaming W once per 8 rows beats a 128-row tile that is mostly empty.
  // The crossover (4 rows per expert on average, or 64 rows in all) is a first guess, to be measured by the
  // GPU check, which times every path.
  if (p.rows <= 64 || p.rows <= 4 * p.experts) return GemmPath::Decode;
  return tc_eligible(p) ? GemmPath::TensorCore : GemmPath::Simt;
}

const char* grouped_gemm_path_name(GemmPath path) {
  switch (path) {
    case GemmPath::Simt: return "simt";
    case GemmPath::TensorCore: return "tensor_core";
    case GemmPath::Decode: return "decode";
    default: return "auto";
  }
}

cudaError_t grouped_gemm_launch(const GroupedGemmParams& p, cudaStream_t stream) {
  const bool glu = p.activation == Activation::Swiglu || p.activation == Activation::Geglu;
  if (glu && p.n % 2 != 0) return cudaErrorInvalidValue;
  if (p.rows == 0 || p.n == 0) return cudaSuccess;
  GemmArgs g{};
  g.rows = p.rows;
  g.k = p.k;
  g.n = p.n;
  g.n_out = glu ? p.n / 2 : p.n;
  g.experts = int(p.experts);
  g.a = p.a;
  g.w = p.w;
  g.offsets = p.offsets;
  g.bias = p.bias;
  g.addend = p.addend;
  g.act = p.activation;
  g.glu = glu;
  g.halves = p.glu_layout == GluLayout::Halves;
  g.out = p.out;
  g.out_dtype = p.out_dtype;
  GemmPath path = p.path == GemmPath::Auto ? grouped_gemm_choose_path(p) : p.path;
  if (path == GemmPath::TensorCore && !tc_eligible(p)) return cudaErrorNotSupported;
  if (path == GemmPath::TensorCore) return grouped_gemm_tc_launch(g, p.a_dtype, stream);
  switch (p.a_dtype) {
    case DType::F32: return launch_for_w<F32>(g, p.w_dtype, path, stream);
    case DType::BF16: return launch_for_w<BF16>(g, p.w_dtype, path, stream);
    case DType::F16: return launch_for_w<F16>(g, p.w_dtype, path, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace moe::cuda
