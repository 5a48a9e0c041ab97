// The element loops of convert, one set per ISA. loop(src, dst, n) converts n elements; a getter returns
// nullptr when its ISA has no loop for the pair, and the dispatcher (convert.cpp) takes the next lower path.
#pragma once

#include <cstdint>

#include "../common/tensor_view.h"

namespace moe::cpu {

using ConvertLoop = void (*)(const void* src, void* dst, int64_t n);

#if defined(MOE_HAVE_X86)
ConvertLoop convertLoopAvx2(DType from, DType to);    // x86/convert_avx2.cpp
ConvertLoop convertLoopAvx512(DType from, DType to);  // x86/convert_avx512.cpp
#endif

}  // namespace moe::cpu
