// The args-object readers, the status -> error mapping and the sync / async runners of binding.h.

#include "binding.h"

#include <cstring>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <utility>

#include "../cpu/thread_pool.h"

namespace moe::addon {

namespace {

const char* typedArrayName(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "typed array";  // Float16Array and types newer than this file
  }
}

std::string numberText(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  // The shortest text that reads back as v, as JS prints numbers (0.1, not 0.10000000000000001).
  char buf[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace

std::string describe(const Napi::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsArray()) return "an array of length " + std::to_string(v.As<Napi::Array>().Length());
  if (v.IsTypedArray()) return std::string("a ") + typedArrayName(v.As<Napi::TypedArray>().TypedArrayType());
  if (v.IsDataView()) return "a DataView";
  if (v.IsNumber()) return "the number " + numberText(v.As<Napi::Number>().DoubleValue());
  if (v.IsString()) return "the string '" + v.As<Napi::String>().Utf8Value() + "'";
  if (v.IsBoolean()) return "boolean";
  if (v.IsBigInt()) return "bigint";
  if (v.IsFunction()) return "function";
  if (v.IsObject()) return "an object";
  return "symbol";
}

Args::Args(const Napi::CallbackInfo& info, const char* op) : op_(op), env_(info.Env()) {
  const Napi::Value v = info[0];
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray() || v.IsFunction()) typeError("args", "an object", v);
  obj_ = v.As<Napi::Object>();
}

void Args::typeError(const char* field, const std::string& what, const Napi::Value& got) const {
  throw Napi::TypeError::New(env_, std::string(op_) + ": '" + field + "' must be " + what + ", got " + describe(got));
}

void Args::rangeError(const char* field, const std::string& what) const {
  throw Napi::RangeError::New(env_, std::string(op_) + ": '" + field + "' " + what);
}

Napi::Value Args::get(const char* field) const { return obj_.Get(field); }

bool Args::has(const char* field) const { return !get(field).IsUndefined(); }

template <typename T>
Span<T> Args::typed(const char* field, napi_typedarray_type type, int64_t count) {
  const Napi::Value v = get(field);
  // As<TypedArrayOf<T>>() checks nothing: both the kind and the element type are checked here.
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    typeError(field, std::string("a ") + typedArrayName(type), v);
  }
  auto a = v.As<Napi::TypedArrayOf<T>>();
  const int64_t n = static_cast<int64_t>(a.ElementLength());
  if (count >= 0 && n != count) {
    rangeError(field, "must have " + std::to_string(count) + " elements, got " + std::to_string(n));
  }
  T* data = a.Data();  // includes the byte offset
  buffers_.push_back({field, a, data, a.ByteLength()});
  return {data, n};
}

Span<float> Args::f32(const char* field, int64_t count) { return typed<float>(field, napi_float32_array, count); }
Span<uint16_t> Args::u16(const char* field, int64_t count) { return typed<uint16_t>(field, napi_uint16_array, count); }
Span<int32_t> Args::i32(const char* field, int64_t count) { return typed<int32_t>(field, napi_int32_array, count); }
Span<uint8_t> Args::u8(const char* field, int64_t count) { return typed<uint8_t>(field, napi_uint8_array, count); }

TensorView Args::tensor(const char* field, DType dtype, int64_t count) {
  TensorView t;
  t.dtype = dtype;
  t.ndim = 1;
  switch (dtype) {
    case DType::F32: { auto s = f32(field, count); t.data = s.data; t.shape[0] = s.size; break; }
    case DType::BF16:
    case DType::F16: { auto s = u16(field, count); t.data = s.data; t.shape[0] = s.size; break; }
    case DType::I32: { auto s = i32(field, count); t.data = s.data; t.shape[0] = s.size; break; }
  }
  return t;
}

double Args::number(const char* field, double lo, double hi) {
  const Napi::Value v = get(field);
  if (!v.IsNumber()) typeError(field, "a number", v);
  const double x = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(x) || x < lo || x > hi) {
    rangeError(field, "must be a finite number in [" + numberText(lo) + ", " + numberText(hi) + "], got " + numberText(x));
  }
  return x;
}

int64_t Args::integer(const char* field, int64_t lo, int64_t hi) {
  const Napi::Value v = get(field);
  if (!v.IsNumber()) typeError(field, "an integer", v);
  const double x = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(x) || std::floor(x) != x || x < static_cast<double>(lo) || x > static_cast<double>(hi)) {
    rangeError(field, "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + numberText(x));
  }
  return static_cast<int64_t>(x);
}

bool Args::boolean(const char* field) {
  const Napi::Value v = get(field);
  if (!v.IsBoolean()) typeError(field, "a boolean", v);
  return v.As<Napi::Boolean>().Value();
}

int Args::oneOf(const char* field, std::initializer_list<const char*> names) {
  std::string list;
  for (const char* n : names) list += std::string(list.empty() ? "" : ", ") + "'" + n + "'";
  const Napi::Value v = get(field);
  if (!v.IsString()) typeError(field, "one of " + list, v);
  const std::string s = v.As<Napi::String>().Utf8Value();
  int i = 0;
  for (const char* n : names) {
    if (s == n) return i;
    ++i;
  }
  rangeError(field, "must be one of " + list + ", got '" + s + "'");
}

DType Args::dtype(const char* field) {
  // The order of DType's values, so the index is the enum.
  return static_cast<DType>(oneOf(field, {"f32", "bf16", "f16", "i32"}));
}

DType Args::floatDtype(const char* field) { return static_cast<DType>(oneOf(field, {"f32", "bf16", "f16"})); }

const Args::Buffer* Args::find(const char* field) const {
  for (const Buffer& b : buffers_) {
    if (std::strcmp(b.field, field) == 0) return &b;
  }
  return nullptr;
}

namespace {

// How two arrays read as fields share memory: none (or either is missing or empty), exactly the same bytes,
// or a partial overlap.
enum class Sharing { None, Same, Partial };

Sharing sharing(const Args::Buffer* x, const Args::Buffer* y) {
  if (x == nullptr || y == nullptr || x->bytes == 0 || y->bytes == 0) return Sharing::None;
  const auto* xs = static_cast<const uint8_t*>(x->data);
  const auto* ys = static_cast<const uint8_t*>(y->data);
  if (xs == ys && x->bytes == y->bytes) return Sharing::Same;
  return xs < ys + y->bytes && ys < xs + x->bytes ? Sharing::Partial : Sharing::None;
}

}  // namespace

void Args::disjointOrSame(const char* a, const char* b) const {
  if (sharing(find(a), find(b)) == Sharing::Partial) partlyOverlaps(a, b);
}

void Args::disjoint(const char* a, const char* b) const {
  if (sharing(find(a), find(b)) != Sharing::None) overlaps(a, b);
}

void Args::partlyOverlaps(const char* a, const char* b) const {
  rangeError(a, std::string("must not partly overlap '") + b + "' (exactly the same memory is allowed)");
}

void Args::overlaps(const char* a, const char* b) const { rangeError(a, std::string("must not overlap '") + b + "'"); }

void Args::outputsDisjoint(std::initializer_list<const char*> outputs, const char* sameA, const char* sameB) const {
  // Linear in the names: each array's role is looked up once, then the pairs compare only addresses (a
  // layerForward call reads ~30 arrays; looking both fields up by name again for each of its ~430 pairs
  // took ~100 us per call, measured on the Zen 4 VM at T = 1 from cold caches).
  auto named = [](const char* f, const char* g) { return g != nullptr && std::strcmp(f, g) == 0; };
  const size_t n = buffers_.size();
  std::vector<char> out(n, 0);
  for (size_t i = 0; i < n; ++i)
    for (const char* o : outputs)
      if (named(buffers_[i].field, o)) out[i] = 1;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      if (!out[i] && !out[j]) continue;
      const Buffer *x = &buffers_[i], *y = &buffers_[j];
      if (!out[i]) std::swap(x, y);
      const Sharing s = sharing(x, y);
      if (s == Sharing::None) continue;
      const bool pair =
          (named(x->field, sameA) && named(y->field, sameB)) || (named(x->field, sameB) && named(y->field, sameA));
      if (!pair) overlaps(x->field, y->field);
      if (s == Sharing::Partial) partlyOverlaps(x->field, y->field);
    }
  }
}

// Asked afresh: a Napi::TypedArray keeps the length it was made with.
bool sameMemory(napi_env env, napi_value array, const void* data, size_t bytes) {
  if (bytes == 0) return true;
  napi_typedarray_type type;
  size_t length = 0;
  void* now = nullptr;
  napi_value buffer = nullptr;
  if (napi_get_typedarray_info(env, array, &type, &length, &now, &buffer, nullptr) != napi_ok) return false;
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, buffer, &detached) != napi_ok || detached) return false;
  size_t size = 1;
  switch (type) {
    case napi_int16_array: case napi_uint16_array: size = 2; break;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: size = 4; break;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: size = 8; break;
    default: break;
  }
  return now == data && length * size == bytes;
}

void Args::checkBuffers() const {
  for (const Buffer& b : buffers_) {
    if (!sameMemory(env_, b.array, b.data, b.bytes)) rangeError(b.field, "was detached or resized while the arguments were read");
  }
}

bool resizableView(napi_env env, napi_value array) {
  napi_value buffer = nullptr, flag = nullptr;
  bool resizable = false;
  if (napi_get_typedarray_info(env, array, nullptr, nullptr, nullptr, &buffer, nullptr) != napi_ok ||
      napi_get_named_property(env, buffer, "resizable", &flag) != napi_ok) {
    throw Napi::Error::New(env);
  }
  return napi_get_value_bool(env, flag, &resizable) == napi_ok && resizable;  // not a boolean: older JS, not resizable
}

void Args::notResizable() const {
  for (const Buffer& b : buffers_) {
    if (resizableView(env_, b.array)) {
      rangeError(b.field, "must not be a view of a resizable ArrayBuffer in an async call (it could shrink while the op runs)");
    }
  }
}

Napi::Error statusError(Napi::Env env, const char* op, Status s) {
  const std::string what = std::string(op) + ": ";
  switch (s) {
    case Status::InvalidArgument:
      return Napi::RangeError::New(env, what + "invalid argument (the native kernel rejected a shape, dtype or length)");
    case Status::Unsupported:
      return Napi::Error::New(env, what + "unsupported by this native backend (a dtype, layout or size it does not implement)");
    case Status::OutOfMemory: return Napi::Error::New(env, what + "out of memory");
    default: return Napi::Error::New(env, what + statusName(s));
  }
}

namespace {

// Kernels return a Status and never throw, but a std::bad_alloc from a std::vector must not reach Node
// (node-addon-api turns only Napi::Error into a JS exception; anything else would terminate the process).
Status runGuarded(const Work& work) {
  try {
    return work();
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory;
  } catch (...) {
    return Status::Internal;
  }
}

}  // namespace

Napi::Value guardCall(Napi::Env env, const char* op, const std::function<Napi::Value()>& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw statusError(env, op, Status::OutOfMemory);
  } catch (...) {
    throw statusError(env, op, Status::Internal);
  }
}

PromiseWorker::PromiseWorker(Napi::Env env, const char* op) : Napi::AsyncWorker(env, op), op_(op) {
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_promise(env, &deferred_, &promise_));
}

void PromiseWorker::OnWorkComplete(Napi::Env env, napi_status status) {
  napi_handle_scope scope = nullptr;
  if (napi_open_handle_scope(env, &scope) == napi_ok) {
    settle(env, status);
    napi_close_handle_scope(env, scope);
  }
  Destroy();  // delete this
}

void PromiseWorker::settle(napi_env env, napi_status status) noexcept {
  napi_value reason = nullptr;
  bool reject = true;
  try {
    if (status == napi_cancelled) {
      reason = Napi::Error::New(env, std::string(op_) + ": cancelled before it ran").Value();
    } else {
      const Napi::Value r = rejection();
      reject = !r.IsEmpty();
      reason = r;
    }
  } catch (const Napi::Error& e) {
    try {
      reason = e.Value();
    } catch (...) {
      reason = nullptr;
    }
  } catch (...) {
    reason = nullptr;  // a std::bad_alloc building a message: reject with the plain error below
  }
  if (reject && reason == nullptr) {
    napi_value msg = nullptr;
    const std::string text = std::string(op_) + ": the async call failed";
    if (napi_create_string_utf8(env, text.c_str(), text.size(), &msg) != napi_ok ||
        napi_create_error(env, nullptr, msg, &reason) != napi_ok) {
      return;
    }
  }
  // Either call fails only when the environment can no longer run JS (napi_pending_exception, or
  // napi_cannot_run_js from Node-API 10): the environment is going away with its promise, so the status is
  // ignored on purpose.
  if (reject) {
    napi_reject_deferred(env, deferred_, reason);
  } else {
    napi_value undefined = nullptr;
    if (napi_get_undefined(env, &undefined) == napi_ok) napi_resolve_deferred(env, deferred_, undefined);
  }
}

KeptArgs::KeptArgs(const Args& args) : args_(Napi::Persistent(args.object())) {
  for (const Args::Buffer& b : args.buffers()) kept_.push_back({b.field, Napi::Persistent(b.array), b.data, b.bytes});
}

Napi::Value KeptArgs::changed(Napi::Env env, const char* op) const {
  for (const Kept& k : kept_) {
    if (!sameMemory(env, k.array.Value(), k.data, k.bytes)) {
      return Napi::Error::New(env, std::string(op) + ": '" + k.field + "' was detached or resized while the op ran; its result is lost")
          .Value();
    }
  }
  return Napi::Value();
}

namespace {

class OpWorker : public PromiseWorker {
 public:
  OpWorker(Args& args, Work work) : PromiseWorker(args.env(), args.op()), work_(std::move(work)), kept_(args) {}

 protected:
  void Execute() override { status_ = runGuarded(work_); }  // a libuv thread: no JS here

  Napi::Value rejection() override {
    const Napi::Value lost = kept_.changed(Env(), op());
    if (!lost.IsEmpty()) return lost;
    if (status_ != Status::Ok) return statusError(Env(), op(), status_).Value();
    return Napi::Value();
  }

 private:
  Work work_;
  KeptArgs kept_;
  Status status_ = Status::Ok;
};

}  // namespace

Napi::Value runSync(Args& args, Work work) {
  args.checkBuffers();
  const Status s = runGuarded(work);
  if (s != Status::Ok) throw statusError(args.env(), args.op(), s);
  return args.env().Undefined();
}

Napi::Value runAsync(Args& args, Work work) {
  args.checkBuffers();
  args.notResizable();
  auto* w = new OpWorker(args, std::move(work));  // deletes itself once it has settled
  const Napi::Value p(args.env(), w->promise());
  w->Queue();
  return p;
}

Napi::Value opSync(const Napi::CallbackInfo& info) {
  const auto* def = static_cast<const OpDef*>(info.Data());
  moe::cpu::prewake();  // the pool's workers wake while the arguments are read
  return guardCall(info.Env(), def->op, [&] {
    Args args(info, def->op);
    Work work = def->prepare(args);
    return runSync(args, std::move(work));
  });
}

Napi::Value opAsync(const Napi::CallbackInfo& info) {
  const auto* def = static_cast<const OpDef*>(info.Data());
  moe::cpu::prewake();
  return guardCall(info.Env(), def->op, [&] {
    Args args(info, def->op);
    Work work = def->prepare(args);
    return runAsync(args, std::move(work));
  });
}

}  // namespace moe::addon
