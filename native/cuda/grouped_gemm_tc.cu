// grouped_gemm on tensor cores (sm_80+): bf16 or f16 A and W, f32 accumulation, fused epilogue.
//
// Block tile 128 x 128 (rows x virtual columns), k-step 32, 8 warps as 2 x 4, warp tile 64 x 32 made of
// 4 x 4 mma.sync.m16n8k16 tiles; A and W stream through a 3-stage cp.async pipeline (61,440 bytes of
// shared memory, rows padded to 40 halves so ldmatrix reads are conflict-free). Both operands are
// k-contiguous (A row-major, W [n, k]): the "TN" layout mma wants, so no transposes anywhere.
// Out-of-range rows, columns and k chunks are zero-filled by cp.async's src-size operand.
// Needs k % 8 == 0 and 16-byte aligned A and W (16-byte chunks); the dispatcher checks.
// Next step (not done): a Hopper wgmma + TMA path for sm_90a.

#include "grouped_gemm_impl.cuh"

namespace moe::cuda {
namespace {

constexpr int kBM = 128, kBN = 128, kBK = 32, kLds = kBK + 8, kStages = 3, kThreads = 256;
constexpr int kStageElems = (kBM + kBN) * kLds;
constexpr size_t kSmemBytes = size_t(kStages) * kStageElems * sizeof(uint16_t);

// cp.async and bf16 mma need sm_80: below it (the sm_75 build of a release) the kernel is an empty stub
// that the dispatcher never launches, and these helpers are left out.
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define MOE_TC_BODY 1

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, int src_bytes) {
  const unsigned s = unsigned(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  const unsigned s = unsigned(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma16816<BF16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma16816<F16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

#endif  // MOE_TC_BODY

template <typename T>
__global__ void __launch_bounds__(kThreads) gemm_tc_kernel(GemmArgs g) {
#if defined(MOE_TC_BODY)
  extern __shared__ __align__(16) uint16_t smem[];
  __shared__ TileSlot slot;
  __shared__ int found;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  if (warp == 0) {
    TileSlot s;
    const bool ok = find_tile(g.offsets, g.experts, kBM, blockIdx.x, &s);
    if (lane == 0) {
      found = ok;
      slot = s;
    }
  }
  __syncthreads();
  if (!found) return;
  const int e = slot.expert;
  const int64_t m0 = slot.row_begin;
  const int64_t m_end = min(min(slot.row_end, m0 + kBM), g.rows);  // rows clamp: unvalidated device offsets
  const int64_t v0 = int64_t(blockIdx.y) * kBN;
  const int64_t K = g.k;
  const uint16_t* A = static_cast<const uint16_t*>(g.a);
  const uint16_t* W = static_cast<const uint16_t*>(g.w) + int64_t(e) * g.n * K;

  // Each thread moves two 16-byte chunks of A and two of W per stage: tile row id / 4, k chunk id % 4.
  const uint16_t* a_src[2];
  const uint16_t* w_src[2];
  int row_of[2], col_of[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int id = tid + i * kThreads;
    row_of[i] = id >> 2;
    col_of[i] = (id & 3) * 8;
    const int64_t r = m0 + row_of[i];
    a_src[i] = r < m_end ? A + r * K : nullptr;
    const int64_t v = v0 + row_of[i];
    w_src[i] = v < g.n ? W + wrow_of(g, v) * K : nullptr;
  }
  auto load_stage = [&](int stage, int64_t k0) {
    uint16_t* as = smem + stage * kStageElems;
    uint16_t* ws = as + kBM * kLds;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int64_t kk = k0 + col_of[i];
      const bool ka = kk < K;
      cp_async16(as + row_of[i] * kLds + col_of[i], (a_src[i] && ka) ? a_src[i] + kk : A, (a_src[i] && ka) ? 16 : 0);
      cp_async16(ws + row_of[i] * kLds + col_of[i], (w_src[i] && ka) ? w_src[i] + kk : W, (w_src[i] && ka) ? 16 : 0);
    }
  };

  float acc[4][4][4];
#pragma unroll
  for (int mi = 0; mi < 4; ++mi)
#pragma unroll
    for (int ni = 0; ni < 4; ++ni)
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[mi][ni][q] = 0.f;

  const int warp_m = warp >> 2, warp_n = warp & 3;
  const int64_t ktiles = ceil_div64(K, kBK);
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < ktiles) load_stage(s, int64_t(s) * kBK);
    cp_async_commit();  // empty groups keep the wait counts uniform
  }
  for (int64_t kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<kStages - 2>();
    __syncthreads();  // stage kt landed for everyone; stage kt-1 is free to refill
    const int64_t next = kt + kStages - 1;
    if (next < ktiles) load_stage(int(next % kStages), next * kBK);
    cp_async_commit();
    const uint16_t* as = smem + int(kt % kStages) * kStageElems;
    const uint16_t* ws = as + kBM * kLds;
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      uint32_t af[4][4], bf[2][4];
#pragma unroll
      for (int mi = 0; mi < 4; ++mi) {
        ldmatrix_x4(af[mi], as + (warp_m * 64 + mi * 16 + (lane & 15)) * kLds + kk + (lane >> 4) * 8);
      }
#pragma unroll
      for (int nj = 0; nj < 2; ++nj) {
        const int n = warp_n * 32 + nj * 16 + (lane & 7) + ((lane >> 4) << 3);
        ldmatrix_x4(bf[nj], ws + n * kLds + kk + ((lane >> 3) & 1) * 8);
      }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) mma16816<T>(acc[mi][ni], af[mi], bf[ni >> 1][(ni & 1) * 2], bf[ni >> 1][(ni & 1) * 2 + 1]);
    }
  }
  cp_async_wait<0>();

  // Accumulator (mi, ni): rows lane/4 and lane/4 + 8 of the 16-row tile, columns 2*(lane%4) and +1.
#pragma unroll
  for (int mi = 0; mi < 4; ++mi) {
#pragma unroll
    for (int ni = 0; ni < 4; ++ni) {
      const int64_t v = v0 + warp_n * 32 + ni * 8 + (lane & 3) * 2;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t r = m0 + warp_m * 64 + mi * 16 + (lane >> 2) + h * 8;
        if (r < m_end) epilogue_pair(g, e, r, v, acc[mi][ni][2 * h], acc[mi][ni][2 * h + 1]);
      }
    }
  }
#endif
}

template <typename T>
cudaError_t launch_tc(const GemmArgs& g, cudaStream_t stream) {
  MOE_CUDA_TRY(cudaFuncSetAttribute(gemm_tc_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kSmemBytes)));
  const dim3 grid(unsigned(gemm_tile_bound(g.rows, g.experts, kBM)), unsigned(ceil_div64(g.n, kBN)));
  gemm_tc_kernel<T><<<grid, kThreads, kSmemBytes, stream>>>(g);
  MOE_CUDA_LAUNCHED();
  return cudaSuccess;
}

}  // namespace

cudaError_t grouped_gemm_tc_launch(const GemmArgs& g, DType ab, cudaStream_t stream) {
  if (ceil_div64(g.n, kBN) > 65535) return cudaErrorNotSupported;
  return ab == DType::BF16 ? launch_tc<BF16>(g, stream) : launch_tc<F16>(g, stream);
}

}  // namespace moe::cuda
