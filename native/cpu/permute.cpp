// permute on the CPU: checks, the counting sort that places every slot, and the row gather, threaded on
// the pool. See common/permute.h for the contract.
//
// 1. Count: the slots in the stable order (rank-major: index i = j·tokens + t) are cut into chunks; each
//    chunk counts its slots per segment (and checks every id) in parallel.
// 2. Place: an exclusive prefix over (segment, chunk) from offsets gives each chunk its first row per
//    segment; each chunk then walks its slots again and writes slotToRow and rowToToken. The rows a slot
//    gets are those of the serial stable order, whatever the chunking: the maps are exact.
// 3. Gather: rows in parallel ranges; row r is a bit copy of x[rowToToken[r]] (scale == 1), the scale loop
//    of the SIMD path otherwise, or zeros (padding). When the rows are too big to stay in cache anyway
//    (>= 64 MiB), whole cache lines are written with non-temporal stores, which skip the read-for-ownership
//    of the destination: T = 4096, k = 8, H = 2048 bf16 (268 MB of rows) took 17 ms of CPU per pass with a
//    per-row memcpy and 9-12 ms with SSE2 streaming stores (13 ms with rows not 64-byte aligned). Scaled
//    rows keep ordinary stores: producing them in an L1 buffer and streaming from there measured no faster.

#include "../common/permute.h"

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <new>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "cpu_features.h"
#include "half.h"
#include "permute_kernels.h"
#include "thread_pool.h"

namespace moe::cpu {

namespace perm {
namespace {

float asFloat(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
uint32_t asBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

template <typename Tag, bool F32Scale>
void scaleScalar(const void* src, void* dst, int64_t n, double scale) {
  const auto* s = static_cast<const typename Tag::T*>(src);
  auto* d = static_cast<typename Tag::T*>(dst);
  const float sf = static_cast<float>(scale);
  for (int64_t i = 0; i < n; ++i) {
    const float x = asFloat(Tag::widen(s[i]));
    const float y = F32Scale ? x * sf : static_cast<float>(static_cast<double>(x) * scale);
    d[i] = Tag::narrow(asBits(y));
  }
}

}  // namespace

ScaleLoop scaleLoopScalar(DType t, bool f32Scale) {
  switch (t) {
    case DType::F32: return f32Scale ? scaleScalar<F32Bits, true> : scaleScalar<F32Bits, false>;
    case DType::BF16: return f32Scale ? scaleScalar<Bf16Bits, true> : scaleScalar<Bf16Bits, false>;
    case DType::F16: return f32Scale ? scaleScalar<F16Bits, true> : scaleScalar<F16Bits, false>;
    default: return nullptr;
  }
}

}  // namespace perm

namespace {

perm::ScaleLoop pickScaleLoop(DType t, bool f32Scale) {
#if defined(MOE_HAVE_X86)
  switch (simdPath()) {
    case SimdPath::Avx512:
      if (perm::ScaleLoop f = perm::scaleLoopAvx512(t, f32Scale)) return f;
      [[fallthrough]];
    case SimdPath::Avx2:
      if (perm::ScaleLoop f = perm::scaleLoopAvx2(t, f32Scale)) return f;
      [[fallthrough]];
    case SimdPath::Scalar: break;
  }
#endif
  return perm::scaleLoopScalar(t, f32Scale);
}

// 16 Ki slots per counting chunk: a chunk takes ~20-50 µs (a strided id read, a segment lookup and two
// scattered int32 stores per slot), well above the pool's hand-off cost. At most 64 chunks, and at most
// 4 Mi histogram cells in all, so a huge expert count cannot blow up the scratch.
constexpr int64_t kSlotGrain = 1 << 14;
constexpr int64_t kMaxChunks = 64;
constexpr int64_t kMaxHistCells = int64_t{1} << 22;
// Gather tasks move at least 64 KiB of rows each.
constexpr int64_t kGatherBytes = 1 << 16;
// Outputs at least this big are written with streaming stores (step 3 above).
constexpr int64_t kStreamBytes = int64_t{64} << 20;

#if defined(__SSE2__)
constexpr bool kCanStream = true;
// memcpy whose destination cache lines that lie wholly inside [d, d + n) are written with non-temporal
// stores; the partial lines at both ends (shared with the neighbouring rows) get ordinary stores, because
// a partially written streaming line costs more than the read it saves. The caller issues the sfence.
void streamCopy(uint8_t* d, const uint8_t* s, size_t n) {
  size_t head = (64 - (reinterpret_cast<uintptr_t>(d) & 63)) & 63;
  if (head >= n) {
    std::memcpy(d, s, n);
    return;
  }
  std::memcpy(d, s, head);
  size_t i = head;
  for (; i + 64 <= n; i += 64) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 16));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 32));
    const __m128i e = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 48));
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i), a);
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 16), b);
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 32), c);
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 48), e);
  }
  std::memcpy(d + i, s + i, n - i);
}
void streamFence() { _mm_sfence(); }
#else
constexpr bool kCanStream = false;
void streamCopy(uint8_t* d, const uint8_t* s, size_t n) { std::memcpy(d, s, n); }
void streamFence() {}
#endif

bool isFloat(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16; }

bool argsOk(const PermuteArgs& a) {
  if (!isFloat(a.dtype) || a.tokens < 0 || a.hidden < 0 || a.kmax < 0 || a.experts < 1 || a.totalExperts < 0 ||
      a.rowCount < 0 || a.rowCount > INT32_MAX || !std::isfinite(a.scale) || a.offsets == nullptr) {
    return false;
  }
  if (a.tokens > 0 && a.kmax > INT64_MAX / a.tokens) return false;
  const int64_t slots = a.tokens * a.kmax;
  if (slots > 0 && (a.ids == nullptr || a.slotToRow == nullptr || a.totalExperts == 0 || a.segmentOf == nullptr)) return false;
  if (a.rowCount > 0 && a.rowToToken == nullptr) return false;
  if (a.hidden > 0 && ((a.rowCount > 0 && a.rows == nullptr) || (a.tokens > 0 && a.x == nullptr))) return false;
  if (a.offsets[0] != 0 || a.offsets[a.experts] != a.rowCount) return false;
  for (int64_t s = 0; s < a.experts; ++s) {
    if (a.offsets[s + 1] < a.offsets[s]) return false;
  }
  for (int64_t e = 0; e < a.totalExperts; ++e) {
    if (a.segmentOf[e] < -1 || a.segmentOf[e] >= a.experts) return false;
  }
  return true;
}

}  // namespace

Status permute(const PermuteArgs& a) {
  if (!argsOk(a)) return Status::InvalidArgument;
  const int64_t T = a.tokens, K = a.kmax, E = a.experts, H = a.hidden, slots = T * K;
  const int64_t chunks = std::max<int64_t>(1, std::min({kMaxChunks, slots / kSlotGrain, kMaxHistCells / E}));
  // Chunk c covers the rank-major slot indices [first(c), first(c + 1)).
  auto first = [&](int64_t c) { return slots / chunks * c + std::min(c, slots % chunks); };

  std::vector<int32_t> next;  // [chunks, E]: counts, then each chunk's next row per segment
  std::vector<int32_t> real;  // [E] real rows per segment
  try {
    next.assign(static_cast<size_t>(chunks * E), 0);
    real.assign(static_cast<size_t>(E), 0);
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory;
  }

  // 1. Count and check the ids.
  std::atomic<bool> badId{false};
  parallelFor(chunks, [&](int64_t c) {
    int32_t* cnt = next.data() + c * E;
    const int64_t end = first(c + 1);
    int64_t j = first(c) / std::max<int64_t>(T, 1), t = first(c) - j * T;
    for (int64_t i = first(c); i < end; ++i) {
      const int32_t id = a.ids[t * K + j];
      if (id >= 0 && id < a.totalExperts) {
        const int32_t s = a.segmentOf[id];
        if (s >= 0) ++cnt[s];
      } else if (id != -1) {
        badId.store(true, std::memory_order_relaxed);
      }
      if (++t == T) t = 0, ++j;
    }
  });
  if (badId.load()) return Status::InvalidArgument;

  // 2. Chunk starts per segment; every segment's real rows must fit its (padded) size.
  for (int64_t s = 0; s < E; ++s) {
    int64_t row = a.offsets[s];
    for (int64_t c = 0; c < chunks; ++c) {
      const int32_t n = next[c * E + s];
      next[c * E + s] = static_cast<int32_t>(row);
      row += n;
    }
    if (row > a.offsets[s + 1]) return Status::InvalidArgument;
    real[s] = static_cast<int32_t>(row - a.offsets[s]);
  }
  parallelFor(chunks, [&](int64_t c) {
    int32_t* nx = next.data() + c * E;
    const int64_t end = first(c + 1);
    int64_t j = first(c) / std::max<int64_t>(T, 1), t = first(c) - j * T;
    for (int64_t i = first(c); i < end; ++i) {
      const int32_t id = a.ids[t * K + j];
      const int32_t s = id >= 0 ? a.segmentOf[id] : -1;
      int32_t r = -1;
      if (s >= 0) {
        r = nx[s]++;
        a.rowToToken[r] = static_cast<int32_t>(t);
      }
      a.slotToRow[t * K + j] = r;
      if (++t == T) t = 0, ++j;
    }
  });
  for (int64_t s = 0; s < E; ++s) {
    std::fill(a.rowToToken + a.offsets[s] + real[s], a.rowToToken + a.offsets[s + 1], -1);
  }

  // 3. Gather.
  if (H == 0 || a.rowCount == 0) return Status::Ok;
  const size_t rowBytes = static_cast<size_t>(H) * dtypeSize(a.dtype);
  const bool f32Scale = std::fabs(a.scale) <= FLT_MAX && static_cast<double>(static_cast<float>(a.scale)) == a.scale;
  const perm::ScaleLoop scaled = a.scale == 1.0 ? nullptr : pickScaleLoop(a.dtype, f32Scale);
  const auto* src = static_cast<const uint8_t*>(a.x);
  auto* dst = static_cast<uint8_t*>(a.rows);
  const int64_t grain = std::max<int64_t>(1, kGatherBytes / static_cast<int64_t>(rowBytes));
  const bool stream = kCanStream && scaled == nullptr && a.rowCount * static_cast<int64_t>(rowBytes) >= kStreamBytes;
  parallelRanges(a.rowCount, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      uint8_t* d = dst + static_cast<size_t>(r) * rowBytes;
      const int32_t t = a.rowToToken[r];
      if (t < 0) {
        std::memset(d, 0, rowBytes);
        continue;
      }
      const uint8_t* s = src + static_cast<size_t>(t) * rowBytes;
      if (scaled != nullptr) scaled(s, d, H, a.scale);
      else if (stream) streamCopy(d, s, rowBytes);
      else std::memcpy(d, s, rowBytes);
    }
    if (stream) streamFence();  // order the streaming stores before the pool reports the task done
  });
  return Status::Ok;
}

}  // namespace moe::cpu
