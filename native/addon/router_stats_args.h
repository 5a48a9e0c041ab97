// router_stats' totals as the JS side reads them: 32 bytes of 4 little-endian f64 (tokens, selections,
// zSquareSum, entropySum). Shared by the router_stats binding and layer_forward's.
#pragma once

#include <cstdint>
#include <cstring>

#include "../common/router_stats.h"

namespace moe::addon {

inline void storeTotals(uint8_t* bytes, const RouterStatsTotals& t) {
  const double v[4] = {static_cast<double>(t.tokens), static_cast<double>(t.selections), t.zSquareSum, t.entropySum};
  std::memcpy(bytes, v, sizeof v);
}

}  // namespace moe::addon
