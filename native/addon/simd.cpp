// setSimdPath(path): switch the CPU kernels' SIMD path at run time, so one process (a test run) can cover
// every path; capabilities().simd then reports the new path. Process-wide, like setNumThreads.

#include <napi.h>

#include "../cpu/cpu_features.h"
#include "binding.h"

namespace {

using moe::cpu::SimdPath;

// setSimdPath('scalar' | 'avx2' | 'avx512' | 'auto') -> the path in effect: the request clamped to what the
// CPU and OS support ('auto' = the best supported, ignoring MOE_SIMD).
Napi::Value SetSimdPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Value v = info[0];
  const char* list = "one of 'scalar', 'avx2', 'avx512', 'auto'";
  if (!v.IsString()) {
    throw Napi::TypeError::New(env, std::string("setSimdPath: 'path' must be ") + list + ", got " + moe::addon::describe(v));
  }
  const std::string s = v.As<Napi::String>().Utf8Value();
  SimdPath want;
  if (s == "scalar") {
    want = SimdPath::Scalar;
  } else if (s == "avx2") {
    want = SimdPath::Avx2;
  } else if (s == "avx512" || s == "auto") {
    want = SimdPath::Avx512;  // clamped below
  } else {
    throw Napi::RangeError::New(env, std::string("setSimdPath: 'path' must be ") + list + ", got '" + s + "'");
  }
  return Napi::String::New(env, moe::cpu::simdPathName(moe::cpu::setSimdPath(want)));
}

}  // namespace

MOE_BINDING("setSimdPath", SetSimdPath);
