// Device helpers shared by the CUDA ops: error checks, exact f32 <-> bf16 / f16 conversion (the rounding
// of lib/dtype.ts, NaN kept quiet with its sign), typed loads and stores, warp reductions, the selection
// order of SPEC §0, and the tile schedule of the grouped kernels. Included by the .cu files only: the
// launchers' declarations (<op>.cuh) stay plain C++ so the g++-compiled bindings can include them.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "../common/tensor_view.h"

namespace moe::cuda {

// ---- host-side checks ----
// Launchers return the first failing cudaError_t; nothing is thrown and nothing is printed.
#define MOE_CUDA_TRY(expr)                     \
  do {                                         \
    const cudaError_t moe_err_ = (expr);       \
    if (moe_err_ != cudaSuccess) return moe_err_; \
  } while (0)
// After every <<<>>>: a bad configuration shows up here, an asynchronous fault at the next sync.
#define MOE_CUDA_LAUNCHED() MOE_CUDA_TRY(cudaGetLastError())

constexpr int kWarp = 32;

__host__ __device__ inline int64_t ceil_div64(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- f32 <-> bf16 / f16, bit-exact with lib/dtype.ts ----
__device__ __forceinline__ float bf16_bits_to_f32(uint16_t h) { return __uint_as_float(uint32_t(h) << 16); }
__device__ __forceinline__ float f16_bits_to_f32(uint16_t h) { return __half2float(__ushort_as_half(h)); }

// Round to nearest even; NaN -> quiet NaN with the sign kept (0x7fc0 | sign), as f32ToBf16 does.
__device__ __forceinline__ uint16_t f32_to_bf16_bits(float x) {
  const uint32_t b = __float_as_uint(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) return uint16_t(((b >> 16) | 0x0040u) & 0xffffu);
  return uint16_t((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}
// cvt.rn.f16.f32 is IEEE round-to-nearest-even with subnormals and overflow to inf; only its NaN
// (canonical 0x7fff) differs from f32ToF16's sign | 0x7e00.
__device__ __forceinline__ uint16_t f32_to_f16_bits(float x) {
  if (x != x) return uint16_t(((__float_as_uint(x) >> 16) & 0x8000u) | 0x7e00u);
  return __half_as_ushort(__float2half_rn(x));
}

// Element i of a float tensor of runtime dtype `t` (F32, BF16 or F16). The branch is uniform across a
// warp, so it costs an instruction, not a divergence; it keeps one kernel per op instead of one per dtype.
__device__ __forceinline__ float load_f32(const void* p, DType t, int64_t i) {
  if (t == DType::F32) return static_cast<const float*>(p)[i];
  const uint16_t h = static_cast<const uint16_t*>(p)[i];
  return t == DType::BF16 ? bf16_bits_to_f32(h) : f16_bits_to_f32(h);
}
__device__ __forceinline__ void store_f32(void* p, DType t, int64_t i, float v) {
  if (t == DType::F32) {
    static_cast<float*>(p)[i] = v;
  } else {
    static_cast<uint16_t*>(p)[i] = t == DType::BF16 ? f32_to_bf16_bits(v) : f32_to_f16_bits(v);
  }
}

// Compile-time element types for the kernels that are templated on them (the GEMMs).
struct F32 { using storage = float; static constexpr DType dtype = DType::F32; };
struct BF16 { using storage = uint16_t; static constexpr DType dtype = DType::BF16; };
struct F16 { using storage = uint16_t; static constexpr DType dtype = DType::F16; };

template <typename T> __device__ __forceinline__ float to_f32(typename T::storage v);
template <> __device__ __forceinline__ float to_f32<F32>(float v) { return v; }
template <> __device__ __forceinline__ float to_f32<BF16>(uint16_t v) { return bf16_bits_to_f32(v); }
template <> __device__ __forceinline__ float to_f32<F16>(uint16_t v) { return f16_bits_to_f32(v); }

// ---- warp reductions (all lanes get the result) ----
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ int warp_sum(int v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
// max that propagates NaN, like Math.max in the reference (fmaxf would drop it).
__device__ __forceinline__ float nan_max(float a, float b) { return (a != a || b != b) ? __int_as_float(0x7fc00000) : (a > b ? a : b); }
__device__ __forceinline__ float warp_nan_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = nan_max(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ int warp_inclusive_scan(int v, int lane) {
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int u = __shfl_up_sync(0xffffffffu, v, o);
    if (lane >= o) v += u;
  }
  return v;
}

// ---- the selection order (SPEC §0): NaN above every number, then larger, then lower index ----
// -0 and +0 compare equal, so they tie and the lower index wins, as in the reference's byScore.
__device__ __forceinline__ bool goes_first(float va, int ia, float vb, int ib) {
  const bool na = va != va, nb = vb != vb;
  if (na != nb) return na;
  if (!na && va != vb) return va > vb;
  return ia < ib;
}
// Warp arg-best under goes_first: every lane returns the winner (index -1 when no lane had a candidate).
__device__ __forceinline__ void warp_best(float& v, int& i) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, o);
    const int oi = __shfl_xor_sync(0xffffffffu, i, o);
    if (oi >= 0 && (i < 0 || goes_first(ov, oi, v, i))) {
      v = ov;
      i = oi;
    }
  }
}

// ---- tile schedule of the grouped kernels ----
// Expert e owns rows offsets[e] .. offsets[e+1]-1, split into ceil(rows_e / tile_rows) tiles; the tiles of
// all experts are numbered in expert order. The grid is launched with an upper bound on the tile count
// (ceil(R / tile_rows) + min(E, R)) because the counts live on the device (no host sync); a block finds
// its (expert, first row) with one warp scanning the offsets 32 experts at a time: O(E / 32) steps, which
// is small next to a tile of GEMM work. Returns false for the blocks past the last tile.
struct TileSlot {
  int expert;
  int64_t row_begin;  // first row of this tile
  int64_t row_end;    // one past the last row of the expert (the tile may stop earlier)
};
__device__ inline bool find_tile(const int32_t* offsets, int experts, int tile_rows, int64_t tile, TileSlot* out) {
  const int lane = threadIdx.x & 31;
  int64_t seen = 0;  // tiles of the experts before this chunk
  for (int base = 0; base < experts; base += 32) {
    const int e = base + lane;
    int tiles = 0;
    // max(0, ·): device-resident offsets are not validated; a decreasing pair must not become a tile.
    if (e < experts) tiles = int(ceil_div64(max(int64_t(offsets[e + 1]) - offsets[e], int64_t(0)), tile_rows));
    const int incl = warp_inclusive_scan(tiles, lane);
    const int chunk_total = __shfl_sync(0xffffffffu, incl, 31);
    if (tile < seen + chunk_total) {
      const bool mine = e < experts && tile >= seen + incl - tiles && tile < seen + incl;
      const unsigned who = __ballot_sync(0xffffffffu, mine);
      const int src = __ffs(who) - 1;
      const int64_t first = __shfl_sync(0xffffffffu, seen + incl - tiles, src);
      const int ex = base + src;
      out->expert = ex;
      out->row_begin = int64_t(offsets[ex]) + (tile - first) * tile_rows;
      out->row_end = offsets[ex + 1];
      return out->row_begin >= 0;
    }
    seen += chunk_total;
  }
  return false;
}

}  // namespace moe::cuda
