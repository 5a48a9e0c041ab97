// JS binding of a planned layer_forward, for decode loops (lib/layer_native.ts is the only caller):
//   layerPlan(args) -> plan: reads and checks layerForward's whole args object once (layer_forward.cpp lists
//     its fields) and keeps everything that does not change between the forwards of one layer at one token
//     count and x dtype;
//   layerForwardPlanned(plan, x, out, residual, residualDtype, logits, scores, ids, weights, counts, rows, act,
//     y, slotToRow, rowToToken, offsets, statCounts, statTop1Counts, statProbSum, statTotals, sharedAct,
//     shared) -> undefined, and layerForwardPlannedAsync(...) -> Promise<undefined>: one forward, given only
//     the per-call arrays, as positional arguments (residual, residualDtype, sharedAct and shared may be
//     undefined: no residual; no shared expert).
//
// Why: layerForward reads ~60 named fields per call. From cold caches (a decode step, after the other
// layers' weights went through the caches) its binding took ~150 us of a ~5.5 ms Qwen3-30B-A3B T = 1
// forward on the Zen 4 VM (85 us reading and checking, ~60 us entering and leaving the call), against ~13 us
// for a call that reads nothing. A positional call reads ~20 arrays and no names.
//
// What the plan keeps:
//   - the weight arrays (router, routerBias, bias, w1, b1, w2, b2, sharedW1, sharedW2, wc, v), referenced and
//     read in place: a weight updated in place is seen by the next call; one detached or resized since
//     layerPlan read it is refused (RangeError naming it);
//   - copies of the small lists (zeroExperts, copyExperts, constantIds, zeroGate, pruneProtect, pruneDropAll),
//     whose values layerPlan checked;
//   - each per-call array's type and length, as the args object had them: a per-call array must match exactly
//     (residual: residualDtype's array type and [tokens, hidden]).
// Every array the call writes overlaps no other array of the call, the kept weights included, except that
// out may be exactly residual's memory (as layerForward).

#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "../cpu/thread_pool.h"
#include "layer_forward_args.h"

namespace {

using moe::addon::Args;

// The per-call arrays, in positional order after plan (residual and residualDtype are handled apart).
enum Slot { kX, kOut, kLogits, kScores, kIds, kWeights, kCounts, kRows, kAct, kY, kSlotToRow, kRowToToken, kOffsets,
            kStatCounts, kStatTop1Counts, kStatProbSum, kStatTotals, kSharedAct, kShared, kSlots };
constexpr const char* kSlotField[kSlots] = {"x", "out", "logits", "scores", "ids", "weights", "counts", "rows", "act", "y",
                                            "slotToRow", "rowToToken", "offsets", "statCounts", "statTop1Counts",
                                            "statProbSum", "statTotals", "sharedAct", "shared"};
// info[] index of each slot: plan, x, out, residual, residualDtype, logits, ...
constexpr int argIndex(int slot) { return slot <= kOut ? 1 + slot : 3 + slot; }
constexpr int kResidualArg = 3, kResidualDtypeArg = 4;

const char* const kCopied[] = {"zeroExperts", "copyExperts", "constantIds", "zeroGate", "pruneProtect", "pruneDropAll"};

// A tag no other addon's objects carry: a plan argument is checked with it before its pointer is used.
constexpr napi_type_tag kPlanTag = {0x6d6f652d6c617965ULL, 0x722d706c616e2d31ULL};

struct Expect {
  bool present = false;
  napi_typedarray_type type = napi_float32_array;
  size_t bytes = 0;
};

struct Kept {
  const char* field;  // a string literal of the reading code
  Napi::Reference<Napi::TypedArray> array;
  const void* data;
  size_t bytes;
};

struct LayerPlan {
  moe::LayerForwardArgs f;  // every per-call pointer is set again by each call
  Expect expect[kSlots];
  int64_t tokenRows = 0;    // residual's elements
  std::vector<Kept> kept;
  std::vector<int32_t> zero, copy, constant;
  std::vector<uint8_t> zeroGate, pruneProtect, pruneDropAll;
};

size_t elementBytes(napi_typedarray_type t) {
  switch (t) {
    case napi_int16_array: case napi_uint16_array: return 2;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: return 4;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: return 8;
    default: return 1;
  }
}

const char* arrayName(napi_typedarray_type t) {
  switch (t) {
    case napi_uint8_array: return "Uint8Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    default: return "Float32Array";
  }
}

bool named(const char* field, const char* const* list, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (std::strcmp(field, list[i]) == 0) return true;
  return false;
}

template <typename T>
std::vector<T> copied(const T* data, int64_t n) {
  return data && n > 0 ? std::vector<T>(data, data + n) : std::vector<T>();
}

Napi::Value layerPlan(const Napi::CallbackInfo& info) {
  return moe::addon::guardCall(info.Env(), "layer_forward", [&]() -> Napi::Value {
    Args a(info, "layer_forward");
    const moe::addon::LayerForwardRead r = moe::addon::readLayerForward(a);
    a.checkBuffers();
    auto plan = std::make_unique<LayerPlan>();
    LayerPlan& p = *plan;
    p.f = r.f;
    p.tokenRows = r.f.route.tokens * r.f.hidden;
    for (const Args::Buffer& b : a.buffers()) {
      const auto* s = std::find_if(std::begin(kSlotField), std::end(kSlotField), [&](const char* n) { return std::strcmp(n, b.field) == 0; });
      if (s != std::end(kSlotField)) {
        p.expect[s - std::begin(kSlotField)] = {true, b.array.TypedArrayType(), b.bytes};
      } else if (std::strcmp(b.field, "residual") != 0 && !named(b.field, kCopied, std::size(kCopied))) {
        p.kept.push_back({b.field, Napi::Persistent(b.array), b.data, b.bytes});
      }
    }
    moe::UnpermuteArgs& c = p.f.combine;
    p.zero = copied(c.zeroExperts, c.nZero);
    p.copy = copied(c.copyExperts, c.nCopy);
    p.constant = copied(c.constantIds, c.nConst);
    const int64_t N = r.f.route.experts, T = r.f.route.tokens;
    p.zeroGate = copied(r.f.route.zeroGate, N);
    p.pruneProtect = copied(r.f.route.pruneProtect, T);
    p.pruneDropAll = copied(r.f.route.pruneDropAll, T);

    Napi::Object handle = Napi::Object::New(info.Env());
    NAPI_THROW_IF_FAILED(info.Env(), napi_wrap(info.Env(), handle, plan.get(),
                                               [](napi_env, void* data, void*) { delete static_cast<LayerPlan*>(data); },
                                               nullptr, nullptr),
                         Napi::Value());
    plan.release();  // the handle's finalizer owns it now
    NAPI_THROW_IF_FAILED(info.Env(), napi_type_tag_object(info.Env(), handle, &kPlanTag), Napi::Value());
    return handle;
  });
}

const LayerPlan& planOf(Args& a, const Napi::Value& v) {
  bool tagged = false;
  void* data = nullptr;
  if (!v.IsObject() || napi_check_object_type_tag(v.Env(), v, &kPlanTag, &tagged) != napi_ok || !tagged ||
      napi_unwrap(v.Env(), v, &data) != napi_ok || data == nullptr) {
    a.typeError("plan", "a plan from layerPlan", v);
  }
  return *static_cast<const LayerPlan*>(data);
}

// The typed array at info[index] for `field`, of exactly the expected type and byte length, recorded in `a`;
// null (and nothing recorded) for an absent optional one, which must then be undefined.
void* take(Args& a, const Napi::CallbackInfo& info, int index, const char* field, const Expect& e) {
  const Napi::Value v = info[index];
  if (!e.present) {
    if (!v.IsUndefined()) a.typeError(field, "undefined (this plan has no such array)", v);
    return nullptr;
  }
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (!v.IsTypedArray() || napi_get_typedarray_info(info.Env(), v, &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != e.type) {
    a.typeError(field, std::string("a ") + arrayName(e.type), v);
  }
  const size_t size = elementBytes(type);
  if (length * size != e.bytes) {
    a.rangeError(field, "must have " + std::to_string(e.bytes / size) + " elements, got " + std::to_string(length));
  }
  a.record(field, v.As<Napi::TypedArray>(), data, e.bytes);
  return data;
}

moe::addon::Work preparePlanned(Args& a, const Napi::CallbackInfo& info, const LayerPlan& p) {
  for (const Kept& k : p.kept) {
    const Napi::TypedArray w = k.array.Value();
    if (!moe::addon::sameMemory(info.Env(), w, k.data, k.bytes)) a.rangeError(k.field, "was detached or resized since layerPlan read it");
    a.record(k.field, w, k.data, k.bytes);
  }
  void* at[kSlots];
  for (int s = 0; s < kSlots; ++s) at[s] = take(a, info, argIndex(s), kSlotField[s], p.expect[s]);

  moe::LayerForwardArgs f = p.f;
  moe::UnpermuteArgs& c = f.combine;
  const Napi::Value residual = info[kResidualArg];
  if (!residual.IsUndefined()) {
    const Napi::Value dt = info[kResidualDtypeArg];
    const std::string name = dt.IsString() ? dt.As<Napi::String>().Utf8Value() : std::string();
    if (name != "f32" && name != "bf16" && name != "f16") a.typeError("residualDtype", "one of 'f32', 'bf16', 'f16'", dt);
    c.residualDtype = name == "f32" ? moe::DType::F32 : name == "bf16" ? moe::DType::BF16 : moe::DType::F16;
    const Expect e{true, c.residualDtype == moe::DType::F32 ? napi_float32_array : napi_uint16_array,
                   size_t(p.tokenRows) * (c.residualDtype == moe::DType::F32 ? 4 : 2)};
    c.residual = take(a, info, kResidualArg, "residual", e);
  } else {
    c.residual = nullptr;
  }
  moe::addon::checkLayerOutputs(a);

  // Every pointer readLayerForward took from a per-call array or a copied list, in its order.
  f.route.logits = static_cast<const float*>(at[kLogits]);
  f.route.scores = static_cast<float*>(at[kScores]);
  f.route.ids = static_cast<int32_t*>(at[kIds]);
  f.route.weights = static_cast<float*>(at[kWeights]);
  f.route.counts = static_cast<int32_t*>(at[kCounts]);
  if (f.route.zeroGate) f.route.zeroGate = p.zeroGate.data();
  if (f.route.pruneProtect) f.route.pruneProtect = p.pruneProtect.data();
  if (f.route.pruneDropAll) f.route.pruneDropAll = p.pruneDropAll.data();
  f.x = at[kX];
  f.router.a.data = at[kX];
  f.router.out.data = at[kLogits];
  f.w1.out.data = at[kAct];
  f.w2.out.data = at[kY];
  f.rows = at[kRows];
  f.slotToRow = static_cast<int32_t*>(at[kSlotToRow]);
  f.rowToToken = static_cast<int32_t*>(at[kRowToToken]);
  f.offsets = static_cast<int32_t*>(at[kOffsets]);
  if (f.sharedExpert) {
    f.sharedUp.a.data = at[kX];
    f.sharedUp.out.data = at[kSharedAct];
    f.sharedDown.a.data = at[kSharedAct];
    f.sharedDown.out.data = at[kShared];
    c.shared = at[kShared];
  }
  c.zeroExperts = p.zero.data();
  c.copyExperts = p.copy.data();
  c.constantIds = p.constant.data();
  if (c.x) c.x = at[kX];
  c.out = at[kOut];
  f.stats.ids = f.route.ids;
  f.stats.scores = f.route.scores;
  f.stats.logits = f.route.logits;
  f.stats.counts = static_cast<int32_t*>(at[kStatCounts]);
  f.stats.top1Counts = static_cast<int32_t*>(at[kStatTop1Counts]);
  f.stats.probSum = static_cast<float*>(at[kStatProbSum]);
  return moe::addon::layerForwardWork(f, static_cast<uint8_t*>(at[kStatTotals]));
}

template <bool Async>
Napi::Value layerForwardPlanned(const Napi::CallbackInfo& info) {
  moe::cpu::prewake();  // the pool's workers wake while the arguments are read
  return moe::addon::guardCall(info.Env(), "layer_forward", [&]() -> Napi::Value {
    Args a(info.Env(), "layer_forward", info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object());
    const LayerPlan& p = planOf(a, info[0]);
    moe::addon::Work work = preparePlanned(a, info, p);
    return Async ? moe::addon::runAsync(a, std::move(work)) : moe::addon::runSync(a, std::move(work));
  });
}

}  // namespace

MOE_BINDING("layerPlan", layerPlan);
MOE_BINDING("layerForwardPlanned", layerForwardPlanned<false>);
MOE_BINDING("layerForwardPlannedAsync", layerForwardPlanned<true>);
