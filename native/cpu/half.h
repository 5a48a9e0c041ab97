// Scalar f32 <-> bf16 / f16 conversions on bit patterns, bit-exact to lib/dtype.ts (RNE, NaN quiet with
// its sign). Used by the generic kernels and by the scalar tails of the ISA kernels.
//
// Everything here has internal linkage (an anonymous namespace), on purpose: this header is included by
// files compiled with -mavx512f. An inline function with external linkage would be emitted as a weak
// symbol in every such file, and the linker could pick the AVX-512 copy for a caller on a CPU without it.
#pragma once

#include <cstdint>

namespace moe::cpu {
namespace {

// f32 bits -> bf16 bits. NaN: the top bits with the quiet bit set (payload and sign kept).
inline uint16_t f32ToBf16(uint32_t b) {
  if ((b & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((b >> 16) | 0x40u);
  return static_cast<uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);  // cannot wrap: b <= 0xff800000
}

inline uint32_t bf16ToF32(uint16_t h) { return static_cast<uint32_t>(h) << 16; }

// f32 bits -> f16 bits: RNE with subnormals, overflow to ±inf, NaN -> ±0x7e00 (payload dropped).
inline uint16_t f32ToF16(uint32_t b) {
  const uint32_t sign = (b >> 16) & 0x8000u;
  const uint32_t exp = (b >> 23) & 0xffu;
  uint32_t mant = b & 0x7fffffu;
  if (exp == 0xff) return static_cast<uint16_t>(sign | (mant ? 0x7e00u : 0x7c00u));
  const int e = static_cast<int>(exp) - 127;  // f16 normals: e in [-14, 15]
  if (e > 15) return static_cast<uint16_t>(sign | 0x7c00u);
  if (e >= -14) {
    uint32_t h = (static_cast<uint32_t>(e + 15) << 10) | (mant >> 13);
    const uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is correct
    return static_cast<uint16_t>(sign | h);
  }
  if (e < -25) return static_cast<uint16_t>(sign);  // below half the smallest subnormal (2^-25)
  mant |= 0x800000u;                                // subnormal: unit 2^-24, shift in [14, 24]
  const int shift = -1 - e;
  uint32_t h = mant >> shift;
  const uint32_t rest = mant & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

// f16 bits -> f32 bits, exact. NaN: quieted, payload and sign kept (what vcvtph2ps gives).
inline uint32_t f16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return sign | 0x7f800000u | (mant ? 0x400000u | (mant << 13) : 0u);
  if (exp != 0) return sign | ((exp + 112u) << 23) | (mant << 13);  // rebias: -15 + 127
  if (mant == 0) return sign;
  int e = 113;  // subnormal: value = mant · 2^-24; normalise so bit 10 is the hidden bit
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    --e;
  }
  return sign | (static_cast<uint32_t>(e) << 23) | ((mant & 0x3ffu) << 13);
}

// Element tags: widen to f32 bits / narrow from f32 bits, so every pair converts through f32 (one rounding).
struct F32Bits {
  using T = uint32_t;
  static uint32_t widen(uint32_t b) { return b; }
  static uint32_t narrow(uint32_t b) { return b; }
};
struct Bf16Bits {
  using T = uint16_t;
  static uint32_t widen(uint16_t h) { return bf16ToF32(h); }
  static uint16_t narrow(uint32_t b) { return f32ToBf16(b); }
};
struct F16Bits {
  using T = uint16_t;
  static uint32_t widen(uint16_t h) { return f16ToF32(h); }
  static uint16_t narrow(uint32_t b) { return f32ToF16(b); }
};

template <typename From, typename To>
void convertScalar(const typename From::T* src, typename To::T* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = To::narrow(From::widen(src[i]));
}

}  // namespace
}  // namespace moe::cpu
