// What CUDA can do in this process, asked lazily: the first call initialises the runtime (and, with a GPU,
// creates a context and runs one tiny kernel), so loading the addon never touches the driver.
// Plain C++ on purpose: the binding (compiled by g++) includes it.
#pragma once

#include <string>

namespace moe::cuda {

struct DeviceInfo {
  int runtimeVersion = 0;  // cudaRuntimeGetVersion: 1000 * major + 10 * minor (13000 = 13.0)
  int driverVersion = 0;   // cudaDriverGetVersion: same encoding; 0 when no driver is installed
  int devices = 0;         // usable devices: 0 whenever `error` is set
  std::string error;       // empty when CUDA is usable; else why not, for a person to read
};

// Queried once per process (CUDA state is per process too); thread-safe.
const DeviceInfo& deviceInfo();

}  // namespace moe::cuda
