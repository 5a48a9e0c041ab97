// Module init. The addon object is per environment (Napi::Addon keeps it in instance data), so the module
// loads in worker threads; process-wide facts (CPU features, CUDA state, the thread count, the SIMD path)
// live in native/cpu and native/cuda as plain data, never as JS handles. The op bindings register
// themselves (registry.h); this file exports them all and holds no per-op line.

#include <napi.h>

#include <cmath>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>
#endif

#include "../cpu/cpu_features.h"
#include "../cpu/thread_pool.h"
#include "binding.h"
#include "registry.h"
#if defined(MOE_WITH_CUDA)
#include "../cuda/device.cuh"
#endif

#ifndef MOE_VERSION
#error "MOE_VERSION must be defined by the build (CMakeLists.txt reads it from package.json)"
#endif

namespace {

using moe::cpu::cpuFeatures;
using moe::cpu::simdChoice;

Napi::Object cudaCapabilities(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
#if defined(MOE_WITH_CUDA)
  const moe::cuda::DeviceInfo& d = moe::cuda::deviceInfo();
  o.Set("compiled", true);
  o.Set("devices", d.devices);
  o.Set("error", d.error.empty() ? env.Null() : Napi::String::New(env, d.error));
  o.Set("runtimeVersion", d.runtimeVersion > 0 ? Napi::Value(Napi::Number::New(env, d.runtimeVersion)) : env.Null());
  o.Set("driverVersion", d.driverVersion > 0 ? Napi::Value(Napi::Number::New(env, d.driverVersion)) : env.Null());
#else
  o.Set("compiled", false);
  o.Set("devices", 0);
  o.Set("error", "built without CUDA (nvcc was not found when this binary was built; "
                 "rebuild with nvcc on PATH and MOE_REQUIRE_CUDA=ON)");
  o.Set("runtimeVersion", env.Null());
  o.Set("driverVersion", env.Null());
#endif
  return o;
}

// Node unloads (dlclose) an addon once the last environment that loaded it is gone, e.g. when the only
// worker_thread using it exits. But the CPU thread pool (native/cpu/thread_pool.cpp) is process-wide and never
// stopped: its threads run this library's code for the life of the process, and would then run unmapped code
// (a SIGSEGV, seen when only worker threads load the addon). So the library pins itself on first load:
// re-opening it with RTLD_NODELETE keeps it mapped until the process exits.
void pinLibrary() {
#if defined(__unix__) || defined(__APPLE__)
  static std::once_flag once;
  std::call_once(once, [] {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&pinLibrary), &info) != 0 && info.dli_fname != nullptr) {
      dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);  // a handle never closed, on purpose
    }
  });
#endif
}

class MoeAddon : public Napi::Addon<MoeAddon> {
 public:
  MoeAddon(Napi::Env env, Napi::Object exports) {
    pinLibrary();
    // Resolve the initial SIMD path at load, so an unknown MOE_SIMD warns now, not at the first op.
    const auto& simd = simdChoice();
    if (!simd.warning.empty()) std::fprintf(stderr, "%s\n", simd.warning.c_str());
    DefineAddon(exports, {
        InstanceMethod("capabilities", &MoeAddon::Capabilities, napi_enumerable),
        InstanceMethod("getNumThreads", &MoeAddon::GetNumThreads, napi_enumerable),
        InstanceMethod("setNumThreads", &MoeAddon::SetNumThreads, napi_enumerable),
    });
    std::set<std::string> names = {"capabilities", "getNumThreads", "setNumThreads"};
    for (const moe::addon::Binding& b : moe::addon::registry()) {
      // Two files registering one name is a build mistake: fail the load loudly rather than export either.
      if (!names.insert(b.name).second) {
        throw Napi::Error::New(env, std::string("moe-kernels: two native bindings are named '") + b.name + "'");
      }
      exports.Set(b.name, moe::addon::exportedFunction(env, b));
    }
  }

 private:
  Napi::Value Capabilities(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const moe::cpu::CpuFeatures& f = cpuFeatures();
    Napi::Object cpu = Napi::Object::New(env);
    cpu.Set("avx2", f.avx2);
    cpu.Set("avx512f", f.avx512f);
    cpu.Set("avx512bf16", f.avx512bf16);
    cpu.Set("bf16Dot", f.bf16DotFast);
    cpu.Set("threads", moe::cpu::numThreads());

    Napi::Object caps = Napi::Object::New(env);
    caps.Set("version", MOE_VERSION);
    caps.Set("simd", moe::cpu::simdPathName(moe::cpu::simdPath()));
    caps.Set("cpu", cpu);
    caps.Set("cuda", cudaCapabilities(env));
    return caps;
  }

  Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), moe::cpu::numThreads());
  }

  // setNumThreads(n): n an integer in [0, kMaxThreads]; 0 restores the default (hardware threads).
  Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Napi::Value v = info[0];  // undefined when missing
    if (!v.IsNumber()) {
      throw Napi::TypeError::New(env, "setNumThreads: 'n' must be an integer, got " + moe::addon::describe(v));
    }
    const double n = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(n) || std::floor(n) != n || n < 0 || n > moe::cpu::kMaxThreads) {
      throw Napi::RangeError::New(env, "setNumThreads: 'n' must be an integer in [0, " +
                                           std::to_string(moe::cpu::kMaxThreads) + "], got " +
                                           v.ToString().Utf8Value());
    }
    moe::cpu::setNumThreads(static_cast<int>(n));
    return env.Undefined();
  }
};

}  // namespace

NODE_API_ADDON(MoeAddon)
