// JS bindings of the machine's ceilings (native/cpu/ceilings.h), for benchmarks/ceilings.ts:
//   measureFmaPeak(threads, ms) -> { gflops, cpuGflops, path }
//   measureBandwidth(bytes, threads, reps = 3) -> GB/s (best pass)
//   streamRead(data: Float32Array, threads) -> GB/s of one pass (the benchmarks' cache flush)
// They block the JS thread for the measurement, which is what a benchmark wants.

#include <napi.h>

#include <cmath>
#include <string>

#include "../cpu/ceilings.h"
#include "../cpu/thread_pool.h"
#include "binding.h"

namespace {

double numberArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name, double lo, double hi,
                 bool integer) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": '" + name + "' must be a number, got " +
                                               moe::addon::describe(v));
  }
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < lo || d > hi || (integer && d != std::floor(d))) {
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": '" + name + "' must be " +
                                                (integer ? "an integer" : "a number") + " in [" +
                                                std::to_string(int64_t(lo)) + ", " + std::to_string(int64_t(hi)) +
                                                "], got " + moe::addon::describe(v));
  }
  return d;
}

Napi::Value MeasureFmaPeak(const Napi::CallbackInfo& info) {
  const int threads = int(numberArg(info, 0, "measureFmaPeak", "threads", 1, moe::cpu::kMaxThreads, true));
  const double ms = numberArg(info, 1, "measureFmaPeak", "ms", 1, 60000, false);
  const moe::cpu::FmaPeak p = moe::cpu::fmaPeak(threads, ms);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("gflops", p.gflops);
  o.Set("cpuGflops", p.cpuGflops);
  o.Set("path", p.path);
  return o;
}

Napi::Value MeasureBandwidth(const Napi::CallbackInfo& info) {
  const double bytes = numberArg(info, 0, "measureBandwidth", "bytes", 1 << 16, double(int64_t(1) << 40), true);
  const int threads = int(numberArg(info, 1, "measureBandwidth", "threads", 1, moe::cpu::kMaxThreads, true));
  const int reps = info[2].IsUndefined() ? 3 : int(numberArg(info, 2, "measureBandwidth", "reps", 1, 100, true));
  return Napi::Number::New(info.Env(), moe::cpu::readBandwidth(int64_t(bytes), threads, reps));
}

Napi::Value StreamRead(const Napi::CallbackInfo& info) {
  const Napi::Value v = info[0];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(info.Env(), "streamRead: 'data' must be a Float32Array, got " + moe::addon::describe(v));
  }
  const int threads = int(numberArg(info, 1, "streamRead", "threads", 1, moe::cpu::kMaxThreads, true));
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  return Napi::Number::New(info.Env(), moe::cpu::readOnce(a.Data(), int64_t(a.ElementLength()), threads));
}

}  // namespace

MOE_BINDING("measureFmaPeak", MeasureFmaPeak);
MOE_BINDING("measureBandwidth", MeasureBandwidth);
MOE_BINDING("streamRead", StreamRead);
