// permute: stable counting sort of the slots of ids [T, K] by expert segment, then gather of the rows.
//
//   ids [T, K] int32 -> offsets [S + 1], tokens_per_segment [S], slot_to_row [T, K], row_to_token [R]
//   x [T, H] -> rows [R, H] (rows[r] = scale * x[row_to_token[r]], zero rows for padding)
//
// Order inside a segment: rank r first, then token t (SPEC §3), so results are deterministic and equal to
// the reference's. Everything stays on the device (CUDA-graph safe, no host sync):
//   1. count: per chunk (rank r, a range of tokens), a histogram over segments        grid (C, K)
//   2. scan:  one block turns the histograms into offsets and per-chunk bases         grid 1
//   3. place: per chunk, in token order, each slot's row = base + rank within the tile grid (C, K)
//   4. gather: a warp per row copies (or scales) the token row, zeroes padding rows    grid R / 8
// The chunk histograms take C * K * S ints of workspace; C is chosen so that stays under 16 MB (with
// C = 1 for absurd shapes: correct, only less parallel).

#include "permute.cuh"

#include "common.cuh"

namespace moe::cuda {
namespace {

constexpr int kTile = 256;                      // tokens per tile of the place kernel (= its block size)
constexpr int64_t kHistBudget = 4 << 20;        // ints of chunk histograms (16 MB)
constexpr int kSmemHistMax = 8192;              // segments counted in shared memory by the count kernel

struct Chunking {
  int64_t chunk;   // tokens per chunk, a multiple of kTile
  int64_t chunks;  // C
};

Chunking chunking(int64_t T, int64_t K, int64_t S) {
  const int64_t per_chunk = K * S > 0 ? K * S : 1;
  int64_t cmax = kHistBudget / per_chunk;
  if (cmax < 1) cmax = 1;
  int64_t chunk = ceil_div64(T > 0 ? T : 1, cmax);
  chunk = ceil_div64(chunk, kTile) * kTile;
  if (chunk < 4 * kTile) chunk = 4 * kTile;  // a block should have some work: 1024 tokens at least
  return {chunk, ceil_div64(T > 0 ? T : 1, chunk)};
}

// The segment of slot i, or -1. Ids and map entries out of range count as "not gathered": validation
// rejects them for host callers; for device-resident ids this keeps a bad id from becoming a bad address.
struct SegmentMap {
  const int32_t* segment_of;
  int total;  // entries of segment_of (segments when it is null)
  int segments;
};
__device__ __forceinline__ int segment_of_slot(const int32_t* ids, const SegmentMap& m, int64_t i) {
  const int id = ids[i];
  if (id < 0 || id >= m.total) return -1;
  const int s = m.segment_of ? m.segment_of[id] : id;
  return s < m.segments ? s : -1;
}

// hist[(r * C + c) * S + s] = slots of chunk (c, r) in segment s. Shared-memory histogram when it fits.
__global__ void permute_count_kernel(const int32_t* ids, SegmentMap map, int T, int K, int S,
                                     int64_t chunk, int64_t C, int32_t* hist) {
  extern __shared__ int32_t sh_hist[];
  const int64_t c = blockIdx.x;
  const bool in_smem = S <= kSmemHistMax;
  for (int r = blockIdx.y; r < K; r += gridDim.y) {  // gridDim.y is capped at 65535
    int32_t* row = hist + (int64_t(r) * C + c) * S;
    if (in_smem) {
      for (int s = threadIdx.x; s < S; s += blockDim.x) sh_hist[s] = 0;
      __syncthreads();
    }
    const int64_t t0 = c * chunk;
    const int64_t t1 = min(int64_t(T), t0 + chunk);
    for (int64_t t = t0 + threadIdx.x; t < t1; t += blockDim.x) {
      const int s = segment_of_slot(ids, map, t * K + r);
      if (s < 0) continue;
      atomicAdd(in_smem ? &sh_hist[s] : &row[s], 1);  // counts do not depend on the order of the adds
    }
    if (in_smem) {
      __syncthreads();
      for (int s = threadIdx.x; s < S; s += blockDim.x) row[s] = sh_hist[s];
      __syncthreads();
    }
  }
}

// One block: totals per segment, padded exclusive scan into offsets, then each chunk's histogram entry is
// replaced by the first row that chunk writes in the segment (chunks in (r, c) order = the stable order).
__global__ void permute_scan_kernel(int32_t* hist, int K, int64_t C, int S, int align, int32_t* offsets,
                                    int32_t* tokens_per_segment, int64_t rows_capacity, int32_t* overflow) {
  __shared__ int64_t warp_sums[32];
  __shared__ int64_t carry;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  if (threadIdx.x == 0) carry = 0;
  __syncthreads();
  const int64_t KC = int64_t(K) * C;
  for (int base = 0; base < S; base += blockDim.x) {
    const int s = base + threadIdx.x;
    int64_t total = 0;
    if (s < S) {
      for (int64_t q = 0; q < KC; ++q) total += hist[q * S + s];
      tokens_per_segment[s] = int32_t(total);
    }
    const int64_t padded = ceil_div64(total, align) * align;
    // Block exclusive scan of `padded` (warp shuffles, then the warp totals).
    int64_t incl = padded;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int64_t u = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += u;
    }
    if (lane == 31) warp_sums[warp] = incl;
    __syncthreads();
    int64_t before = carry;
    for (int w = 0; w < warp; ++w) before += warp_sums[w];
    const int64_t start = before + incl - padded;
    if (s < S) {
      offsets[s] = int32_t(start);
      int64_t next = start;
      for (int64_t q = 0; q < KC; ++q) {
        const int32_t v = hist[q * S + s];
        hist[q * S + s] = int32_t(next);
        next += v;
      }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int w = 0; w < nwarps; ++w) carry += warp_sums[w];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    offsets[S] = int32_t(carry);
    if (overflow) *overflow = carry > rows_capacity ? 1 : 0;
  }
}

// Each chunk (c, r) walks its tokens in tiles of kTile, in order. Within a tile a slot's rank among the
// earlier slots of its segment is counted in shared memory (kTile compares, broadcast reads); the chunk's
// running base per segment lives in its own row of `hist`, which only this block touches.
__device__ void place_tile(const int32_t* ids, const SegmentMap& map, int K, int r, int64_t t0, int64_t t_end,
                           int32_t* base, int32_t* seg, int32_t* slot_to_row, int32_t* row_to_token,
                           int64_t rows_capacity, int32_t* overflow) {
  const int64_t t = t0 + threadIdx.x;
  const int s = t < t_end ? segment_of_slot(ids, map, t * K + r) : -1;
  seg[threadIdx.x] = s;
  __syncthreads();
  int before = 0, total = 0;
  if (s >= 0) {
    for (int j = 0; j < kTile; ++j) {
      const int hit = seg[j] == s;
      total += hit;
      before += hit & (j < int(threadIdx.x));
    }
  }
  int64_t row = s >= 0 ? int64_t(base[s]) + before : -1;
  __syncthreads();  // every read of base[] precedes the updates below
  if (s >= 0 && before + 1 == total) base[s] += total;  // the segment's last slot in the tile
  if (t < t_end) {
    if (row >= rows_capacity) {
      row = -1;
      if (overflow) *overflow = 1;
    }
    slot_to_row[t * K + r] = int32_t(row);
    if (row >= 0) row_to_token[row] = int32_t(t);
  }
  __syncthreads();  // base[] updates visible before the next tile reads them, seg[] free for reuse
}

__global__ void __launch_bounds__(kTile) permute_place_kernel(const int32_t* ids, SegmentMap map, int T,
                                                              int K, int S, int64_t chunk, int64_t C, int32_t* hist,
                                                              int32_t* slot_to_row, int32_t* row_to_token,
                                                              int64_t rows_capacity, int32_t* overflow) {
  __shared__ int32_t seg[kTile];
  const int64_t c = blockIdx.x;
  const int64_t t_end = min(int64_t(T), (c + 1) * chunk);
  for (int r = blockIdx.y; r < K; r += gridDim.y) {
    int32_t* base = hist + (int64_t(r) * C + c) * S;
    for (int64_t t0 = c * chunk; t0 < t_end; t0 += kTile) {
      place_tile(ids, map, K, r, t0, t_end, base, seg, slot_to_row, row_to_token, rows_capacity, overflow);
    }
  }
}

// A warp per row: rows[r] = scale * x[token] (bit copy when scale == 1), zeros for padding rows.
// Rows at or past offsets[S] (unused capacity) are left as they are.
__global__ void permute_gather_kernel(const void* x, DType dt, int64_t H, double scale, const int32_t* row_to_token,
                                      const int32_t* offsets, int S, int64_t rows_capacity, void* rows, bool vec16) {
  const int lane = threadIdx.x & 31;
  const int64_t r = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (r >= rows_capacity || r >= offsets[S]) return;
  const int t = row_to_token[r];
  const int64_t esize = dt == DType::F32 ? 4 : 2;
  if (scale == 1.0 || t < 0) {
    // Whole-row byte moves: 16-byte vectors when rows are 16-byte aligned, else elements.
    if (vec16) {
      const int64_t n = H * esize / 16;
      uint4* dst = reinterpret_cast<uint4*>(static_cast<char*>(rows) + r * H * esize);
      const uint4* src = reinterpret_cast<const uint4*>(static_cast<const char*>(x) + int64_t(t) * H * esize);
      for (int64_t i = lane; i < n; i += 32) dst[i] = t < 0 ? make_uint4(0, 0, 0, 0) : src[i];
    } else if (esize == 4) {
      uint32_t* dst = static_cast<uint32_t*>(rows) + r * H;
      const uint32_t* src = static_cast<const uint32_t*>(x) + int64_t(t) * H;
      for (int64_t i = lane; i < H; i += 32) dst[i] = t < 0 ? 0u : src[i];
    } else {
      uint16_t* dst = static_cast<uint16_t*>(rows) + r * H;
      const uint16_t* src = static_cast<const uint16_t*>(x) + int64_t(t) * H;
      for (int64_t i = lane; i < H; i += 32) dst[i] = t < 0 ? uint16_t(0) : src[i];
    }
    return;
  }
  // The reference multiplies the decoded value by the (float64) scale, then rounds to the dtype via f32.
  for (int64_t i = lane; i < H; i += 32) {
    const double v = double(load_f32(x, dt, int64_t(t) * H + i)) * scale;
    store_f32(rows, dt, r * H + i, float(v));
  }
}

}  // namespace

size_t slot_sort_workspace_bytes(int64_t tokens, int64_t kmax, int64_t segments) {
  const Chunking ch = chunking(tokens, kmax, segments);
  return size_t(ch.chunks * kmax * segments) * sizeof(int32_t);
}

cudaError_t slot_sort_launch(const SlotSortParams& p, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  const int64_t T = p.tokens, K = p.kmax, S = p.segments;
  if (S <= 0 || p.align < 1) return cudaErrorInvalidValue;
  if (workspace_bytes < slot_sort_workspace_bytes(T, K, S)) return cudaErrorInvalidValue;
  if (p.rows_capacity > 0) {
    MOE_CUDA_TRY(cudaMemsetAsync(p.row_to_token, 0xff, size_t(p.rows_capacity) * sizeof(int32_t), stream));  // -1
  }
  const Chunking ch = chunking(T, K, S);
  int32_t* hist = static_cast<int32_t*>(workspace);
  const SegmentMap map{p.segment_of, p.segment_of ? p.total_experts : int(S), int(S)};
  if (p.segment_of && p.total_experts <= 0) return cudaErrorInvalidValue;
  if (T > 0 && K > 0) {
    MOE_CUDA_TRY(cudaMemsetAsync(hist, 0, size_t(ch.chunks * K * S) * sizeof(int32_t), stream));
    const dim3 grid(unsigned(ch.chunks), unsigned(K < 65535 ? K : 65535));
    const size_t smem = S <= kSmemHistMax ? size_t(S) * sizeof(int32_t) : 0;
    permute_count_kernel<<<grid, 256, smem, stream>>>(p.ids, map, int(T), int(K), int(S), ch.chunk, ch.chunks, hist);
    MOE_CUDA_LAUNCHED();
  }
  permute_scan_kernel<<<1, 1024, 0, stream>>>(hist, T > 0 ? int(K) : 0, ch.chunks, int(S), p.align, p.offsets,
                                              p.tokens_per_segment, p.rows_capacity, p.overflow);
  MOE_CUDA_LAUNCHED();
  if (T > 0 && K > 0) {
    const dim3 grid(unsigned(ch.chunks), unsigned(K < 65535 ? K : 65535));
    permute_place_kernel<<<grid, kTile, 0, stream>>>(p.ids, map, int(T), int(K), int(S), ch.chunk, ch.chunks,
                                                      hist, p.slot_to_row, p.row_to_token, p.rows_capacity, p.overflow);
    MOE_CUDA_LAUNCHED();
  }
  return cudaSuccess;
}

int64_t permute_rows_bound(int64_t tokens, int64_t kmax, int64_t segments, int64_t align) {
  const int64_t slots = tokens * kmax;
  return slots + (segments < slots ? segments : slots) * (align - 1);
}

size_t permute_workspace_bytes(const PermuteParams& p) {
  return slot_sort_workspace_bytes(p.sort.tokens, p.sort.kmax, p.sort.segments);
}

cudaError_t permute_launch(const PermuteParams& p, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  MOE_CUDA_TRY(slot_sort_launch(p.sort, workspace, workspace_bytes, stream));
  const int64_t R = p.sort.rows_capacity, H = p.hidden;
  if (R == 0 || H == 0) return cudaSuccess;
  const int64_t esize = p.dtype == DType::F32 ? 4 : 2;
  const bool vec16 = (H * esize) % 16 == 0 && reinterpret_cast<uintptr_t>(p.x) % 16 == 0 &&
                     reinterpret_cast<uintptr_t>(p.rows) % 16 == 0;
  constexpr int kRowsPerBlock = 8;
  permute_gather_kernel<<<unsigned(ceil_div64(R, kRowsPerBlock)), kRowsPerBlock * 32, 0, stream>>>(
      p.x, p.dtype, H, p.scale, p.sort.row_to_token, p.sort.offsets, p.sort.segments, R, p.rows, vec16);
  MOE_CUDA_LAUNCHED();
  return cudaSuccess;
}

}  // namespace moe::cuda
