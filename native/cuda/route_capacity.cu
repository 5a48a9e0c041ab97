// route's capacity step (SPEC §3): keep at most `cap` assignments per expert, over all tokens.
//
//   ids [T, K] (picks, pre-drop) + float64 gates [T, K] -> ids with dropped slots -1, weights, counts,
//   selected_ids (pre-drop copy), keep [T, K], demand [E], load [E]
//
// 'position' / 'rank_then_position' (the same order under our tie rule): a slot survives iff its rank among
// its expert's slots in (rank, token) order is < cap. The rank comes from permute's stable counting sort
// (slot_sort_launch), so it is deterministic and needs no host sync.
// 'probs': per expert, the cap largest f32-rounded gates survive (NaN first), ties to the lower token. The
// same sort, run over the flat slot index (K = 1), lists each expert's slots in token order; one block per
// expert then binary-searches the 32-bit order key of the cap-th largest gate (32 counting passes) and
// keeps everything above it plus the first tied slots in token order.

#include "route_capacity.cuh"

#include "common.cuh"
#include "permute.cuh"

namespace moe::cuda {
namespace {

constexpr size_t kAlign = 256;
size_t aligned(size_t b) { return (b + kAlign - 1) / kAlign * kAlign; }

struct Layout {
  size_t gates, offsets, slot_to_row, row_to_token, sort, total;
};

Layout layout(const RouteParams& p) {
  const size_t slots = size_t(p.tokens) * p.kmax;
  const bool probs = p.policy == DropPolicy::Probs;
  Layout l{};
  l.gates = 0;
  l.offsets = l.gates + aligned(slots * sizeof(double));
  l.slot_to_row = l.offsets + aligned((size_t(p.experts) + 1) * sizeof(int32_t));
  l.row_to_token = l.slot_to_row + aligned(slots * sizeof(int32_t));
  l.sort = l.row_to_token + aligned(slots * sizeof(int32_t));
  l.total = l.sort + aligned(probs ? slot_sort_workspace_bytes(int64_t(slots), 1, p.experts)
                                   : slot_sort_workspace_bytes(p.tokens, p.kmax, p.experts));
  return l;
}

template <typename T>
T* at(void* base, size_t off) { return reinterpret_cast<T*>(static_cast<char*>(base) + off); }

// Order key of an f32 gate: larger value -> larger key, NaN above +inf, -0 equal to +0.
__device__ __forceinline__ uint32_t order_key(double g) {
  const float f = float(g);
  if (f != f) return 0xffffffffu;
  if (f == 0.f) return 0x80000000u;
  const uint32_t b = __float_as_uint(f);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// position: keep[s] = rank of slot s within its expert, in (rank, token) order, < cap.
__global__ void capacity_position_kernel(const int32_t* ids, const int32_t* offsets, const int32_t* slot_to_row,
                                         int64_t slots, int E, int cap, int32_t* keep) {
  const int64_t s = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (s >= slots) return;
  const int id = ids[s];
  keep[s] = id >= 0 && id < E && slot_to_row[s] >= 0 && slot_to_row[s] - offsets[id] < cap;
}

// probs: one block per expert over its slots listed in token order (row_to_token = flat slot index).
__global__ void __launch_bounds__(256) capacity_probs_kernel(const int32_t* offsets, const int32_t* row_to_token,
                                                             const double* gates, int cap, int32_t* keep) {
  __shared__ int warp_ties[8];
  __shared__ int carry;
  const int e = blockIdx.x;
  const int64_t b = offsets[e];
  const int64_t n = int64_t(offsets[e + 1]) - b;
  if (n <= cap) {
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) keep[row_to_token[b + i]] = 1;
    return;
  }
  if (cap <= 0) return;
  // Largest key θ with #{key >= θ} >= cap.
  uint32_t lo = 0, hi = 0xffffffffu;
  while (lo < hi) {
    const uint32_t mid = lo + uint32_t((uint64_t(hi) - lo + 1) / 2);
    int64_t cnt = 0;
    for (int64_t i0 = 0; i0 < n; i0 += blockDim.x) {
      const int64_t i = i0 + threadIdx.x;
      cnt += __syncthreads_count(i < n && order_key(gates[row_to_token[b + i]]) >= mid);
    }
    if (cnt >= cap) lo = mid;
    else hi = mid - 1;
  }
  int64_t above = 0;
  for (int64_t i0 = 0; i0 < n; i0 += blockDim.x) {
    const int64_t i = i0 + threadIdx.x;
    above += __syncthreads_count(i < n && order_key(gates[row_to_token[b + i]]) > lo);
  }
  const int64_t quota = cap - above;  // tied slots that still fit, taken in token order
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (threadIdx.x == 0) carry = 0;
  __syncthreads();
  for (int64_t i0 = 0; i0 < n; i0 += blockDim.x) {
    const int64_t i = i0 + threadIdx.x;
    const int slot = i < n ? row_to_token[b + i] : -1;
    const uint32_t key = i < n ? order_key(gates[slot]) : 0u;
    const bool tie = i < n && key == lo;
    const uint32_t ballot = __ballot_sync(0xffffffffu, tie);
    if (lane == 0) warp_ties[warp] = __popc(ballot);
    __syncthreads();
    int before = carry + __popc(ballot & ((1u << lane) - 1u));
    for (int w = 0; w < warp; ++w) before += warp_ties[w];
    if (i < n && (key > lo || (tie && before < quota))) keep[slot] = 1;
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int w = 0; w < int(blockDim.x >> 5); ++w) carry += warp_ties[w];
    }
    __syncthreads();
  }
}

// Per token: dropped slots become -1 / 0, survivors optionally renormalised (GShard), then scale.
__global__ void capacity_finalize_kernel(RouteParams p, const double* gates) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= p.tokens) return;
  const int K = p.kmax;
  double sum = 0.0;
  for (int j = 0; j < K; ++j) sum += p.keep[t * K + j] ? gates[t * K + j] : 0.0;
  int count = 0;
  for (int j = 0; j < K; ++j) {
    const int64_t s = t * K + j;
    double g = p.keep[s] ? gates[s] : 0.0;
    if (p.renormalize_survivors) g /= sum + 1e-20;
    if (!p.keep[s]) p.ids[s] = -1;
    count += p.keep[s] != 0;
    p.weights[s] = p.keep[s] ? float(g * p.scale) : 0.f;
  }
  p.counts[t] = count;
}

__global__ void capacity_load_kernel(const int32_t* demand, int E, int cap, int32_t* load) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e < E) load[e] = min(demand[e], cap);  // both policies keep min(demand, cap) per expert
}

}  // namespace

size_t route_capacity_workspace_bytes(const RouteParams& p) { return layout(p).total; }

double* route_capacity_gates(const RouteParams& p, void* workspace) { return at<double>(workspace, layout(p).gates); }

cudaError_t route_capacity_launch(const RouteParams& p, void* workspace, cudaStream_t stream) {
  const int64_t slots = int64_t(p.tokens) * p.kmax;
  const int E = p.experts;
  if (slots == 0) {
    MOE_CUDA_TRY(cudaMemsetAsync(p.demand, 0, size_t(E) * sizeof(int32_t), stream));
    MOE_CUDA_TRY(cudaMemsetAsync(p.load, 0, size_t(E) * sizeof(int32_t), stream));
    if (p.tokens > 0) MOE_CUDA_TRY(cudaMemsetAsync(p.counts, 0, size_t(p.tokens) * sizeof(int32_t), stream));
    return cudaSuccess;
  }
  const Layout l = layout(p);
  const double* gates = at<double>(workspace, l.gates);
  int32_t* offsets = at<int32_t>(workspace, l.offsets);
  int32_t* slot_to_row = at<int32_t>(workspace, l.slot_to_row);
  int32_t* row_to_token = at<int32_t>(workspace, l.row_to_token);
  MOE_CUDA_TRY(cudaMemcpyAsync(p.selected_ids, p.ids, size_t(slots) * sizeof(int32_t), cudaMemcpyDeviceToDevice, stream));

  SlotSortParams s;
  s.ids = p.ids;
  s.segment_of = nullptr;  // ids are expert ids in [0, E)
  s.segments = E;
  s.align = 1;
  s.rows_capacity = slots;
  s.offsets = offsets;
  s.tokens_per_segment = p.demand;
  s.slot_to_row = slot_to_row;
  s.row_to_token = row_to_token;
  const bool probs = p.policy == DropPolicy::Probs;
  s.tokens = probs ? int32_t(slots) : p.tokens;  // probs: slots in flat (token-major) order
  s.kmax = probs ? 1 : p.kmax;
  MOE_CUDA_TRY(slot_sort_launch(s, at<void>(workspace, l.sort), l.total - l.sort, stream));

  if (probs) {
    MOE_CUDA_TRY(cudaMemsetAsync(p.keep, 0, size_t(slots) * sizeof(int32_t), stream));
    capacity_probs_kernel<<<unsigned(E), 256, 0, stream>>>(offsets, row_to_token, gates, p.cap, p.keep);
  } else {
    capacity_position_kernel<<<unsigned(ceil_div64(slots, 256)), 256, 0, stream>>>(p.ids, offsets, slot_to_row, slots,
                                                                                   E, p.cap, p.keep);
  }
  MOE_CUDA_LAUNCHED();
  capacity_finalize_kernel<<<unsigned(ceil_div64(p.tokens, 128)), 128, 0, stream>>>(p, gates);
  MOE_CUDA_LAUNCHED();
  capacity_load_kernel<<<unsigned(ceil_div64(E, 256)), 256, 0, stream>>>(p.demand, E, p.cap, p.load);
  MOE_CUDA_LAUNCHED();
  return cudaSuccess;
}

}  // namespace moe::cuda
