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

struct Vec {
  using V = __m512;
  static constexpr int L = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V load(const float* p) { return _mm512_load_ps(p); }
  static __mmask16 firstLanes(int n) {
    return n >= L ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
  }
  static V loadN(const float* p, int n) {
    return n >= L ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(firstLanes(n), p);
  }
  static void storeN(float* p, V v, int n) {
    if (n >= L) _mm512_storeu_ps(p, v);
    else _mm512_mask_storeu_ps(p, firstLanes(n), v);
  }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V round(V x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V pow2n(V n) {
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_castsi512_ps(e);
  }
};

constexpr int MR = 8;
#include "gemm_kernel.inc"

}  // namespace

void detail::gemmRowsAvx512(const GemmArgs& args, int m0, int m1) { gemmRowsImpl(args, m0, m1); }

}  // namespace bertc::cpu
