// unpermute's expert-list fields (zeroExperts, copyExperts, constantIds Int32Array; wc [nConst, 2, hidden]
// and v [nConst, hidden] Float32Array with constant experts), read into an UnpermuteArgs whose hidden is
// set: shared by the unpermute binding and layer_forward's, which names them the same.
#pragma once

#include "../common/unpermute.h"
#include "binding.h"

namespace moe::addon {

inline void readExpertLists(Args& a, UnpermuteArgs& k) {
  const Span<int32_t> zero = a.i32("zeroExperts"), copy = a.i32("copyExperts"), cst = a.i32("constantIds");
  k.zeroExperts = zero.data;
  k.nZero = zero.size;
  k.copyExperts = copy.data;
  k.nCopy = copy.size;
  k.constantIds = cst.data;
  k.nConst = cst.size;
  if (k.nConst > 0) {
    k.wc = a.f32("wc", elementCount(a, "wc", 2 * k.nConst, k.hidden)).data;
    k.v = a.f32("v", elementCount(a, "v", k.nConst, k.hidden)).data;
  }
}

}  // namespace moe::addon
