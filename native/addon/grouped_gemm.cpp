// JS binding of grouped_gemm: groupedGemm({a, aDtype, w, wDtype, rows, k, n, experts, offsets, bias?,
// addend?, activation, gluLayout, out, outDtype}) -> undefined, and groupedGemmAsync(...) ->
// Promise<undefined>. a [rows, k], w [experts, n, k], offsets Int32Array [experts + 1], bias Float32Array
// [experts, n], addend Float32Array [rows, n], out [rows, n] (or [rows, n / 2] for swiglu / geglu);
// half types as Uint16Array bits. lib/backends/cpu/grouped_gemm.ts is the only caller.

#include "../common/grouped_gemm.h"

#include <string>

#include "binding.h"

namespace {

using moe::addon::Args;
using moe::addon::elementCount;

constexpr int64_t kMaxDim = 2147483647;  // offsets are int32; every dimension fits one

moe::addon::Work prepareGroupedGemm(Args& a) {
  moe::GroupedGemmArgs g{};
  const int64_t rows = a.integer("rows", 0, kMaxDim), k = a.integer("k", 0, kMaxDim);
  const int64_t n = a.integer("n", 0, kMaxDim), experts = a.integer("experts", 1, kMaxDim);
  const int act = a.oneOf("activation", {"none", "relu", "gelu", "gelu_tanh", "silu", "swiglu", "geglu", "tanh", "sigmoid"});
  g.act = static_cast<moe::Activation>(act);
  g.glu = static_cast<moe::GluLayout>(a.oneOf("gluLayout", {"halves", "interleaved"}));
  const bool glu = g.act == moe::Activation::Swiglu || g.act == moe::Activation::Geglu;
  if (glu && n % 2 != 0) a.rangeError("n", "must be even for swiglu / geglu, got " + std::to_string(n));
  const int64_t nOut = glu ? n / 2 : n;

  g.a = a.tensor("a", a.floatDtype("aDtype"), elementCount(a, "a", rows, k));
  g.a.ndim = 2;
  g.a.shape[0] = rows;
  g.a.shape[1] = k;
  g.w = a.tensor("w", a.floatDtype("wDtype"), elementCount(a, "w", elementCount(a, "w", experts, n), k));
  g.w.ndim = 3;
  g.w.shape[0] = experts;
  g.w.shape[1] = n;
  g.w.shape[2] = k;
  g.out = a.tensor("out", a.floatDtype("outDtype"), elementCount(a, "out", rows, nOut));
  g.out.ndim = 2;
  g.out.shape[0] = rows;
  g.out.shape[1] = nOut;
  g.experts = experts;

  // The kernel indexes rows through offsets: they must cover [0, rows) exactly, in order.
  const moe::addon::Span<int32_t> off = a.i32("offsets", experts + 1);
  if (off.data[0] != 0) a.rangeError("offsets", "must start at 0, got " + std::to_string(off.data[0]));
  for (int64_t e = 0; e < experts; ++e)
    if (off.data[e + 1] < off.data[e])
      a.rangeError("offsets", "must be non-decreasing, got offsets[" + std::to_string(e) + "] = " +
                                  std::to_string(off.data[e]) + " > offsets[" + std::to_string(e + 1) + "] = " +
                                  std::to_string(off.data[e + 1]));
  if (off.data[experts] != rows)
    a.rangeError("offsets", "must end at rows = " + std::to_string(rows) + ", got " + std::to_string(off.data[experts]));
  g.offsets = off.data;
  g.bias = a.has("bias") ? a.f32("bias", elementCount(a, "bias", experts, n)).data : nullptr;
  g.addend = a.has("addend") ? a.f32("addend", elementCount(a, "addend", rows, n)).data : nullptr;

  for (const char* input : {"a", "w", "offsets", "bias", "addend"})
    if (a.has(input)) a.disjointOrSame(input, "out");
  return [g] { return moe::cpu::groupedGemm(g); };
}

}  // namespace

MOE_OP("groupedGemm", "grouped_gemm", prepareGroupedGemm);
