// What every op binding uses: the args-object readers, the status -> JS error mapping, and the sync / async
// runners. lib/ops validates every argument first (with the better messages); these checks are the last line
// of defence, so that nothing reaching the addon directly (a caller bypassing lib/, a stale build) can make a
// kernel read or write out of bounds. Every failure throws a Napi::TypeError (wrong kind of value) or
// Napi::RangeError (bad value) whose message starts with "<op>: '<field>'", as lib/errors.ts does.
//
// Call convention: one JS object of named fields, inputs and preallocated outputs alike; the sync export
// returns undefined, the async export a Promise<undefined>. The TS wiring (lib/backends/cpu/<op>.ts) builds
// the result object from the outputs it passed in.
#pragma once

#include <napi.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "../common/status.h"
#include "../common/tensor_view.h"
#include "registry.h"

namespace moe::addon {

template <typename T>
struct Span {
  T* data = nullptr;
  int64_t size = 0;
};

// A kernel call with its arguments bound. It may run on a libuv worker thread: it must not touch JS values,
// only the raw pointers read through Args.
using Work = std::function<Status()>;

class Args {
 public:
  // info[0] must be an object: TypeError "<op>: 'args' must be an object, got ..." otherwise.
  Args(const Napi::CallbackInfo& info, const char* op);
  // For a call of positional arguments (layer_plan.cpp): no args object; `keep` (any object or external) is
  // what object() returns, so an async call keeps it referenced. Arrays enter through record().
  Args(Napi::Env env, const char* op, Napi::Object keep) : op_(op), env_(env), obj_(keep) {}

  const char* op() const { return op_; }
  Napi::Env env() const { return env_; }
  Napi::Object object() const { return obj_; }

  // True when `field` is present and not undefined (optional fields).
  bool has(const char* field) const;

  // Typed arrays, checked with IsTypedArray() AND TypedArrayType(). count >= 0 demands exactly that many
  // elements; -1 accepts any length. Each array read is recorded (see buffers()).
  Span<float> f32(const char* field, int64_t count = -1);
  Span<uint16_t> u16(const char* field, int64_t count = -1);
  Span<int32_t> i32(const char* field, int64_t count = -1);
  Span<uint8_t> u8(const char* field, int64_t count = -1);
  // The array type that holds `dtype` (Float32Array f32, Uint16Array bf16 / f16, Int32Array i32) as a
  // 1-D view; set its shape yourself when the kernel needs one.
  TensorView tensor(const char* field, DType dtype, int64_t count = -1);

  double number(const char* field, double lo, double hi);      // finite, in [lo, hi]
  int64_t integer(const char* field, int64_t lo, int64_t hi);  // an integral number in [lo, hi]
  bool boolean(const char* field);
  int oneOf(const char* field, std::initializer_list<const char*> names);  // index of the string in names
  DType dtype(const char* field);                                          // 'f32' | 'bf16' | 'f16' | 'i32'
  DType floatDtype(const char* field);                                     // 'f32' | 'bf16' | 'f16'

  // RangeError unless the arrays read as fields `a` and `b` are disjoint or exactly the same memory.
  void disjointOrSame(const char* a, const char* b) const;
  // RangeError unless they share no byte (an output that must not alias anything).
  void disjoint(const char* a, const char* b) const;
  // disjoint() for every pair of arrays read so far of which at least one is named in `outputs` (the output
  // named first in the message); the fields `sameA` and `sameB`, when given, may instead be exactly the same
  // memory (an in-place update).
  void outputsDisjoint(std::initializer_list<const char*> outputs, const char* sameA = nullptr, const char* sameB = nullptr) const;

  [[noreturn]] void typeError(const char* field, const std::string& what, const Napi::Value& got) const;
  [[noreturn]] void rangeError(const char* field, const std::string& what) const;

  struct Buffer {
    const char* field;
    Napi::TypedArray array;
    const void* data;  // as read: a getter that detaches or shrinks it afterwards is caught by checkBuffers
    size_t bytes;
  };
  const std::vector<Buffer>& buffers() const { return buffers_; }
  // An array read by the caller itself (a positional argument, a kept weight), checked like the fields'.
  void record(const char* field, Napi::TypedArray array, const void* data, size_t bytes) {
    buffers_.push_back({field, array, data, bytes});
  }

  // Throws unless every recorded array still has the memory it had when read (runSync / runAsync call it:
  // a getter of a later field may have detached an earlier one).
  void checkBuffers() const;
  // Throws unless no recorded array is a view of a resizable ArrayBuffer (runAsync calls it: JS runs while
  // the op does, and a shrink could take memory away from under the kernel; a sync op holds the JS thread).
  void notResizable() const;

 private:
  template <typename T>
  Span<T> typed(const char* field, napi_typedarray_type type, int64_t count);
  Napi::Value get(const char* field) const;
  const Buffer* find(const char* field) const;
  [[noreturn]] void overlaps(const char* a, const char* b) const;
  [[noreturn]] void partlyOverlaps(const char* a, const char* b) const;

  const char* op_;
  Napi::Env env_;
  Napi::Object obj_;
  std::vector<Buffer> buffers_;
};

// True when `array` still has the memory it had when read (data and byte length), asked afresh: a getter, or
// JS that ran since, may have detached its buffer or shrunk a resizable one.
bool sameMemory(napi_env env, napi_value array, const void* data, size_t bytes);

// True when the typed array `array` is a view of a resizable ArrayBuffer (ES2024), which JS may shrink, taking
// memory away, while an async call works on it. A growable SharedArrayBuffer only grows: false.
bool resizableView(napi_env env, napi_value array);

// x · y for a size check, or a RangeError naming `field` past 2^53 elements: no typed array is that long, and
// an int64 product of caller-given sizes that wrapped could otherwise match a real array's length.
inline int64_t elementCount(Args& a, const char* field, int64_t x, int64_t y) {
  constexpr int64_t kMax = int64_t(1) << 53;
  if (x < 0 || y < 0 || (x != 0 && y > kMax / x)) a.rangeError(field, "has too many elements for its shape");
  return x * y;
}

// How lib/errors.ts describes a value: "undefined", "the number 3", "a Float32Array", ...
std::string describe(const Napi::Value& v);

// The JS error for a kernel's status, "<op>: ...": RangeError for InvalidArgument, Error otherwise.
Napi::Error statusError(Napi::Env env, const char* op, Status s);

// Runs `body` (an export: reading the args, prepare, queueing) so that every C++ exception leaves it as a
// Napi::Error that names the op: a std::bad_alloc (a buffer sized by the arguments) becomes statusError's
// OutOfMemory ("<op>: out of memory"), any other exception statusError's Internal. (The registry's trampoline,
// registry.cpp, is only the backstop: it cannot name the op.)
Napi::Value guardCall(Napi::Env env, const char* op, const std::function<Napi::Value()>& body);

// An AsyncWorker that settles a Promise when its work is done, and survives its environment's teardown. A
// worker_thread terminated while a call is in flight still gets the completion (Node waits for queued pool
// work before it frees the environment, so the memory the work touches outlives it), but no JS can run by
// then: the settle fails, and node-addon-api's completion path turns that failure into a Napi::Error it
// cannot throw either, which aborts the whole process. Here the completion uses Node-API directly, drops the
// settlement when the environment refuses it (nobody is left to observe the promise) and lets nothing it
// throws escape.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  // A handle valid only in the callback that created the worker: return it from there.
  napi_value promise() const { return promise_; }
  void OnWorkComplete(Napi::Env env, napi_status status) override;

 protected:
  PromiseWorker(Napi::Env env, const char* op);
  // On the JS thread once Execute has returned: the error to reject with, or an empty value to resolve with
  // undefined. It may throw a Napi::Error (the promise then rejects with it).
  virtual Napi::Value rejection() = 0;
  const char* op() const { return op_; }

 private:
  void settle(napi_env env, napi_status status) noexcept;

  const char* op_;
  napi_deferred deferred_ = nullptr;
  napi_value promise_ = nullptr;
};

// The args object and every typed array read through Args, referenced until an async call settles (so none
// can be collected meanwhile, even if the caller reassigns a field), and the check that none was detached or
// resized while the work ran.
class KeptArgs {
 public:
  explicit KeptArgs(const Args& args);
  // The rejection naming the first array detached or resized since it was read, or an empty value.
  Napi::Value changed(Napi::Env env, const char* op) const;

 private:
  struct Kept {
    const char* field;
    Napi::Reference<Napi::TypedArray> array;
    const void* data;
    size_t bytes;
  };
  Napi::ObjectReference args_;
  std::vector<Kept> kept_;
};

// Run `work` now on the JS thread; throw statusError on failure. Returns undefined.
Napi::Value runSync(Args& args, Work work);

// Run `work` on a libuv worker thread and return a Promise<undefined>. Until it settles, the args object and
// every typed array read through `args` are referenced (none can be collected, even if the caller reassigns
// a field). It rejects with the status error, or when any of those arrays was detached or resized while the
// work ran: the result is then lost and must not be reported as success.
Napi::Value runAsync(Args& args, Work work);

// An op binding: reads and checks the args object on the JS thread, returns the bound kernel call.
using Prepare = Work (*)(Args& args);

struct OpDef {
  const char* op;  // the op id in error messages (grouped_gemm), as in lib/ops
  Prepare prepare;
};

// Generic exports for MOE_OP; info.Data() is the OpDef. Everything, prepare included, runs under guardCall.
Napi::Value opSync(const Napi::CallbackInfo& info);
Napi::Value opAsync(const Napi::CallbackInfo& info);

}  // namespace moe::addon

// MOE_OP("groupedGemm", "grouped_gemm", prepareGroupedGemm): exports groupedGemm(args) -> undefined and
// groupedGemmAsync(args) -> Promise<undefined>; errors start with "grouped_gemm: ".
#define MOE_OP(jsName, opId, prepare)                                                                      \
  static const ::moe::addon::OpDef MOE_CONCAT(moe_op_, __LINE__){opId, prepare};                            \
  static const ::moe::addon::Registrar MOE_CONCAT(moe_op_sync_, __LINE__)(                                  \
      jsName, ::moe::addon::opSync, const_cast<::moe::addon::OpDef*>(&MOE_CONCAT(moe_op_, __LINE__)));       \
  static const ::moe::addon::Registrar MOE_CONCAT(moe_op_async_, __LINE__)(                                 \
      jsName "Async", ::moe::addon::opAsync, const_cast<::moe::addon::OpDef*>(&MOE_CONCAT(moe_op_, __LINE__)))
