// The bf16-weight GEMM's Avx2 tier: weights widened to fp32, 6 x 16 tiles,
// built with -mavx2 -mfma (see CMakeLists.txt).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "gemm_bf16.h"

namespace bertc::cpu {
namespace {

#include "vec_avx2.inc"
#include "bf16_widen.inc"

constexpr int MR = microkernelRows(Tier::Avx2);
#include "gemm_bf16_kernel.inc"

static_assert(NR == microkernelCols(Tier::Avx2));

}  // namespace

void detail::gemmBf16RowsAvx2(const GemmBf16Args& args, int m0, int m1) { gemmBf16RowsImpl(args, m0, m1); }

}  // namespace bertc::cpu
