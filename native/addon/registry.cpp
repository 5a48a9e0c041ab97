// The registry's storage: a function-local static, so it exists before the first static registrar runs,
// whatever order the linker put the translation units in.

#include "registry.h"

namespace moe::addon {

namespace {

// Throws `e` as a JS exception where that is possible, and otherwise drops it. node-addon-api's own wrapper
// rethrows a C++ exception when napi_throw fails, which happens while a worker_thread is being terminated
// (V8's termination is pending): from inside its catch handler that is std::terminate, and the whole process
// aborts (test/stress/workers.child.ts terminate, every run). A terminating environment has no one to
// report to, so dropping is right.
void throwQuietly(napi_env env, const Napi::Error& e) noexcept {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  napi_value v = nullptr;
  try {
    v = e.Value();
  } catch (...) {
    v = nullptr;
  }
  if (v != nullptr) napi_throw(env, v);
}

// Every registered binding is called through here, so no C++ exception ever leaves the addon.
napi_value callBinding(napi_env env, napi_callback_info cbinfo) {
  try {
    Napi::CallbackInfo info(env, cbinfo);
    const auto* b = static_cast<const Binding*>(info.Data());
    info.SetData(b->data);
    const Napi::Value r = b->fn(info);
    return r;
  } catch (const Napi::Error& e) {
    throwQuietly(env, e);
  } catch (...) {
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && !pending)
      napi_throw_error(env, nullptr, "moe-kernels: internal error in a native binding");
  }
  return nullptr;
}

}  // namespace

Napi::Function exportedFunction(Napi::Env env, const Binding& b) {
  napi_value fn = nullptr;
  const napi_status s = napi_create_function(env, b.name, NAPI_AUTO_LENGTH, callBinding, const_cast<Binding*>(&b), &fn);
  NAPI_THROW_IF_FAILED(env, s, Napi::Function());
  return Napi::Function(env, fn);
}

std::vector<Binding>& registry() {
  static std::vector<Binding> list;
  return list;
}

}  // namespace moe::addon
