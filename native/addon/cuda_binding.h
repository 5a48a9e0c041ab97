// What the CUDA op bindings (native/addon/cuda_<op>.cpp) share: device memory with shared ownership, the
// DeviceTensor class (device_tensor.cpp), staging of tensor fields that may be DeviceTensors (used in place)
// or typed arrays (copied to the device and back, which is what the conformance suite uses), and sync /
// async / benchmark runners whose errors name the op and carry the CUDA error text.
//
// Call convention, as for the CPU bindings (binding.h): one args object of named fields, inputs and
// preallocated outputs alike; cudaX(args) -> undefined, cudaXAsync(args) -> Promise<undefined>.
// Ordering: everything runs on the legacy default stream of the tensors' device, so ops and DeviceTensor
// copies are ordered. A call with any typed-array field synchronises (its outputs are on the host when it
// returns); a call on DeviceTensors only is enqueued and returns (errors from inside a kernel then surface at
// the next synchronising call; MOE_CUDA_SYNC=1 synchronises after every op, like CUDA_LAUNCH_BLOCKING).
#pragma once

#if defined(MOE_WITH_CUDA)

#include <cuda_runtime_api.h>
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "binding.h"

namespace moe::addon::cuda {

// cudaMalloc'd memory; freed (cudaFree) when the last owner lets go: a DeviceTensor, or an op in flight
// that uses it (so dispose() during an async op cannot free memory a kernel still reads).
// Temporaries of an op (staged host arrays, workspaces) are stream-ordered (cudaMallocAsync / cudaFreeAsync on
// the op's stream), so releasing them never waits for the GPU and an op on DeviceTensors stays asynchronous.
struct DeviceMem {
  void* ptr = nullptr;
  size_t bytes = 0;
  int device = 0;
  bool stream_ordered = false;
  ~DeviceMem();
};
using DeviceMemPtr = std::shared_ptr<DeviceMem>;
// Allocates max(bytes, 256) bytes on `device` (stream-ordered on the default stream when asked); null with
// *err set on failure.
DeviceMemPtr deviceAlloc(size_t bytes, int device, cudaError_t* err, bool stream_ordered = false);

// A DeviceTensor's state as seen by a binding.
struct DeviceTensorRef {
  DeviceMemPtr mem;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  int64_t numel() const;
};
// True (and *out filled) when v is a live DeviceTensor; false for any other value. Throws a TypeError naming
// `field` for a disposed one. Safe for any value: DeviceTensors carry a Node-API type tag.
bool readDeviceTensor(Napi::Env env, const char* op, const char* field, const Napi::Value& v, DeviceTensorRef* out);

// The result of a CUDA work item: a Status, and for CudaError the CUDA error name and text.
struct Result {
  Status status = Status::Ok;
  std::string detail;
  bool ok() const { return status == Status::Ok; }
};
Result cudaResult(cudaError_t e, const char* what);  // Ok for cudaSuccess
#define MOE_CUDA_RESULT(expr, what)                             \
  do {                                                          \
    const cudaError_t moe_e_ = (expr);                          \
    if (moe_e_ != cudaSuccess) return cudaResult(moe_e_, what); \
  } while (0)

// The device pointers of one op call. Fields are read on the JS thread (prepare); temporaries are allocated
// then, so every pointer is known before the work runs; copies happen inside run().
class Staging {
 public:
  Staging(Args& args, int device);

  // A required tensor field of `dtype` with exactly `count` elements: a DeviceTensor or a typed array.
  // Inputs are copied in before the launch; outputs copied back after it (host outputs are copied in too,
  // so unwritten elements keep the caller's contents, e.g. a poison pattern); inout both.
  const void* in(const char* field, DType dtype, int64_t count);
  void* out(const char* field, DType dtype, int64_t count);
  void* inout(const char* field, DType dtype, int64_t count);
  // Optional input: null when the field is absent or undefined.
  const void* optIn(const char* field, DType dtype, int64_t count);
  // A Uint8Array field (masks): host only, copied in; null when absent.
  const uint8_t* optMask(const char* field, int64_t count);
  // A host-side list copied to the device (e.g. special-expert tables built by the binding).
  const void* constant(const void* data, size_t bytes);
  // Device scratch of `bytes` (0 gives null), alive until the work finishes.
  void* scratch(size_t bytes);

  // The host data of a field already staged from a typed array (for checks only the host can afford, e.g.
  // that offsets add up), or null when the field is a DeviceTensor or was not staged.
  const void* hostData(const char* field) const;

  bool anyHost() const { return !h2d_.empty() || !d2h_.empty(); }
  int device() const { return device_; }

  // Work-thread part: set the device, copy inputs, launch, copy outputs back; synchronise when any field
  // is on the host (or MOE_CUDA_SYNC=1). `launch` returns the first CUDA error.
  Result run(const std::function<cudaError_t(cudaStream_t)>& launch) const;

 private:
  struct Copy {
    void* dev;
    void* host;
    size_t bytes;
  };
  void* field(const char* field, DType dtype, int64_t count, bool copy_in, bool copy_out);
  void* temp(size_t bytes);

  Args& args_;
  int device_;
  std::vector<DeviceMemPtr> keep_;  // every device buffer the work touches stays alive until it is done
  std::vector<Copy> h2d_, d2h_;
  std::vector<std::vector<unsigned char>> constants_;
  std::vector<std::pair<std::string, const void*>> host_;
};

// A CUDA op binding: reads args on the JS thread, returns the work (which must not touch JS values).
using CudaWork = std::function<Result()>;
using CudaPrepare = CudaWork (*)(Args& args);

struct CudaOpDef {
  const char* name;  // the JS export, e.g. "cudaRoute"
  const char* op;    // the op id in error messages, e.g. "route"
  CudaPrepare prepare;
};
struct CudaOpRegistrar {
  explicit CudaOpRegistrar(const CudaOpDef* def);
};
// The registered CUDA ops, by export name (cudaBench looks them up); null when unknown.
const CudaOpDef* findCudaOp(const std::string& name);

Napi::Value cudaOpSync(const Napi::CallbackInfo& info);
Napi::Value cudaOpAsync(const Napi::CallbackInfo& info);

// The device every CUDA op runs on (0), after making sure CUDA is usable (else throws "<op>: no usable GPU").
int requireDevice(Napi::Env env, const char* op);

}  // namespace moe::addon::cuda

// MOE_CUDA_OP("cudaRoute", "route", prepareRoute): exports cudaRoute(args) and cudaRouteAsync(args).
#define MOE_CUDA_OP(jsName, opId, prepare)                                                                   \
  static const ::moe::addon::cuda::CudaOpDef MOE_CONCAT(moe_cuda_op_, __LINE__){jsName, opId, prepare};      \
  static const ::moe::addon::cuda::CudaOpRegistrar MOE_CONCAT(moe_cuda_reg_, __LINE__)(                      \
      &MOE_CONCAT(moe_cuda_op_, __LINE__));                                                                  \
  static const ::moe::addon::Registrar MOE_CONCAT(moe_cuda_sync_, __LINE__)(                                 \
      jsName, ::moe::addon::cuda::cudaOpSync, const_cast<::moe::addon::cuda::CudaOpDef*>(&MOE_CONCAT(moe_cuda_op_, __LINE__))); \
  static const ::moe::addon::Registrar MOE_CONCAT(moe_cuda_async_, __LINE__)(                                \
      jsName "Async", ::moe::addon::cuda::cudaOpAsync,                                                        \
      const_cast<::moe::addon::cuda::CudaOpDef*>(&MOE_CONCAT(moe_cuda_op_, __LINE__)))

#endif  // MOE_WITH_CUDA
