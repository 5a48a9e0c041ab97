// JS binding of permute: permute({x, xDtype, tokens, hidden, kmax, ids, experts, totalExperts, segmentOf,
// offsets, rowCount, scale, rows, slotToRow, rowToToken}) -> undefined, and permuteAsync(...) ->
// Promise<undefined>. x [tokens, hidden] and rows [rowCount, hidden] (Float32Array f32, Uint16Array bits for
// bf16 / f16), ids and slotToRow Int32Array [tokens, kmax], segmentOf [totalExperts], offsets [experts + 1],
// rowToToken [rowCount]. lib/backends/cpu/permute.ts is the only caller; it passes permuteLayout's offsets.
// Every id, segment and offset the kernel indexes with is checked here (the kernel checks them again).

#include "../common/permute.h"

#include <cfloat>
#include <cstring>
#include <string>
#include <vector>

#include "binding.h"

namespace {

using moe::addon::Args;
using moe::addon::elementCount;

constexpr int64_t kMaxDim = 2147483647;  // row indices are int32

moe::addon::Work preparePermute(Args& a) {
  moe::PermuteArgs k{};
  k.dtype = a.floatDtype("xDtype");
  k.tokens = a.integer("tokens", 0, kMaxDim);
  k.hidden = a.integer("hidden", 0, kMaxDim);
  k.kmax = a.integer("kmax", 0, kMaxDim);
  k.experts = a.integer("experts", 1, kMaxDim);
  k.totalExperts = a.integer("totalExperts", 0, kMaxDim);
  k.rowCount = a.integer("rowCount", 0, kMaxDim);
  k.scale = a.number("scale", -DBL_MAX, DBL_MAX);
  const int64_t slots = elementCount(a, "ids", k.tokens, k.kmax);
  k.x = a.tensor("x", k.dtype, elementCount(a, "x", k.tokens, k.hidden)).data;

  const moe::addon::Span<int32_t> seg = a.i32("segmentOf", k.totalExperts);
  for (int64_t e = 0; e < seg.size; ++e) {
    if (seg.data[e] < -1 || seg.data[e] >= k.experts) {
      a.rangeError("segmentOf", "must hold -1 or segments in [0, " + std::to_string(k.experts) + "), got " +
                                    std::to_string(seg.data[e]) + " at " + std::to_string(e));
    }
  }
  k.segmentOf = seg.data;
  // offsets is read (and its length checked) before anything is sized by experts: experts comes straight from
  // the caller (up to 2^31 - 1), and the scratch below is then bounded by an array that really exists.
  const moe::addon::Span<int32_t> off = a.i32("offsets", k.experts + 1);
  const moe::addon::Span<int32_t> ids = a.i32("ids", slots);
  // The loops below read segmentOf and offsets after later fields were read: a getter of one of those may
  // have detached or shrunk them (the other bindings read an array's values right after reading it).
  a.checkBuffers();
  std::vector<int64_t> real(static_cast<size_t>(k.experts), 0);
  for (int64_t i = 0; i < slots; ++i) {
    const int32_t id = ids.data[i];
    if (id < -1 || id >= k.totalExperts) {
      a.rangeError("ids", "must hold -1 or expert ids in [0, " + std::to_string(k.totalExperts) + "), got " +
                              std::to_string(id) + " at element " + std::to_string(i));
    }
    if (id >= 0 && seg.data[id] >= 0) ++real[static_cast<size_t>(seg.data[id])];
  }
  k.ids = ids.data;

  // Segment s gets rows offsets[s] .. offsets[s+1]-1: enough for its real rows, inside [0, rowCount).
  if (off.data[0] != 0) a.rangeError("offsets", "must start at 0, got " + std::to_string(off.data[0]));
  for (int64_t s = 0; s < k.experts; ++s) {
    if (off.data[s + 1] < off.data[s]) {
      a.rangeError("offsets", "must be non-decreasing, got offsets[" + std::to_string(s) + "] = " + std::to_string(off.data[s]) +
                                  " > offsets[" + std::to_string(s + 1) + "] = " + std::to_string(off.data[s + 1]));
    }
    if (off.data[s + 1] - static_cast<int64_t>(off.data[s]) < real[static_cast<size_t>(s)]) {
      a.rangeError("offsets", "leave segment " + std::to_string(s) + " room for " +
                                  std::to_string(off.data[s + 1] - static_cast<int64_t>(off.data[s])) +
                                  " row(s), but the ids send " + std::to_string(real[static_cast<size_t>(s)]) + " slots to it");
    }
  }
  if (off.data[k.experts] != k.rowCount) {
    a.rangeError("offsets", "must end at rowCount = " + std::to_string(k.rowCount) + ", got " + std::to_string(off.data[k.experts]));
  }
  k.offsets = off.data;

  k.rows = a.tensor("rows", k.dtype, elementCount(a, "rows", k.rowCount, k.hidden)).data;
  k.slotToRow = a.i32("slotToRow", slots).data;
  k.rowToToken = a.i32("rowToToken", k.rowCount).data;
  for (const char* out : {"rows", "slotToRow", "rowToToken"}) {
    for (const char* in : {"x", "ids", "segmentOf", "offsets", "rows", "slotToRow", "rowToToken"}) {
      if (std::strcmp(in, out) != 0) a.disjoint(out, in);
    }
  }
  return [k] { return moe::cpu::permute(k); };
}

}  // namespace

MOE_OP("permute", "permute", preparePermute);
