// route's capacity step (SPEC §3), as lib/reference/route_capacity.ts: one sequential pass over the routed
// slots, since whether a slot survives depends on every slot ahead of it in priority order. O(T·K) plus, for
// 'probs', a selection per over-full expert; a few tens of µs at T = 4096, K = 8, so it stays on one thread.
//   position, rank_then_position: priority (rank, token): all rank-0 picks in token order, then rank-1, ...
//   probs: per expert the `cap` largest f32(gate) (NaN first), ties to the lower token.
// Dropped slots become id -1 with gate 0 where they are (holes mid-row are allowed).

#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "route_kernels.h"

namespace moe::cpu::rt {

namespace {

struct SlotKey {
  uint32_t ord;  // orderKey(f32(gate)): larger first
  int64_t slot;  // t * K + r: lower first, i.e. lower token (an expert appears once per token)
};

bool before(const SlotKey& a, const SlotKey& b) { return a.ord != b.ord ? a.ord > b.ord : a.slot < b.slot; }

bool keepByProbs(const RouteArgs& a, const double* gates) {
  const int64_t n = a.tokens * a.kmax, E = a.experts;
  std::vector<int64_t> start;
  std::vector<SlotKey> keys;
  try {
    start.assign(static_cast<size_t>(E) + 1, 0);
    for (int64_t e = 0; e < E; ++e) start[e + 1] = start[e] + a.demand[e];
    keys.resize(static_cast<size_t>(start[E]));
  } catch (const std::bad_alloc&) {
    return false;
  }
  // Bucket the slots by expert, in slot order (a counting sort).
  std::vector<int64_t>& next = start;
  for (int64_t s = 0; s < n; ++s) {
    const int32_t e = a.selectedIds[s];
    if (e >= 0) keys[next[e]++] = SlotKey{orderKey(static_cast<float>(gates[s])), s};
  }
  // next[e] is now the end of bucket e, i.e. the start of bucket e + 1.
  int64_t begin = 0;
  for (int64_t e = 0; e < E; ++e) {
    const int64_t end = next[e], cnt = end - begin;
    SlotKey* seg = keys.data() + begin;
    if (cnt > a.cap) std::nth_element(seg, seg + a.cap, seg + cnt, before);
    const int64_t kept = std::min<int64_t>(cnt, a.cap);
    for (int64_t i = 0; i < kept; ++i) a.keep[seg[i].slot] = 1;
    a.load[e] = static_cast<int32_t>(kept);
    begin = end;
  }
  return true;
}

}  // namespace

bool applyCapacity(const RouteArgs& a, double* gates) {
  const int64_t T = a.tokens, K = a.kmax, E = a.experts, n = T * K;
  if (n > 0) std::memcpy(a.selectedIds, a.ids, static_cast<size_t>(n) * sizeof(int32_t));  // may be null at T = 0
  std::fill(a.keep, a.keep + n, 0);
  std::fill(a.load, a.load + E, 0);
  std::fill(a.demand, a.demand + E, 0);
  for (int64_t s = 0; s < n; ++s) {
    if (a.ids[s] >= 0) ++a.demand[a.ids[s]];
  }

  if (a.dropPolicy == RouteDropPolicy::Probs) {
    if (!keepByProbs(a, gates)) return false;
  } else {
    for (int64_t r = 0; r < K; ++r) {
      for (int64_t t = 0; t < T; ++t) {
        const int64_t s = t * K + r;
        const int32_t e = a.ids[s];
        if (e >= 0 && a.load[e] < a.cap) {
          a.keep[s] = 1;
          ++a.load[e];
        }
      }
    }
  }

  for (int64_t s = 0; s < n; ++s) {
    if (!a.keep[s]) {
      a.ids[s] = -1;
      gates[s] = 0.0;
    }
  }
  if (a.renormalizeSurvivors) {
    for (int64_t t = 0; t < T; ++t) {
      double* g = gates + t * K;
      double sum = 0.0;
      for (int64_t r = 0; r < K; ++r) sum += g[r];
      for (int64_t r = 0; r < K; ++r) g[r] = g[r] / (sum + 1e-20);
    }
  }
  return true;
}

}  // namespace moe::cpu::rt
