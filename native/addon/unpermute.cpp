// JS binding of unpermute: unpermute({y, yDtype, rows, tokens, hidden, kmax, ids, weights, slotToRow,
// zeroExperts, copyExperts, constantIds, wc?, v?, x?, xDtype?, inputScale, shared?, sharedDtype?, residual?,
// residualDtype?, out, outDtype}) -> undefined, and unpermuteAsync(...) -> Promise<undefined>.
// y [rows, hidden]; ids, weights (Float32Array), slotToRow [tokens, kmax]; the expert lists Int32Array;
// wc [nConst, 2, hidden] and v [nConst, hidden] Float32Array; x, shared, residual, out [tokens, hidden]
// (Float32Array f32, Uint16Array bits for bf16 / f16). out may be exactly shared's or residual's memory
// (each element is read before it is written), and must not overlap anything else.
// lib/backends/cpu/unpermute.ts is the only caller.


#include "../common/unpermute.h"

#include <cfloat>
#include <cstring>
#include <string>

#include "unpermute_args.h"

namespace {

using moe::addon::Args;
using moe::addon::elementCount;

constexpr int64_t kMaxDim = 2147483647;

// An optional [tokens, hidden] float tensor with its dtype field; null when absent.
const void* tokenRows(Args& a, const char* field, const char* dtypeField, int64_t n, moe::DType* dtype) {
  if (!a.has(field)) return nullptr;
  *dtype = a.floatDtype(dtypeField);
  return a.tensor(field, *dtype, n).data;
}

moe::addon::Work prepareUnpermute(Args& a) {
  moe::UnpermuteArgs k{};
  k.rows = a.integer("rows", 0, kMaxDim);
  k.tokens = a.integer("tokens", 0, kMaxDim);
  k.hidden = a.integer("hidden", 0, kMaxDim);
  k.kmax = a.integer("kmax", 0, kMaxDim);
  k.inputScale = a.number("inputScale", -DBL_MAX, DBL_MAX);
  k.yDtype = a.floatDtype("yDtype");
  k.y = a.tensor("y", k.yDtype, elementCount(a, "y", k.rows, k.hidden)).data;
  const int64_t slots = elementCount(a, "ids", k.tokens, k.kmax), n = elementCount(a, "out", k.tokens, k.hidden);
  k.ids = a.i32("ids", slots).data;
  k.weights = a.f32("weights", slots).data;
  const moe::addon::Span<int32_t> rowOf = a.i32("slotToRow", slots);
  for (int64_t i = 0; i < slots; ++i) {
    if (rowOf.data[i] < -1 || rowOf.data[i] >= k.rows) {
      a.rangeError("slotToRow", "must hold -1 or rows in [0, " + std::to_string(k.rows) + "), got " +
                                    std::to_string(rowOf.data[i]) + " at element " + std::to_string(i));
    }
  }
  k.slotToRow = rowOf.data;

  moe::addon::readExpertLists(a, k);
  k.x = tokenRows(a, "x", "xDtype", n, &k.xDtype);
  if (!a.has("x") && k.nCopy + k.nConst > 0) a.typeError("x", "a typed array (copy and constant experts read x)", a.object().Get("x"));
  k.shared = tokenRows(a, "shared", "sharedDtype", n, &k.sharedDtype);
  k.residual = tokenRows(a, "residual", "residualDtype", n, &k.residualDtype);
  k.outDtype = a.floatDtype("outDtype");
  k.out = a.tensor("out", k.outDtype, n).data;

  for (const char* in : {"y", "ids", "weights", "slotToRow", "zeroExperts", "copyExperts", "constantIds", "wc", "v", "x"}) {
    a.disjoint("out", in);
  }
  a.disjointOrSame("shared", "out");
  a.disjointOrSame("residual", "out");
  return [k] { return moe::cpu::unpermute(k); };
}

}  // namespace

MOE_OP("unpermute", "unpermute", prepareUnpermute);
