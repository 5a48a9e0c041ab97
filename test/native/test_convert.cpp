// convert on every SIMD path and 1 and 2 threads, against the scalar conversions of cpu/half.h (which are
// bit-exact to lib/dtype.ts): every 16-bit pattern, random f32 bit patterns (NaNs, subnormals, ties), odd
// lengths around every vector width, a length the pool splits, exactly in place, unaligned pointers; and
// arguments the kernel must refuse without writing.

#include "common/convert.h"

#include "check.h"

using namespace moe;
using namespace moe::test;

namespace {

const DType kFloat[] = {DType::F32, DType::BF16, DType::F16};

TensorView view(void* p, DType t, int64_t n) {
  TensorView v;
  v.data = p;
  v.dtype = t;
  v.ndim = 1;
  v.shape[0] = n;
  return v;
}

// The expected element i of `to` for input bits `in` of `from` (f32 bits, or 16-bit patterns).
uint32_t expected(DType from, DType to, uint32_t in) {
  if (from == to) return in;
  const uint32_t f = from == DType::F32 ? in : from == DType::BF16 ? cpu::bf16ToF32(static_cast<uint16_t>(in)) : cpu::f16ToF32(static_cast<uint16_t>(in));
  return to == DType::F32 ? f : to == DType::BF16 ? cpu::f32ToBf16(f) : cpu::f32ToF16(f);
}

uint32_t load(const uint8_t* p, DType t, int64_t i) {
  if (t == DType::F32) {
    uint32_t b;
    std::memcpy(&b, p + 4 * i, 4);
    return b;
  }
  uint16_t h;
  std::memcpy(&h, p + 2 * i, 2);
  return h;
}

// Converts n random (or, when `all16`, every 16-bit) elements from -> to, `skew` elements past an
// allocation's start, and checks every output element and the bytes around the output.
void checkPair(Rng& r, DType from, DType to, int64_t n, int64_t skew) {
  const int64_t is = static_cast<int64_t>(dtypeSize(from)), os = static_cast<int64_t>(dtypeSize(to));
  Buf<uint8_t> in((n + skew) * is), out((n + skew) * os, 0xee);
  for (int64_t i = 0; i < (n + skew) * is; ++i) in[i] = static_cast<uint8_t>(r.u32());
  if (from != DType::F32 && n >= 65536) {
    for (int64_t i = 0; i < 65536; ++i) std::memcpy(in.data() + (skew + i) * 2, &i, 2);  // every pattern
  }
  ConvertArgs a{view(in.data() + skew * is, from, n), view(out.data() + skew * os, to, n)};
  CHECK(cpu::convert(a) == Status::Ok);
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t want = expected(from, to, load(in.data() + skew * is, from, i));
    const uint32_t got = load(out.data() + skew * os, to, i);
    if (got != want && ++bad <= 3) {
      CHECK_MSG(false, std::string(dtypeName(from)) + "->" + dtypeName(to) + " n=" + std::to_string(n) + " element " +
                           std::to_string(i) + ": got " + std::to_string(got) + " want " + std::to_string(want));
    }
  }
  CHECK_EQ(bad, 0);
  for (int64_t i = 0; i < skew * os; ++i) CHECK_EQ(out[i], 0xee);  // nothing written before the output
}

void inPlace(Rng& r, DType from, DType to, int64_t n) {
  Buf<uint16_t> buf(n);
  for (int64_t i = 0; i < n; ++i) buf[i] = static_cast<uint16_t>(r.u32());
  const std::vector<uint16_t> before = buf.vec();
  ConvertArgs a{view(buf.data(), from, n), view(buf.data(), to, n)};
  CHECK(cpu::convert(a) == Status::Ok);
  for (int64_t i = 0; i < n; ++i) {
    if (buf[i] != expected(from, to, before[static_cast<size_t>(i)])) {
      CHECK_MSG(false, "in place " + std::string(dtypeName(from)) + "->" + dtypeName(to) + " element " + std::to_string(i));
      break;
    }
  }
}

void refused() {
  Buf<float> x(8, 1.f), out(7, 5.f);
  ConvertArgs mismatch{view(x.data(), DType::F32, 8), view(out.data(), DType::BF16, 7)};
  CHECK(cpu::convert(mismatch) == Status::InvalidArgument);
  ConvertArgs ints{view(x.data(), DType::I32, 7), view(out.data(), DType::F32, 7)};
  CHECK(cpu::convert(ints) == Status::InvalidArgument);
  for (int64_t i = 0; i < 7; ++i) CHECK(out[i] == 5.f);  // refused calls write nothing
  ConvertArgs empty{view(nullptr, DType::F32, 0), view(nullptr, DType::F16, 0)};
  CHECK(cpu::convert(empty) == Status::Ok);
}

}  // namespace

int main() {
  Rng r(20261123);
  refused();
  const int64_t sizes[] = {1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 63, 65, 255, 4097, 65536 + 3, 300001};
  forEachConfig("convert", [&](cpu::SimdPath, int) {
    for (DType from : kFloat) {
      for (DType to : kFloat) {
        for (int64_t n : sizes) checkPair(r, from, to, n, n % 3);
      }
    }
    inPlace(r, DType::BF16, DType::F16, 70001);
    inPlace(r, DType::F16, DType::BF16, 70001);
    inPlace(r, DType::BF16, DType::BF16, 33);
  });
  return finish("test_convert");
}
