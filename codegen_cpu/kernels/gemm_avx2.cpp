// The AVX2 GEMM (x86-64-v3, the baseline): 6 x 16 register tile (12 ymm
// accumulators of the 16), built with -mavx2 -mfma (see CMakeLists.txt).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>

#include "gemm.h"

namespace bertc::cpu {
namespace {

#include "vec_avx2.inc"

constexpr int MR = microkernelRows(Isa::Avx2);
#include "gemm_kernel.inc"

}  // namespace

void detail::gemmRowsAvx2(const GemmArgs& args, int m0, int m1) { gemmRowsImpl(args, args.B->view(), m0, m1); }

}  // namespace bertc::cpu
