// The AVX-512 GEMM: 8 x 32 register tile (16 zmm accumulators), built with
// -mavx512f (see CMakeLists.txt). Runs only where isaSupported(Isa::Avx512).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>

#include "gemm.h"

namespace bertc::cpu {
namespace {

#include "vec_avx512.inc"

constexpr int MR = microkernelRows(Isa::Avx512);
#include "gemm_kernel.inc"

}  // namespace

void detail::gemmRowsAvx512(const GemmArgs& args, int m0, int m1) { gemmRowsImpl(args, args.B->view(), m0, m1); }

}  // namespace bertc::cpu
