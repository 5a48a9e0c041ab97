// The registry's storage: a function-local static, so it exists before the first static registrar runs,
// whatever order the linker put the translation units in.

#include "registry.h"

namespace moe::addon {

std::vector<Binding>& registry() {
  static std::vector<Binding> list;
  return list;
}

}  // namespace moe::addon
