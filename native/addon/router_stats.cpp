// JS binding of router_stats: routerStats({ids, scores, logits?, tokenMask?, tokens, kmax, experts,
// normalizeScores, counts, top1Counts, probSum, totals}) -> undefined, and routerStatsAsync(...) ->
// Promise<undefined>. ids Int32Array [tokens, kmax] (-1 or [0, experts)); scores, logits Float32Array
// [tokens, experts]; tokenMask Uint8Array [tokens]; outputs counts, top1Counts Int32Array [experts], probSum
// Float32Array [experts], and totals: a Uint8Array of 32 bytes that receives 4 little-endian f64 (tokens,
// selections, zSquareSum, entropySum; the binding has no Float64Array reader, and a byte array needs no
// alignment). lib/backends/cpu/router_stats.ts is the only caller.

#include "../common/router_stats.h"

#include <cstring>
#include <string>

#include "binding.h"
#include "router_stats_args.h"

namespace {

using moe::addon::Args;
using moe::addon::elementCount;

constexpr int64_t kMaxDim = 2147483647;

moe::addon::Work prepareRouterStats(Args& a) {
  moe::RouterStatsArgs k{};
  k.tokens = a.integer("tokens", 0, kMaxDim);
  k.kmax = a.integer("kmax", 0, kMaxDim);
  k.experts = a.integer("experts", 0, kMaxDim);
  k.normalizeScores = a.boolean("normalizeScores");
  const moe::addon::Span<int32_t> ids = a.i32("ids", elementCount(a, "ids", k.tokens, k.kmax));
  for (int64_t i = 0; i < ids.size; ++i) {
    if (ids.data[i] < -1 || ids.data[i] >= k.experts) {
      a.rangeError("ids", "must hold -1 or expert ids in [0, " + std::to_string(k.experts) + "), got " +
                              std::to_string(ids.data[i]) + " at element " + std::to_string(i));
    }
  }
  k.ids = ids.data;
  const int64_t n = elementCount(a, "scores", k.tokens, k.experts);
  k.scores = a.f32("scores", n).data;
  k.logits = a.has("logits") ? a.f32("logits", n).data : nullptr;
  k.tokenMask = a.has("tokenMask") ? a.u8("tokenMask", k.tokens).data : nullptr;
  k.counts = a.i32("counts", k.experts).data;
  k.top1Counts = a.i32("top1Counts", k.experts).data;
  k.probSum = a.f32("probSum", k.experts).data;
  uint8_t* totals = a.u8("totals", 32).data;
  for (const char* out : {"counts", "top1Counts", "probSum", "totals"}) {
    for (const char* other : {"ids", "scores", "logits", "tokenMask", "counts", "top1Counts", "probSum", "totals"}) {
      if (std::strcmp(out, other) != 0) a.disjoint(out, other);
    }
  }
  return [k, totals] {
    moe::RouterStatsTotals t;
    const moe::Status s = moe::cpu::routerStats(k, &t);
    if (s == moe::Status::Ok) moe::addon::storeTotals(totals, t);
    return s;
  };
}

}  // namespace

MOE_OP("routerStats", "router_stats", prepareRouterStats);
