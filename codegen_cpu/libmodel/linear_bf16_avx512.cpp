// The model library's copy of the bf16 GEMM's Avx512 tier
// (kernels/gemm_bf16_kernel.inc), built with the tier's flags on top of the
// library's -march (CMakeLists.txt), so both libraries have it; linear_bf16.cpp
// calls it only where the CPU runs it.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "internal.h"

namespace bertc::cpu {
namespace {

#include "vec_avx512.inc"
#include "bf16_widen.inc"

constexpr int MR = microkernelRows(Tier::Avx512);
#include "gemm_bf16_kernel.inc"

static_assert(NR == microkernelCols(Tier::Avx512));

}  // namespace

void libmodel::linearBf16RowsAvx512(const GemmBf16Args& args, int m0, int m1) { gemmBf16RowsImpl(args, m0, m1); }

}  // namespace bertc::cpu
