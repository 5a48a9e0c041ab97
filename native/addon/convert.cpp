// JS binding of convert: convert({x, xDtype, out, outDtype}) -> undefined, and convertAsync(...) ->
// Promise<undefined>. x / out: Float32Array for f32, Uint16Array (bits) for bf16 / f16; out has x's length
// and is disjoint from x or exactly x's memory. lib/backends/cpu/convert.ts is the only caller.

#include "../common/convert.h"

#include "binding.h"

namespace {

using moe::addon::Args;

moe::addon::Work prepareConvert(Args& a) {
  moe::ConvertArgs k;
  k.x = a.tensor("x", a.floatDtype("xDtype"));
  k.out = a.tensor("out", a.floatDtype("outDtype"), k.x.numel());
  a.disjointOrSame("x", "out");
  return [k] { return moe::cpu::convert(k); };
}

}  // namespace

MOE_OP("convert", "convert", prepareConvert);
