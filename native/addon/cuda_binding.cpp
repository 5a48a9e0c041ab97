// The shared machinery of the CUDA op bindings (see cuda_binding.h): staging of tensor fields, the sync and
// async runners with op-naming errors that carry the CUDA error text, the op table, and the event timer the
// GPU check uses (cudaTimer*: CUDA events around back-to-back launches held behind a spin kernel).

#if defined(MOE_WITH_CUDA)

#include "cuda_binding.h"

#include <cuda_runtime_api.h>

#include <cstdlib>
#include <map>
#include <string>

#include "../cuda/bench.cuh"

namespace moe::addon::cuda {

Result cudaResult(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return {};
  cudaGetLastError();  // clear a non-sticky error so the next op does not report it
  Result r;
  switch (e) {
    case cudaErrorNotSupported: r.status = Status::Unsupported; break;
    case cudaErrorMemoryAllocation: r.status = Status::OutOfMemory; break;
    case cudaErrorInvalidValue: r.status = Status::InvalidArgument; break;
    default: r.status = Status::CudaError;
  }
  r.detail = std::string(what) + ": " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e);
  return r;
}

namespace {

bool syncEveryOp() {
  static const bool on = [] {
    const char* v = std::getenv("MOE_CUDA_SYNC");
    return v && std::string(v) == "1";
  }();
  return on;
}

Napi::Error resultError(Napi::Env env, const char* op, const Result& r) {
  const std::string what = std::string(op) + ": ";
  const std::string detail = r.detail.empty() ? "" : " (" + r.detail + ")";
  switch (r.status) {
    case Status::InvalidArgument:
      return Napi::RangeError::New(env, what + "invalid argument for the CUDA kernel" + detail);
    case Status::Unsupported:
      return Napi::Error::New(env, what + "unsupported by the CUDA backend" + detail);
    case Status::OutOfMemory: return Napi::Error::New(env, what + "out of GPU memory" + detail);
    case Status::CudaError: return Napi::Error::New(env, what + "CUDA error" + detail);
    default: return Napi::Error::New(env, what + statusName(r.status) + detail);
  }
}

// A std::bad_alloc (host vectors) must not escape into Node.
Result guarded(const CudaWork& w) {
  try {
    return w();
  } catch (const std::bad_alloc&) {
    return {Status::OutOfMemory, "host allocation failed"};
  } catch (...) {
    return {Status::Internal, "unexpected exception in the CUDA binding"};
  }
}

std::map<std::string, const CudaOpDef*>& opTable() {
  static std::map<std::string, const CudaOpDef*> t;
  return t;
}

class CudaOpWorker : public PromiseWorker {
 public:
  CudaOpWorker(Args& args, CudaWork work) : PromiseWorker(args.env(), args.op()), work_(std::move(work)), kept_(args) {}

 protected:
  void Execute() override { result_ = guarded(work_); }
  Napi::Value rejection() override {
    work_ = nullptr;  // release device buffers (and temporaries) on the JS thread, before settling
    const Napi::Value lost = kept_.changed(Env(), op());
    if (!lost.IsEmpty()) return lost;
    if (!result_.ok()) return resultError(Env(), op(), result_).Value();
    return Napi::Value();
  }

 private:
  CudaWork work_;
  KeptArgs kept_;
  Result result_;
};

}  // namespace

CudaOpRegistrar::CudaOpRegistrar(const CudaOpDef* def) { opTable()[def->name] = def; }

const CudaOpDef* findCudaOp(const std::string& name) {
  auto it = opTable().find(name);
  return it == opTable().end() ? nullptr : it->second;
}

Napi::Value cudaOpSync(const Napi::CallbackInfo& info) {
  const auto* def = static_cast<const CudaOpDef*>(info.Data());
  return guardCall(info.Env(), def->op, [&] {
    Args args(info, def->op);
    requireDevice(info.Env(), def->op);
    CudaWork work = def->prepare(args);
    args.checkBuffers();
    const Result r = guarded(work);
    if (!r.ok()) throw resultError(info.Env(), def->op, r);
    return info.Env().Undefined();
  });
}

Napi::Value cudaOpAsync(const Napi::CallbackInfo& info) {
  const auto* def = static_cast<const CudaOpDef*>(info.Data());
  return guardCall(info.Env(), def->op, [&] {
    Args args(info, def->op);
    requireDevice(info.Env(), def->op);
    CudaWork work = def->prepare(args);
    args.checkBuffers();
    args.notResizable();
    auto* w = new CudaOpWorker(args, std::move(work));  // deletes itself once it has settled
    const Napi::Value p(info.Env(), w->promise());
    w->Queue();
    return p;
  });
}

// ---- Staging ----

Staging::Staging(Args& args, int device) : args_(args), device_(device) {}

void* Staging::temp(size_t bytes) {
  cudaError_t e;
  DeviceMemPtr m = deviceAlloc(bytes, device_, &e, true);
  if (!m) {
    throw Napi::Error::New(args_.env(), std::string(args_.op()) + ": out of GPU memory (cudaMalloc of " +
                                            std::to_string(bytes) + " bytes: " + cudaGetErrorString(e) + ")");
  }
  keep_.push_back(m);
  return m->ptr;
}

void* Staging::field(const char* name, DType dtype, int64_t count, bool copy_in, bool copy_out) {
  const Napi::Value v = args_.object().Get(name);
  DeviceTensorRef ref;
  if (readDeviceTensor(args_.env(), args_.op(), name, v, &ref)) {
    if (ref.dtype != dtype) {
      args_.typeError(name, std::string("a DeviceTensor of dtype '") + dtypeName(dtype) + "'", v);
    }
    if (ref.numel() != count) {
      args_.rangeError(name, "must have " + std::to_string(count) + " elements, got a DeviceTensor of " +
                                 std::to_string(ref.numel()));
    }
    if (ref.mem->device != device_) args_.rangeError(name, "is on another device");
    keep_.push_back(ref.mem);
    return ref.mem->ptr;
  }
  const TensorView t = args_.tensor(name, dtype, count);
  host_.emplace_back(name, t.data);
  const size_t bytes = size_t(count) * dtypeSize(dtype);
  void* d = temp(bytes);
  if (copy_in && bytes) h2d_.push_back({d, t.data, bytes});
  if (copy_out && bytes) d2h_.push_back({d, t.data, bytes});
  return d;
}

const void* Staging::in(const char* f, DType dt, int64_t n) { return field(f, dt, n, true, false); }
// Host outputs are copied in as well as out: what the caller put there (the conformance suite's poison)
// is what an element the kernel never writes comes back as, instead of whatever the temporary held.
void* Staging::out(const char* f, DType dt, int64_t n) { return field(f, dt, n, true, true); }
void* Staging::inout(const char* f, DType dt, int64_t n) { return field(f, dt, n, true, true); }

const void* Staging::optIn(const char* f, DType dt, int64_t n) { return args_.has(f) ? in(f, dt, n) : nullptr; }

const uint8_t* Staging::optMask(const char* f, int64_t n) {
  if (!args_.has(f)) return nullptr;
  const Span<uint8_t> s = args_.u8(f, n);
  void* d = temp(size_t(n));
  if (n) h2d_.push_back({d, s.data, size_t(n)});
  return static_cast<const uint8_t*>(d);
}

const void* Staging::constant(const void* data, size_t bytes) {
  constants_.emplace_back(static_cast<const unsigned char*>(data), static_cast<const unsigned char*>(data) + bytes);
  void* d = temp(bytes);
  if (bytes) h2d_.push_back({d, constants_.back().data(), bytes});
  return d;
}

void* Staging::scratch(size_t bytes) { return bytes ? temp(bytes) : nullptr; }

const void* Staging::hostData(const char* name) const {
  for (const auto& h : host_) {
    if (h.first == name) return h.second;
  }
  return nullptr;
}

Result Staging::run(const std::function<cudaError_t(cudaStream_t)>& launch) const {
  const cudaStream_t s = 0;  // the legacy default stream: ordered with DeviceTensor copies and every op
  MOE_CUDA_RESULT(cudaSetDevice(device_), "cudaSetDevice");
  for (const Copy& c : h2d_) MOE_CUDA_RESULT(cudaMemcpyAsync(c.dev, c.host, c.bytes, cudaMemcpyHostToDevice, s), "copy to the device");
  MOE_CUDA_RESULT(launch(s), "kernel launch");
  for (const Copy& c : d2h_) MOE_CUDA_RESULT(cudaMemcpyAsync(c.host, c.dev, c.bytes, cudaMemcpyDeviceToHost, s), "copy to the host");
  // With host arrays involved, wait: their outputs must be there when the call returns, and errors surface
  // here with the op's name. Temporaries are freed stream-ordered when the work's last reference goes.
  if (anyHost() || syncEveryOp()) MOE_CUDA_RESULT(cudaStreamSynchronize(s), "kernel execution");
  return {};
}

// ---- the event timer of the GPU check ----

namespace {

struct Timer {
  std::vector<cudaEvent_t> events;
  size_t used = 0;
  cudaEvent_t spin_end = nullptr;
  bool spun = false;
  ~Timer() {
    for (cudaEvent_t e : events) cudaEventDestroy(e);
    if (spin_end) cudaEventDestroy(spin_end);
  }
};

Timer* timerArg(const Napi::CallbackInfo& info, const char* fn) {
  if (!info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), std::string(fn) + ": 'timer' must come from cudaTimerCreate()");
  return info[0].As<Napi::External<Timer>>().Data();
}

void checkTimer(Napi::Env env, const char* fn, cudaError_t e) {
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw Napi::Error::New(env, std::string(fn) + ": CUDA error: " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
  }
}

// cudaTimerCreate() -> timer (an External; its events are destroyed when it is collected).
Napi::Value TimerCreate(const Napi::CallbackInfo& info) {
  requireDevice(info.Env(), "cudaTimerCreate");
  auto* t = new Timer();
  return Napi::External<Timer>::New(info.Env(), t, [](Napi::Env, Timer* p) { delete p; });
}

// cudaTimerSpin(timer, microseconds): hold the stream with a spin kernel; launches enqueued next run back to
// back once it ends. cudaTimerFinish reports whether it was still running when the host got there.
Napi::Value TimerSpin(const Napi::CallbackInfo& info) {
  Timer* t = timerArg(info, "cudaTimerSpin");
  const double us = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  if (!(us >= 0 && us <= 10e6)) throw Napi::RangeError::New(info.Env(), "cudaTimerSpin: 'microseconds' must be in [0, 1e7]");
  checkTimer(info.Env(), "cudaTimerSpin", cudaSetDevice(0));
  if (!t->spin_end) checkTimer(info.Env(), "cudaTimerSpin", cudaEventCreate(&t->spin_end));
  checkTimer(info.Env(), "cudaTimerSpin", moe::cuda::bench_spin_launch(us, 0));
  checkTimer(info.Env(), "cudaTimerSpin", cudaEventRecord(t->spin_end, 0));
  t->spun = true;
  return info.Env().Undefined();
}

// cudaTimerMark(timer): record the next event on the stream.
Napi::Value TimerMark(const Napi::CallbackInfo& info) {
  Timer* t = timerArg(info, "cudaTimerMark");
  if (t->used == t->events.size()) {
    cudaEvent_t e;
    checkTimer(info.Env(), "cudaTimerMark", cudaEventCreate(&e));
    t->events.push_back(e);
  }
  checkTimer(info.Env(), "cudaTimerMark", cudaEventRecord(t->events[t->used++], 0));
  return info.Env().Undefined();
}

// cudaTimerFinish(timer) -> {ms: Float64Array (event 2i -> 2i+1 for every pair), hostBound}: waits for the
// last event; hostBound = the spin kernel had already finished, so host gaps may be inside the pairs.
Napi::Value TimerFinish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Timer* t = timerArg(info, "cudaTimerFinish");
  bool host_bound = false;
  if (t->spun) host_bound = cudaEventQuery(t->spin_end) == cudaSuccess;
  cudaGetLastError();
  if (t->used > 0) checkTimer(env, "cudaTimerFinish", cudaEventSynchronize(t->events[t->used - 1]));
  const size_t pairs = t->used / 2;
  Napi::Float64Array ms = Napi::Float64Array::New(env, pairs);
  for (size_t i = 0; i < pairs; ++i) {
    float v = 0;
    checkTimer(env, "cudaTimerFinish", cudaEventElapsedTime(&v, t->events[2 * i], t->events[2 * i + 1]));
    ms[i] = v;
  }
  t->used = 0;
  t->spun = false;
  Napi::Object o = Napi::Object::New(env);
  o.Set("ms", ms);
  o.Set("hostBound", host_bound);
  return o;
}

}  // namespace

}  // namespace moe::addon::cuda

MOE_BINDING("cudaTimerCreate", moe::addon::cuda::TimerCreate);
MOE_BINDING("cudaTimerSpin", moe::addon::cuda::TimerSpin);
MOE_BINDING("cudaTimerMark", moe::addon::cuda::TimerMark);
MOE_BINDING("cudaTimerFinish", moe::addon::cuda::TimerFinish);

#endif  // MOE_WITH_CUDA
