// LayerNorm and SkipLayerNorm over rows of H floats (ops.def LayerNorm with
// axis -1, SkipLayerNorm):
//
//   y = (v - mean(v)) / sqrt(var(v) + epsilon) * gamma + beta,   v = X + Skip + Bias
//
// Skip, Bias and beta are optional. Statistics are fp32, two-pass: the mean
// of v, then the mean of (v - mean)^2, each summed in one vector of partial
// sums per row and reduced across lanes at the end. With the mean taken out
// first there is no cancellation, so var is accurate to a few ulp of fp32
// (~1e-6 relative for H <= 4096; the tests check it against the double
// reference). Three sweeps over a row that stays in L1.
//
// No threads inside: layerNormRows() computes a row range, and calls on
// disjoint ranges may run on different threads at once.
#pragma once

#include <cstddef>

#include "gemm.h"  // Isa

namespace bertc::cpu {

/// One (Skip)LayerNorm call over `rows` rows of H. Pointers are not owned.
/// Y may be X or Skip itself (in place: each element is read before it is
/// written), but must not partly overlap them.
struct LayerNormArgs {
  const float* X = nullptr;
  std::ptrdiff_t ldx = 0;
  const float* skip = nullptr;  ///< optional, rows of H with leading dimension ldskip
  std::ptrdiff_t ldskip = 0;    ///< 0 broadcasts one skip row to every row
  const float* bias = nullptr;  ///< optional [H], added before normalising
  const float* gamma = nullptr; ///< [H], required
  const float* beta = nullptr;  ///< optional [H]
  float* Y = nullptr;
  std::ptrdiff_t ldy = 0;
  int H = 0;                    ///< >= 1
  int rows = 0;
  float epsilon = 1e-12f;
};

/// Normalises rows [r0, r1) on `isa`'s kernel (which this CPU must support).
void layerNormRows(const LayerNormArgs& args, int r0, int r1, Isa isa = bestIsa());
/// All rows.
inline void layerNorm(const LayerNormArgs& args, Isa isa = bestIsa()) { layerNormRows(args, 0, args.rows, isa); }

namespace detail {
void layerNormRowsAvx2(const LayerNormArgs& args, int r0, int r1);
void layerNormRowsAvx512(const LayerNormArgs& args, int r0, int r1);
/// Checks that this CPU has `isa` (a caller's bug otherwise: aborts with a message).
void requireIsa(Isa isa, const char* kernel);
}  // namespace detail

}  // namespace bertc::cpu
