// The bf16-weight GEMM's Avx512Bf16 tier: A rounded to bf16 per block,
// vdpbf16ps, 8 x 32 tiles, built with -mavx512bf16 (see CMakeLists.txt).
// Runs only where tierSupported(Tier::Avx512Bf16).
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
#include "bf16_dot.inc"

constexpr int MR = microkernelRows(Tier::Avx512Bf16);
#include "gemm_bf16_kernel.inc"

static_assert(NR == microkernelCols(Tier::Avx512Bf16));
static_assert(static_cast<std::size_t>(MC) * KC / 2 <= kGemmBf16ScratchFloats, "the A block must fit the scratch");

}  // namespace

void detail::gemmBf16RowsAvx512Bf16(const GemmBf16Args& args, int m0, int m1) { gemmBf16RowsImpl(args, m0, m1); }

}  // namespace bertc::cpu
