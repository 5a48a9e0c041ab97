// DeviceTensor: a JS class wrapping cudaMalloc'd memory with a dtype and a shape (lib/device.ts is its
// TypeScript face). cudaAllocate(dtype, shape) makes one; methods: upload / download (sync) and
// uploadAsync / downloadAsync (Promise) between the device and a typed array of the same byte length,
// copyFrom(other) and fill(byte) (enqueued on the stream), dispose(); getters ptr (BigInt), bytes, dtype,
// shape, device, disposed. The memory is freed by dispose(), or by the finalizer when the object is
// collected (a backstop: device memory does not pressure the JS heap, so do not rely on it), and in both
// cases only once no op in flight still uses it (shared ownership, see DeviceMem).
// Instances carry a Node-API type tag, so bindings can tell a DeviceTensor from any other object safely.

#if defined(MOE_WITH_CUDA)

#include <cuda_runtime_api.h>
#include <napi.h>

#include <cmath>
#include <mutex>
#include <string>
#include <unordered_map>

#include "../cuda/device.cuh"
#include "cuda_binding.h"

namespace moe::addon::cuda {

DeviceMem::~DeviceMem() {
  if (!ptr) return;
  int prev = 0;
  const bool restore = cudaGetDevice(&prev) == cudaSuccess && prev != device;
  if (restore) cudaSetDevice(device);
  // Errors ignored: at process exit the runtime may already be unloading.
  if (stream_ordered) {
    cudaFreeAsync(ptr, 0);  // after everything already enqueued on the stream that used it
  } else {
    cudaFree(ptr);
  }
  if (restore) cudaSetDevice(prev);
}

DeviceMemPtr deviceAlloc(size_t bytes, int device, cudaError_t* err, bool stream_ordered) {
  *err = cudaSetDevice(device);
  if (*err != cudaSuccess) return nullptr;
  auto m = std::make_shared<DeviceMem>();
  m->device = device;
  m->bytes = bytes;
  m->stream_ordered = stream_ordered;
  const size_t n = bytes < 256 ? 256 : bytes;  // never a null pointer, even for empty tensors
  *err = stream_ordered ? cudaMallocAsync(&m->ptr, n, 0) : cudaMalloc(&m->ptr, n);
  if (*err != cudaSuccess) {
    m->ptr = nullptr;
    cudaGetLastError();  // allocation failures are not sticky: clear them
    return nullptr;
  }
  return m;
}

int64_t DeviceTensorRef::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int requireDevice(Napi::Env env, const char* op) {
  const moe::cuda::DeviceInfo& d = moe::cuda::deviceInfo();
  if (d.devices <= 0) throw Napi::Error::New(env, std::string(op) + ": " + d.error);
  return 0;
}

namespace {

constexpr napi_type_tag kDeviceTensorTag = {0x6d6f656b65726e65ull, 0x6c2d64657674656eull};

const char* dtypeString(DType t) { return dtypeName(t); }

class DeviceTensor : public Napi::ObjectWrap<DeviceTensor> {
 public:
  static Napi::Function Class(Napi::Env env);

  // new DeviceTensor(dtype, shape): only through cudaAllocate, which checks the device first.
  explicit DeviceTensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceTensor>(info) {
    Napi::Env env = info.Env();
    const Napi::Value d = info[0];
    const std::string ds = d.IsString() ? d.As<Napi::String>().Utf8Value() : "";
    if (ds == "f32") dtype_ = DType::F32;
    else if (ds == "bf16") dtype_ = DType::BF16;
    else if (ds == "f16") dtype_ = DType::F16;
    else if (ds == "i32") dtype_ = DType::I32;
    else throw Napi::TypeError::New(env, "DeviceTensor.allocate: 'dtype' must be one of 'f32', 'bf16', 'f16', 'i32', got " + describe(d));
    if (!info[1].IsArray()) throw Napi::TypeError::New(env, "DeviceTensor.allocate: 'shape' must be an array of sizes, got " + describe(info[1]));
    const Napi::Array s = info[1].As<Napi::Array>();
    double numel = 1;
    for (uint32_t i = 0; i < s.Length(); ++i) {
      const Napi::Value v = s.Get(i);
      const double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(x >= 0) || std::floor(x) != x || x > 9007199254740991.0) {
        throw Napi::RangeError::New(env, "DeviceTensor.allocate: 'shape[" + std::to_string(i) +
                                             "]' must be a non-negative integer, got " + describe(v));
      }
      shape_.push_back(int64_t(x));
      numel *= x;
    }
    if (numel * double(dtypeSize(dtype_)) > double(1ull << 50)) {
      throw Napi::RangeError::New(env, "DeviceTensor.allocate: 'shape' is too large for one allocation");
    }
    cudaError_t e;
    mem_ = deviceAlloc(size_t(numel) * dtypeSize(dtype_), 0, &e);
    if (!mem_) {
      throw Napi::Error::New(env, std::string("DeviceTensor.allocate: cudaMalloc of ") +
                                      std::to_string(size_t(numel) * dtypeSize(dtype_)) + " bytes failed: " +
                                      cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
    }
    info.This().As<Napi::Object>().TypeTag(&kDeviceTensorTag);
  }

  const DeviceMemPtr& mem() const { return mem_; }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }

 private:
  size_t bytes() const { return mem_ ? mem_->bytes : 0; }

  DeviceMemPtr live(Napi::Env env, const char* method) const {
    if (!mem_) throw Napi::Error::New(env, std::string("DeviceTensor.") + method + ": the tensor was disposed");
    return mem_;
  }

  // The typed array matching dtype with exactly `bytes` bytes.
  Napi::TypedArray hostArray(const Napi::CallbackInfo& info, const char* method) const {
    Napi::Env env = info.Env();
    const Napi::Value v = info[0];
    const napi_typedarray_type want = dtype_ == DType::F32 ? napi_float32_array
                                      : dtype_ == DType::I32 ? napi_int32_array : napi_uint16_array;
    const char* wantName = dtype_ == DType::F32 ? "a Float32Array" : dtype_ == DType::I32 ? "an Int32Array" : "a Uint16Array";
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != want) {
      throw Napi::TypeError::New(env, std::string("DeviceTensor.") + method + ": 'array' must be " + wantName +
                                          " for dtype '" + dtypeString(dtype_) + "', got " + describe(v));
    }
    const Napi::TypedArray a = v.As<Napi::TypedArray>();
    if (a.ByteLength() != bytes()) {
      throw Napi::RangeError::New(env, std::string("DeviceTensor.") + method + ": 'array' must have " +
                                           std::to_string(bytes() / dtypeSize(dtype_)) + " elements, got " +
                                           std::to_string(a.ElementLength()));
    }
    return a;
  }

  static void check(Napi::Env env, const char* method, cudaError_t e) {
    if (e != cudaSuccess) {
      cudaGetLastError();
      throw Napi::Error::New(env, std::string("DeviceTensor.") + method + ": CUDA error: " + cudaGetErrorName(e) +
                                      ": " + cudaGetErrorString(e));
    }
  }

  static void* hostData(const Napi::TypedArray& a) {
    return static_cast<unsigned char*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  }

  Napi::Value Upload(const Napi::CallbackInfo& info) {
    const DeviceMemPtr m = live(info.Env(), "upload");
    const Napi::TypedArray a = hostArray(info, "upload");
    check(info.Env(), "upload", cudaSetDevice(m->device));
    check(info.Env(), "upload", cudaMemcpy(m->ptr, hostData(a), m->bytes, cudaMemcpyHostToDevice));
    return info.Env().Undefined();
  }

  Napi::Value Download(const Napi::CallbackInfo& info) {
    const DeviceMemPtr m = live(info.Env(), "download");
    const Napi::TypedArray a = hostArray(info, "download");
    check(info.Env(), "download", cudaSetDevice(m->device));
    check(info.Env(), "download", cudaMemcpy(hostData(a), m->ptr, m->bytes, cudaMemcpyDeviceToHost));
    return info.Env().Undefined();
  }

  // A copy on a libuv thread; the typed array and this object stay referenced until it settles. A
  // PromiseWorker: a worker_thread terminated during the copy must not abort the process.
  class CopyWorker : public PromiseWorker {
   public:
    CopyWorker(Napi::Env env, const char* method, Napi::Object self, Napi::TypedArray array, DeviceMemPtr mem, bool up)
        : PromiseWorker(env, method), self_(Napi::Persistent(self)), array_(Napi::Persistent(array)),
          mem_(std::move(mem)), up_(up), host_(hostData(array)), bytes_(array.ByteLength()) {}

   protected:
    void Execute() override {
      err_ = cudaSetDevice(mem_->device);
      if (err_ == cudaSuccess) {
        err_ = up_ ? cudaMemcpy(mem_->ptr, host_, bytes_, cudaMemcpyHostToDevice)
                   : cudaMemcpy(host_, mem_->ptr, bytes_, cudaMemcpyDeviceToHost);
      }
      if (err_ != cudaSuccess) cudaGetLastError();
    }
    Napi::Value rejection() override {
      Napi::Env env = Env();
      const Napi::TypedArray a = array_.Value();
      if (a.ByteLength() != bytes_ || (bytes_ > 0 && a.ArrayBuffer().IsDetached())) {
        return Napi::Error::New(env, std::string("DeviceTensor.") + op() + ": 'array' was detached or resized during the copy").Value();
      }
      if (err_ != cudaSuccess) {
        return Napi::Error::New(env, std::string("DeviceTensor.") + op() + ": CUDA error: " + cudaGetErrorName(err_) + ": " +
                                         cudaGetErrorString(err_)).Value();
      }
      return Napi::Value();
    }

   private:
    Napi::ObjectReference self_;
    Napi::Reference<Napi::TypedArray> array_;
    DeviceMemPtr mem_;
    bool up_;
    void* host_;
    size_t bytes_;
    cudaError_t err_ = cudaSuccess;
  };

  Napi::Value CopyAsync(const Napi::CallbackInfo& info, const char* method, bool up) {
    const DeviceMemPtr m = live(info.Env(), method);
    const Napi::TypedArray a = hostArray(info, method);
    if (resizableView(info.Env(), a)) {
      throw Napi::RangeError::New(info.Env(), std::string("DeviceTensor.") + method +
                                                  ": 'array' must not be a view of a resizable ArrayBuffer (it could shrink during the copy)");
    }
    auto* w = new CopyWorker(info.Env(), method, info.This().As<Napi::Object>(), a, m, up);
    const Napi::Value p(info.Env(), w->promise());
    w->Queue();
    return p;
  }
  Napi::Value UploadAsync(const Napi::CallbackInfo& info) { return CopyAsync(info, "uploadAsync", true); }
  Napi::Value DownloadAsync(const Napi::CallbackInfo& info) { return CopyAsync(info, "downloadAsync", false); }

  // copyFrom(src): a device-to-device copy of all bytes, enqueued on the stream (no host sync).
  Napi::Value CopyFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const DeviceMemPtr m = live(env, "copyFrom");
    DeviceTensorRef src;
    if (!readDeviceTensor(env, "DeviceTensor.copyFrom", "src", info[0], &src)) {
      throw Napi::TypeError::New(env, "DeviceTensor.copyFrom: 'src' must be a DeviceTensor, got " + describe(info[0]));
    }
    if (src.mem->bytes != m->bytes) {
      throw Napi::RangeError::New(env, "DeviceTensor.copyFrom: 'src' must have " + std::to_string(m->bytes) +
                                           " bytes, got " + std::to_string(src.mem->bytes));
    }
    check(env, "copyFrom", cudaSetDevice(m->device));
    check(env, "copyFrom", cudaMemcpyAsync(m->ptr, src.mem->ptr, m->bytes, cudaMemcpyDeviceToDevice, 0));
    return env.Undefined();
  }

  // fill(byte): every byte set to `byte` (0 zeroes; 0xff poisons: NaN for floats, -1 for int32), enqueued.
  Napi::Value Fill(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const DeviceMemPtr m = live(env, "fill");
    const double b = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    if (!(b >= 0 && b <= 255) || std::floor(b) != b) {
      throw Napi::RangeError::New(env, "DeviceTensor.fill: 'byte' must be an integer in [0, 255], got " + describe(info[0]));
    }
    check(env, "fill", cudaSetDevice(m->device));
    check(env, "fill", cudaMemsetAsync(m->ptr, int(b), m->bytes, 0));
    return env.Undefined();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    mem_.reset();  // frees now, or when the last op in flight that uses it finishes
    return info.Env().Undefined();
  }

  Napi::Value Ptr(const Napi::CallbackInfo& info) {
    return Napi::BigInt::New(info.Env(), uint64_t(reinterpret_cast<uintptr_t>(mem_ ? mem_->ptr : nullptr)));
  }
  Napi::Value Bytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(bytes())); }
  Napi::Value Dtype(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), dtypeString(dtype_)); }
  Napi::Value Shape(const Napi::CallbackInfo& info) {
    Napi::Array a = Napi::Array::New(info.Env(), shape_.size());
    for (size_t i = 0; i < shape_.size(); ++i) a.Set(uint32_t(i), Napi::Number::New(info.Env(), double(shape_[i])));
    return a;
  }
  Napi::Value Device(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), mem_ ? mem_->device : -1); }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !mem_); }

  DeviceMemPtr mem_;
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_;
};

// The class is per environment (worker threads each get one); kept in a map keyed by env and dropped by
// the env's cleanup hook. Instance data belongs to the addon object (addon.cpp), hence the map.
std::mutex g_classes_mutex;
std::unordered_map<napi_env, Napi::FunctionReference*> g_classes;

void dropClass(void* arg) {
  const napi_env env = static_cast<napi_env>(arg);
  std::lock_guard<std::mutex> lock(g_classes_mutex);
  auto it = g_classes.find(env);
  if (it != g_classes.end()) {
    delete it->second;
    g_classes.erase(it);
  }
}

Napi::Function DeviceTensor::Class(Napi::Env env) {
  std::lock_guard<std::mutex> lock(g_classes_mutex);
  auto it = g_classes.find(env);
  if (it != g_classes.end()) return it->second->Value();
  Napi::Function fn = DefineClass(env, "DeviceTensor", {
      InstanceMethod("upload", &DeviceTensor::Upload),
      InstanceMethod("download", &DeviceTensor::Download),
      InstanceMethod("uploadAsync", &DeviceTensor::UploadAsync),
      InstanceMethod("downloadAsync", &DeviceTensor::DownloadAsync),
      InstanceMethod("copyFrom", &DeviceTensor::CopyFrom),
      InstanceMethod("fill", &DeviceTensor::Fill),
      InstanceMethod("dispose", &DeviceTensor::Dispose),
      InstanceAccessor("ptr", &DeviceTensor::Ptr, nullptr),
      InstanceAccessor("bytes", &DeviceTensor::Bytes, nullptr),
      InstanceAccessor("dtype", &DeviceTensor::Dtype, nullptr),
      InstanceAccessor("shape", &DeviceTensor::Shape, nullptr),
      InstanceAccessor("device", &DeviceTensor::Device, nullptr),
      InstanceAccessor("disposed", &DeviceTensor::Disposed, nullptr),
  });
  g_classes[env] = new Napi::FunctionReference(Napi::Persistent(fn));
  napi_add_env_cleanup_hook(env, dropClass, env);
  return fn;
}

// cudaAllocate(dtype, shape) -> DeviceTensor (uninitialised memory).
Napi::Value CudaAllocate(const Napi::CallbackInfo& info) {
  requireDevice(info.Env(), "DeviceTensor.allocate");
  return DeviceTensor::Class(info.Env()).New({info[0], info[1]});
}

// cudaSynchronize(): waits for every enqueued op; throws the first asynchronous CUDA error.
Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  requireDevice(info.Env(), "cudaSynchronize");
  const cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess) {
    throw Napi::Error::New(info.Env(), std::string("cudaSynchronize: CUDA error: ") + cudaGetErrorName(e) + ": " +
                                           cudaGetErrorString(e));
  }
  return info.Env().Undefined();
}

// cudaMemInfo() -> {free, total} bytes of device 0.
Napi::Value CudaMemInfo(const Napi::CallbackInfo& info) {
  requireDevice(info.Env(), "cudaMemInfo");
  size_t free = 0, total = 0;
  cudaSetDevice(0);
  const cudaError_t e = cudaMemGetInfo(&free, &total);
  if (e != cudaSuccess) throw Napi::Error::New(info.Env(), std::string("cudaMemInfo: ") + cudaGetErrorString(e));
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("free", double(free));
  o.Set("total", double(total));
  return o;
}

}  // namespace

bool readDeviceTensor(Napi::Env env, const char* op, const char* field, const Napi::Value& v, DeviceTensorRef* out) {
  if (!v.IsObject()) return false;
  const Napi::Object o = v.As<Napi::Object>();
  if (!o.CheckTypeTag(&kDeviceTensorTag)) return false;
  const DeviceTensor* t = DeviceTensor::Unwrap(o);
  if (!t->mem()) throw Napi::TypeError::New(env, std::string(op) + ": '" + field + "' is a disposed DeviceTensor");
  out->mem = t->mem();
  out->dtype = t->dtype();
  out->shape = t->shape();
  return true;
}

}  // namespace moe::addon::cuda

MOE_BINDING("cudaAllocate", moe::addon::cuda::CudaAllocate);
MOE_BINDING("cudaSynchronize", moe::addon::cuda::CudaSynchronize);
MOE_BINDING("cudaMemInfo", moe::addon::cuda::CudaMemInfo);

#endif  // MOE_WITH_CUDA
