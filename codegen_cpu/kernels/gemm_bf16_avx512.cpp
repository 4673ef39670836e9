// The bf16-weight GEMM's Avx512 tier: weights widened to fp32, 8 x 32 tiles,
// built with -mavx512f (see CMakeLists.txt). Runs only where
// tierSupported(Tier::Avx512).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "gemm_bf16.h"

namespace bertc::cpu {
namespace {

#include "vec_avx512.inc"
#include "bf16_widen.inc"

constexpr int MR = microkernelRows(Tier::Avx512);
#include "gemm_bf16_kernel.inc"

static_assert(NR == microkernelCols(Tier::Avx512));

}  // namespace

void detail::gemmBf16RowsAvx512(const GemmBf16Args& args, int m0, int m1) { gemmBf16RowsImpl(args, m0, m1); }

}  // namespace bertc::cpu
