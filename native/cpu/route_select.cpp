// route's selection: top-k in selection order, the group limit and the threshold prefix rules, all decided
// on f32 values exactly as lib/reference/route_select.ts decides them.
//
// A row's scores first become unsigned order keys (orderKeys: larger = earlier, NaN on top, -0 == +0). The
// order (key descending, index ascending) is total, so any correct selection gives the reference's picks.
// Picks are then taken one at a time (takeNext: the lowest index holding the largest key, which is then
// zeroed; vectorised per SIMD path, with 16-key block maxima for ranges over kFlatMax keys). Measured on the
// AVX-512 path, ns per row, N(0, 1.5) scores:
//                     takes   sorted buffer of k keys + SIMD pre-filter   nth_element + sort of 64-bit keys
//   E = 128,  k = 2      58     182                                         936
//   E = 128,  k = 8     207     512                                        1063
//   E = 256,  k = 8     234     710                                        1912
//   E = 1024, k = 16   1083     -                                          6878
//   E = 1024, k = 32   1576     -                                            -
// The buffer loses on branch mispredictions (~25 insertions per row at k = 8), nth_element likewise. Beyond
// kTakeMax picks, or k > E/2 (E = 8, k = 8: takes 122 ns, sort 72 ns), the keys go to nth_element + sort.

#include <algorithm>
#include <cstring>
#include <functional>

#include "route_kernels.h"

namespace moe::cpu::rt {

namespace {

constexpr int64_t kTakeMax = 32;
// Threshold rows take every pick one by one up to this many experts: at E = 1024, t = 0.9 (425 picks per
// row) takes cost 28.6 µs per row against 34 µs for a heap of the keys; a take scans E/16 vectors, so far
// larger rows switch to the heap after kTakeMax picks.
constexpr int64_t kTakeAllBelow = 2048;

uint32_t ordOf(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0xffffffffu;  // every NaN ties with every other NaN
  if (u == 0x80000000u) u = 0;                                // -0 == +0
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// 64-bit key for the sorting paths: the order key above ~index (lower index first on equal values).
uint64_t keyOf(uint32_t ord, int64_t i) {
  return (static_cast<uint64_t>(ord) << 32) | (0xffffffffu - static_cast<uint32_t>(i));
}

int32_t keyIndex(uint64_t key) { return static_cast<int32_t>(0xffffffffu - static_cast<uint32_t>(key)); }

// The first m untaken entries of ord[begin, end) in selection order, written to out; they end up taken (0).
void pickTop(const RowKernels& kern, uint32_t* ord, int64_t begin, int64_t end, int64_t m, int32_t* out,
             uint64_t* keys, uint32_t* bm) {
  if (m <= kTakeMax && 2 * m <= end - begin) {
    kern.blockMax(ord, begin, end, bm);
    for (int64_t j = 0; j < m; ++j) out[j] = static_cast<int32_t>(kern.takeNext(ord, begin, end, bm));
    return;
  }
  int64_t n = 0;
  for (int64_t i = begin; i < end; ++i) {
    if (ord[i]) keys[n++] = keyOf(ord[i], i);
  }
  if (m < n) std::nth_element(keys, keys + m, keys + n, std::greater<uint64_t>());
  std::sort(keys, keys + m, std::greater<uint64_t>());
  for (int64_t j = 0; j < m; ++j) {
    out[j] = keyIndex(keys[j]);
    ord[out[j]] = 0;
  }
}

}  // namespace

uint32_t orderKey(float v) { return ordOf(v); }

void orderKeysScalar(const float* v, int64_t n, uint32_t* ord) {
  for (int64_t i = 0; i < n; ++i) ord[i] = ordOf(v[i]);
}

void blockMaxScalar(const uint32_t* ord, int64_t begin, int64_t end, uint32_t* bm) {
  if (end - begin <= kFlatMax) return;
  for (int64_t b = 0, i = begin; i < end; ++b, i += kBlock) {
    uint32_t m = 0;
    for (int64_t j = i; j < std::min(end, i + kBlock); ++j) m = ord[j] > m ? ord[j] : m;
    bm[b] = m;
  }
}

int64_t takeNextScalar(uint32_t* ord, int64_t begin, int64_t end, uint32_t* bm) {
  if (end - begin <= kFlatMax) {
    int64_t best = begin;
    for (int64_t i = begin + 1; i < end; ++i) best = ord[i] > ord[best] ? i : best;
    ord[best] = 0;
    return best;
  }
  const int64_t nb = (end - begin + kBlock - 1) / kBlock;
  int64_t b = 0;
  for (int64_t c = 1; c < nb; ++c) b = bm[c] > bm[b] ? c : b;  // the first block holding the largest key
  const int64_t i0 = begin + b * kBlock, i1 = std::min(end, i0 + kBlock);
  int64_t best = i0;
  for (int64_t i = i0 + 1; i < i1; ++i) best = ord[i] > ord[best] ? i : best;
  ord[best] = 0;
  uint32_t m = 0;
  for (int64_t i = i0; i < i1; ++i) m = ord[i] > m ? ord[i] : m;
  bm[b] = m;
  return best;
}

void selectTopk(const RowKernels& kern, const float* cs, int64_t E, int64_t k, int64_t groups, int64_t keep,
                int64_t topN, int32_t* picks, float* gscore, const SelectScratch& s) {
  kern.orderKeys(cs, E, s.ord);
  if (groups > 1) {
    const int64_t size = E / groups;
    for (int64_t g = 0; g < groups; ++g) {
      pickTop(kern, s.ord, g * size, (g + 1) * size, topN, s.gtop, s.keys, s.bm);
      double sum = 0.0;  // in selection order, as the reference adds them
      for (int64_t j = 0; j < topN; ++j) sum += static_cast<double>(cs[s.gtop[j]]);
      gscore[g] = static_cast<float>(sum);
      for (int64_t j = 0; j < topN; ++j) s.ord[s.gtop[j]] = ordOf(cs[s.gtop[j]]);  // untake
    }
    kern.orderKeys(gscore, groups, s.gord);
    pickTop(kern, s.gord, 0, groups, keep, s.gtop, s.keys, s.bm);
    // Kept groups are now taken (0) in gord; the experts of every other group leave the candidates.
    for (int64_t g = 0; g < groups; ++g) {
      if (s.gord[g]) std::memset(s.ord + g * size, 0, static_cast<size_t>(size) * sizeof(uint32_t));
    }
  }
  pickTop(kern, s.ord, 0, E, k, picks, s.keys, s.bm);
}

int64_t thresholdPicks(const RowKernels& kern, const float* p, int64_t E, double t, bool inclusive, int64_t kmax,
                       int32_t* picks, const SelectScratch& s) {
  const auto more = [&](double sum) { return inclusive ? sum <= t : sum < t; };
  kern.orderKeys(p, E, s.ord);
  kern.blockMax(s.ord, 0, E, s.bm);
  picks[0] = static_cast<int32_t>(kern.takeNext(s.ord, 0, E, s.bm));
  double sum = static_cast<double>(p[picks[0]]);
  const int64_t takes = E <= kTakeAllBelow ? kmax : std::min<int64_t>(kmax, kTakeMax);
  int64_t j = 1;
  for (; j < takes; ++j) {
    if (!more(sum)) return j;
    picks[j] = static_cast<int32_t>(kern.takeNext(s.ord, 0, E, s.bm));
    sum += static_cast<double>(p[picks[j]]);
  }
  if (j == kmax || !more(sum)) return j;
  // Very wide rows: the untaken keys in a max-heap, popped in order until the rule stops.
  int64_t n = 0;
  for (int64_t i = 0; i < E; ++i) {
    if (s.ord[i]) s.keys[n++] = keyOf(s.ord[i], i);
  }
  std::make_heap(s.keys, s.keys + n);
  for (; j < kmax; ++j) {
    std::pop_heap(s.keys, s.keys + n--);
    picks[j] = keyIndex(s.keys[n]);
    sum += static_cast<double>(p[picks[j]]);
    if (!more(sum)) return j + 1;
  }
  return kmax;
}

}  // namespace moe::cpu::rt
