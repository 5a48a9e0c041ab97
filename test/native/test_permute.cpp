// permute on every SIMD path and 1 and 2 threads against a plain-loop reference (the stable order of
// lib/reference/permute.ts: all rank-0 slots in token order, then rank-1, ...): every dtype, scale 1 (bit
// copies) and other scales (f64 product rounded through f32), padding, zero-computation ids, an expert map,
// odd hidden sizes, a slot count the counting pass splits into chunks, an output big enough for the
// streaming stores; and arguments the kernel must refuse without writing.

#include "common/permute.h"

#include <algorithm>

#include "check.h"

using namespace moe;
using namespace moe::test;

namespace {

struct Case {
  int64_t tokens, hidden, kmax, experts, total;
  DType dtype;
  int64_t align;
  double scale;
  bool map;
};

struct Data {
  Buf<uint8_t> x;
  Buf<int32_t> ids, segmentOf, offsets;
  int64_t rows = 0;
};

Data make(Rng& r, const Case& c) {
  Data d;
  d.x = randomFloats(r, c.dtype, c.tokens * c.hidden);
  d.segmentOf = Buf<int32_t>(c.total, -1);
  for (int64_t e = 0; e < c.total; ++e) {
    if (c.map) d.segmentOf[e] = r.below(4) == 0 ? -1 : static_cast<int32_t>(r.below(c.experts));
    else if (e < c.experts) d.segmentOf[e] = static_cast<int32_t>(e);
  }
  d.ids = Buf<int32_t>(c.tokens * c.kmax, -1);
  std::vector<int32_t> pool(static_cast<size_t>(c.total));
  for (int64_t t = 0; t < c.tokens; ++t) {
    for (int64_t e = 0; e < c.total; ++e) pool[static_cast<size_t>(e)] = static_cast<int32_t>(e);
    for (int64_t j = 0; j < c.kmax; ++j) {  // distinct ids per token, some slots empty
      const int64_t pick = j + r.below(c.total - j);
      std::swap(pool[static_cast<size_t>(j)], pool[static_cast<size_t>(pick)]);
      d.ids[t * c.kmax + j] = r.below(6) == 0 ? -1 : pool[static_cast<size_t>(j)];
    }
  }
  std::vector<int64_t> count(static_cast<size_t>(c.experts), 0);
  for (int64_t i = 0; i < c.tokens * c.kmax; ++i) {
    if (d.ids[i] >= 0 && d.segmentOf[d.ids[i]] >= 0) ++count[static_cast<size_t>(d.segmentOf[d.ids[i]])];
  }
  d.offsets = Buf<int32_t>(c.experts + 1, 0);
  for (int64_t s = 0; s < c.experts; ++s) {
    d.offsets[s + 1] = static_cast<int32_t>(d.offsets[s] + (count[static_cast<size_t>(s)] + c.align - 1) / c.align * c.align);
  }
  d.rows = d.offsets[c.experts];
  return d;
}

struct Out {
  Buf<uint8_t> rows;
  Buf<int32_t> slotToRow, rowToToken;
};

PermuteArgs args(const Case& c, const Data& d, Out& o) {
  PermuteArgs a{};
  a.x = d.x.data();
  a.dtype = c.dtype;
  a.tokens = c.tokens;
  a.hidden = c.hidden;
  a.kmax = c.kmax;
  a.ids = d.ids.data();
  a.experts = c.experts;
  a.totalExperts = c.total;
  a.segmentOf = d.segmentOf.data();
  a.offsets = d.offsets.data();
  a.rowCount = d.rows;
  a.scale = c.scale;
  a.rows = o.rows.data();
  a.slotToRow = o.slotToRow.data();
  a.rowToToken = o.rowToToken.data();
  return a;
}

Out alloc(const Case& c, const Data& d, uint8_t fill = 0xa5) {
  const int64_t es = static_cast<int64_t>(dtypeSize(c.dtype));
  return Out{Buf<uint8_t>(d.rows * c.hidden * es, fill), Buf<int32_t>(c.tokens * c.kmax, 0x5a5a5a5a), Buf<int32_t>(d.rows, 0x5a5a5a5a)};
}

Out reference(const Case& c, const Data& d) {
  Out o = alloc(c, d, 0);
  const size_t es = dtypeSize(c.dtype);
  std::vector<int64_t> next(d.offsets.data(), d.offsets.data() + c.experts);
  for (int64_t i = 0; i < d.rows; ++i) o.rowToToken[i] = -1;
  for (int64_t j = 0; j < c.kmax; ++j) {
    for (int64_t t = 0; t < c.tokens; ++t) {
      const int32_t id = d.ids[t * c.kmax + j];
      const int32_t s = id >= 0 ? d.segmentOf[id] : -1;
      o.slotToRow[t * c.kmax + j] = -1;
      if (s < 0) continue;
      const int64_t r = next[static_cast<size_t>(s)]++;
      o.slotToRow[t * c.kmax + j] = static_cast<int32_t>(r);
      o.rowToToken[r] = static_cast<int32_t>(t);
      for (int64_t h = 0; h < c.hidden; ++h) {
        uint8_t* dst = o.rows.data() + (r * c.hidden + h) * static_cast<int64_t>(es);
        const uint8_t* src = d.x.data() + (t * c.hidden + h) * static_cast<int64_t>(es);
        if (c.scale == 1.0) {
          std::memcpy(dst, src, es);
          continue;
        }
        const float f = static_cast<float>(valueAt(d.x.data(), c.dtype, t * c.hidden + h) * c.scale);
        if (c.dtype == DType::F32) std::memcpy(dst, &f, 4);
        else {
          const uint16_t b = c.dtype == DType::BF16 ? cpu::f32ToBf16(bitsOf(f)) : cpu::f32ToF16(bitsOf(f));
          std::memcpy(dst, &b, 2);
        }
      }
    }
  }
  return o;
}

void run(Rng& r, const Case& c) {
  const Data d = make(r, c);
  const Out want = reference(c, d);
  Out got = alloc(c, d);
  const std::string what = "T=" + std::to_string(c.tokens) + " H=" + std::to_string(c.hidden) + " K=" +
                           std::to_string(c.kmax) + " " + dtypeName(c.dtype) + " align=" + std::to_string(c.align) +
                           " scale=" + std::to_string(c.scale) + (c.map ? " map" : "");
  CHECK_MSG(cpu::permute(args(c, d, got)) == Status::Ok, what);
  CHECK_MSG(sameBytes(got.rows.data(), want.rows.data(), static_cast<size_t>(got.rows.n)), "rows " + what);
  CHECK_MSG(sameBytes(got.slotToRow.data(), want.slotToRow.data(), static_cast<size_t>(got.slotToRow.n) * 4), "slotToRow " + what);
  CHECK_MSG(sameBytes(got.rowToToken.data(), want.rowToToken.data(), static_cast<size_t>(got.rowToToken.n) * 4), "rowToToken " + what);
}

// Broken arguments: InvalidArgument, and no output touched.
void refused(Rng& r) {
  const Case c{9, 5, 2, 3, 5, DType::F32, 1, 1.0, false};
  auto expectRefused = [&](const char* what, auto breakIt) {
    Data d = make(r, c);
    Out o = alloc(c, d);
    PermuteArgs a = args(c, d, o);
    breakIt(a, d);
    CHECK_MSG(cpu::permute(a) == Status::InvalidArgument, what);
    bool untouched = true;
    for (int64_t i = 0; i < o.rows.n; ++i) untouched &= o.rows[i] == 0xa5;
    for (int64_t i = 0; i < o.rowToToken.n; ++i) untouched &= o.rowToToken[i] == 0x5a5a5a5a;
    CHECK_MSG(untouched, std::string(what) + ": an output was written");
  };
  expectRefused("id = totalExperts", [](PermuteArgs&, Data& d) { d.ids[3] = 5; });
  expectRefused("id = -2", [](PermuteArgs&, Data& d) { d.ids[0] = -2; });
  expectRefused("id = INT32_MIN", [](PermuteArgs&, Data& d) { d.ids[17] = INT32_MIN; });
  expectRefused("segmentOf >= experts", [](PermuteArgs&, Data& d) { d.segmentOf[1] = 3; });
  expectRefused("offsets[0] != 0", [](PermuteArgs&, Data& d) { d.offsets[0] = 1; });
  expectRefused("offsets decreasing", [](PermuteArgs&, Data& d) { d.offsets[1] = d.offsets[2] + 1; });
  expectRefused("offsets end != rowCount", [](PermuteArgs& a, Data&) { a.rowCount += 1; });
  expectRefused("segment smaller than its rows", [](PermuteArgs& a, Data& d) {
    // Move one row from segment 0 to segment 1: totals still add up, segment 0 is one short.
    if (d.offsets[1] > 0) d.offsets[1] -= 1;
    else a.rowCount = -1;
  });
  expectRefused("scale NaN", [](PermuteArgs& a, Data&) { a.scale = NAN; });
  expectRefused("negative tokens", [](PermuteArgs& a, Data&) { a.tokens = -1; });
  expectRefused("integer dtype", [](PermuteArgs& a, Data&) { a.dtype = DType::I32; });
}

}  // namespace

int main() {
  Rng r(7);
  refused(r);
  std::vector<Case> cases;
  for (DType t : {DType::F32, DType::BF16, DType::F16}) {
    for (double scale : {1.0, 0.5, -3.0, 1.0 / 3.0}) {
      cases.push_back({1, 1, 1, 1, 1, t, 1, scale, false});
      cases.push_back({7, 7, 2, 3, 5, t, 1, scale, false});
      cases.push_back({255, 33, 4, 8, 10, t, 8, scale, true});
      cases.push_back({64, 65, 3, 5, 5, t, 3, scale, false});
    }
    cases.push_back({0, 16, 2, 4, 4, t, 1, 1.0, false});
    cases.push_back({9, 0, 2, 4, 4, t, 1, 2.0, false});
    cases.push_back({5000, 17, 8, 16, 18, t, 1, 1.0, false});  // 40000 slots: several counting chunks
    cases.push_back({5000, 17, 8, 16, 18, t, 16, 0.75, true});
  }
  forEachConfig("permute", [&](cpu::SimdPath, int) {
    for (const Case& c : cases) run(r, c);
  });
  // Rows past the 64 MiB streaming threshold (non-temporal stores): one config, it is the slow one.
  cpu::setNumThreads(2);
  run(r, Case{20000, 512, 2, 4, 4, DType::F32, 1, 1.0, false});
  cpu::setNumThreads(0);
  return finish("test_permute");
}
