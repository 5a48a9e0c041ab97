// route's argument fields (see route.cpp for the list), read and checked into a RouteArgs: shared by the
// route binding and layer_forward's, whose args object carries route's fields under the same names.
#pragma once

#include "../common/route.h"
#include "binding.h"

namespace moe::addon {

// Every field checked as route.cpp documents, except that outputs overlap nothing: the caller checks that
// over all of its arrays.
moe::RouteArgs readRouteArgs(Args& a);

}  // namespace moe::addon
