// TensorView: a non-owning view of a dense, row-major tensor, host or device memory. Kernels receive views
// of validated, preallocated buffers; they never allocate or free through one.
#pragma once

#include <cstddef>
#include <cstdint>

namespace moe {

// The element types that cross the boundary. bf16 and f16 travel as raw 16-bit patterns (Uint16Array in JS).
enum class DType : int32_t { F32 = 0, BF16 = 1, F16 = 2, I32 = 3 };

inline size_t dtypeSize(DType t) { return t == DType::F32 || t == DType::I32 ? 4 : 2; }

inline const char* dtypeName(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::F16: return "f16";
    case DType::I32: return "i32";
  }
  return "?";
}

struct TensorView {
  static constexpr int kMaxDims = 4;  // the ops use at most [E, N, K]; one spare

  void* data = nullptr;
  DType dtype = DType::F32;
  int32_t ndim = 0;
  int64_t shape[kMaxDims] = {0, 0, 0, 0};  // 64-bit: T·k·H passes 2^31 in real prefill

  int64_t numel() const {
    int64_t n = 1;
    for (int32_t i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtypeSize(dtype); }

  template <typename T>
  T* as() const { return static_cast<T*>(data); }
};

}  // namespace moe
