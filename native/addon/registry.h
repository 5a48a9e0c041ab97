// Self-registering exports. Each native/addon/<op>.cpp registers its functions with MOE_BINDING (one
// function) or MOE_OP (the `<op>` / `<op>Async` pair, see binding.h); addon.cpp exports every entry when the
// module loads in an environment, so adding an op never touches addon.cpp.
//
// The list is filled by static initialisers, which all run when the shared library is loaded, before Node
// calls the module's init. It holds only names and function pointers (immutable after load), so it is safe
// to share between environments; per-environment state belongs in the addon's instance data.
#pragma once

#include <napi.h>

#include <vector>

namespace moe::addon {

using Callback = Napi::Value (*)(const Napi::CallbackInfo&);

struct Binding {
  const char* name;  // the JS export name, camelCase (convert, convertAsync, groupedGemm, ...)
  Callback fn;
  void* data;        // handed to fn as info.Data(); MOE_OP puts its OpDef here
};

std::vector<Binding>& registry();

// The JS function for an entry (info.Data() is the entry's data). It never lets a C++ exception out: a
// Napi::Error becomes the JS exception, or is dropped when the environment is terminating.
Napi::Function exportedFunction(Napi::Env env, const Binding& b);

struct Registrar {
  Registrar(const char* name, Callback fn, void* data = nullptr) { registry().push_back({name, fn, data}); }
};

}  // namespace moe::addon

#define MOE_CONCAT_INNER(a, b) a##b
#define MOE_CONCAT(a, b) MOE_CONCAT_INNER(a, b)

// MOE_BINDING("setSimdPath", SetSimdPath): export one function under a name.
#define MOE_BINDING(name, fn) \
  static const ::moe::addon::Registrar MOE_CONCAT(moe_binding_, __LINE__)(name, fn)
