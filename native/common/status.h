// Status codes returned by every native entry point. Kernels never throw: they return one of these and the
// binding (native/addon) turns it into a JS error whose message starts with the op id.
#pragma once

namespace moe {

enum class Status : int {
  Ok = 0,
  InvalidArgument = 1,  // a shape, dtype or length the binding should have rejected
  Unsupported = 2,      // a dtype / layout / size this backend does not implement: caller falls back
  OutOfMemory = 3,
  CudaError = 4,        // detail in the CUDA error string captured next to the status
  Internal = 5,
};

inline const char* statusName(Status s) {
  switch (s) {
    case Status::Ok: return "ok";
    case Status::InvalidArgument: return "invalid argument";
    case Status::Unsupported: return "unsupported";
    case Status::OutOfMemory: return "out of memory";
    case Status::CudaError: return "CUDA error";
    case Status::Internal: return "internal error";
  }
  return "unknown status";
}

}  // namespace moe
