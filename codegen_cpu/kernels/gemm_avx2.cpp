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

struct Vec {
  using V = __m256;
  static constexpr int L = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V load(const float* p) { return _mm256_load_ps(p); }
  /// All-ones in the first n lanes: maskload/maskstore neither read nor
  /// write (nor fault on) the others.
  static __m256i firstLanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V loadN(const float* p, int n) {
    return n >= L ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, firstLanes(n));
  }
  static void storeN(float* p, V v, int n) {
    if (n >= L) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, firstLanes(n), v);
  }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V round(V x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V pow2n(V n) {
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_castsi256_ps(e);
  }
};

constexpr int MR = 6;
#include "gemm_kernel.inc"

}  // namespace

void detail::gemmRowsAvx2(const GemmArgs& args, int m0, int m1) { gemmRowsImpl(args, m0, m1); }

}  // namespace bertc::cpu
