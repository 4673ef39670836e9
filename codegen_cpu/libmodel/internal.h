// What the model library's sources share: the ISA this copy is built for,
// ONNX dtype access, and running a kernel on the context's pool.
//
// The library is compiled once per ISA with -march (CMakeLists.txt), so the
// ISA is a compile-time constant here, not a run-time dispatch as in
// kernels/gemm.cpp: each copy is linked only into code built for its ISA.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <algorithm>

#include "bertc_k.h"
#include "gemm.h"  // Isa, microkernelRows, GemmBf16Args, Tier

namespace bertc::cpu::libmodel {

#if defined(__AVX512F__)
constexpr Isa kIsa = Isa::Avx512;
#elif defined(__AVX2__) && defined(__FMA__)
constexpr Isa kIsa = Isa::Avx2;
#else
#error "the model library is built with -march=x86-64-v3 or -march=x86-64-v4"
#endif

/// Columns per packed panel of this library's weights (packB, packB16): its
/// fp32 microkernel's NR.
constexpr int kPanelWidth = kIsa == Isa::Avx512 ? 32 : 16;

/// ONNX TensorProto dtype codes the library reads and writes.
enum Dtype { kFloat = 1, kUint8 = 2, kInt8 = 3, kInt16 = 5, kInt32 = 6, kInt64 = 7, kBool = 9, kDouble = 11 };

inline bool isFloatDtype(int dtype) { return dtype == kFloat || dtype == kDouble; }

/// Element i of an integer or bool tensor as int64 (floats truncate). The
/// dtypes come from the compiler, which emits only those above: any other
/// reads as 0 rather than out of bounds.
inline int64_t loadInt(const void* p, int dtype, int64_t i) {
  switch (dtype) {
    case kFloat: return static_cast<int64_t>(static_cast<const float*>(p)[i]);
    case kDouble: return static_cast<int64_t>(static_cast<const double*>(p)[i]);
    case kUint8:
    case kBool: return static_cast<const uint8_t*>(p)[i];
    case kInt8: return static_cast<const int8_t*>(p)[i];
    case kInt16: return static_cast<const int16_t*>(p)[i];
    case kInt32: return static_cast<const int32_t*>(p)[i];
    case kInt64: return static_cast<const int64_t*>(p)[i];
    default: return 0;
  }
}

/// Element i of any tensor above as double.
inline double loadDouble(const void* p, int dtype, int64_t i) {
  if (dtype == kFloat) return static_cast<const float*>(p)[i];
  if (dtype == kDouble) return static_cast<const double*>(p)[i];
  return static_cast<double>(loadInt(p, dtype, i));
}

/// Whether element i is nonzero (a mask or condition); NaN counts as true.
inline bool loadTruth(const void* p, int dtype, int64_t i) {
  return isFloatDtype(dtype) ? loadDouble(p, dtype, i) != 0.0 : loadInt(p, dtype, i) != 0;
}

/// Runs fn over [0, n) on exec's pool (inline without one). A pool busy with
/// another run (two contexts sharing a caller's pool at once) is recorded as
/// an error of `kernel`.
inline int parallelFor(const bertc_k_exec* exec, size_t n, bertc_rt_task_fn fn, void* ctx, const char* kernel) {
  const int status = bertc_rt_parallel_for(exec->pool, n, fn, ctx);
  if (status != BERTC_OK)
    return bertc_rt_error_set(exec->err, status, "%s: the thread pool is busy with another run", kernel);
  return BERTC_OK;
}

/// How bertc_k_linear and bertc_k_linear_bf16 cut one GEMM into work items
/// for the pool: item i is register tile (i % mTiles) of M (mr rows) on
/// column group (i / mTiles), groupCols columns from group * groupCols. N is
/// split only when M has too few tiles to go round: with parallel_for's
/// near-equal contiguous chunks, kItemsPerWorker items each keeps the
/// imbalance under 25%.
struct LinearSplit {
  static constexpr int kItemsPerWorker = 4;
  int M = 0, mr = 1, mTiles = 0, N = 0, groupCols = 1, groups = 0;

  LinearSplit() = default;
  /// unitCols: what a group's width is a multiple of (the packed panel
  /// width, and the kernel's tile width: a group starts on a panel).
  LinearSplit(int64_t m, int rows, int64_t n, int unitCols, int workers)
      : M(static_cast<int>(m)), mr(rows), mTiles((M + rows - 1) / rows), N(static_cast<int>(n)) {
    const int units = (N + unitCols - 1) / unitCols;
    const int want = kItemsPerWorker * workers;
    const int split = workers > 1 && mTiles < want ? std::min(units, (want + mTiles - 1) / mTiles) : 1;
    const int unitsPerGroup = (units + split - 1) / split;
    groupCols = unitsPerGroup * unitCols;
    groups = (units + unitsPerGroup - 1) / unitsPerGroup;
  }

  size_t items() const { return static_cast<size_t>(mTiles) * groups; }

  /// Calls run(m0, m1, n0, n1), rows [m0, m1) of columns [n0, n1), once per
  /// run of consecutive tiles of one group among items [begin, end): one
  /// kernel call per run keeps the kernel's MC blocking.
  template <class Run>
  void forEachRun(size_t begin, size_t end, Run&& run) const {
    for (size_t i = begin; i < end;) {
      const int group = static_cast<int>(i / mTiles);
      const int t0 = static_cast<int>(i % mTiles);
      const int t1 = static_cast<int>(std::min<size_t>(mTiles, t0 + (end - i)));
      const int n0 = group * groupCols;
      run(t0 * mr, std::min(t1 * mr, M), n0, std::min(N, n0 + groupCols));
      i += static_cast<size_t>(t1 - t0);
    }
  }
};

/// BERTC_OK when `epilogue` is a known code and its bias (and residual) are
/// given; else the error, recorded for `kernel`.
inline int checkLinearEpilogue(const bertc_k_exec* exec, int epilogue, const float* bias, const float* residual,
                               const char* kernel) {
  if (epilogue < BERTC_K_EPI_NONE || epilogue > BERTC_K_EPI_BIAS_RELU)
    return bertc_rt_error_set(exec->err, BERTC_ERR_INVALID, "%s: unknown epilogue %d", kernel, epilogue);
  if ((epilogue != BERTC_K_EPI_NONE && !bias) || (epilogue == BERTC_K_EPI_BIAS_RESIDUAL && !residual))
    return bertc_rt_error_set(exec->err, BERTC_ERR_NULL_ARG, "%s: epilogue %d without its bias or residual", kernel,
                              epilogue);
  return BERTC_OK;
}

// The bf16 GEMM's tiers in this library (linear_bf16_*.cpp, each built with
// its tier's flags on top of -march, so both libraries have all three);
// linear_bf16.cpp calls the one the CPU runs.
void linearBf16RowsAvx2(const GemmBf16Args& args, int m0, int m1);
void linearBf16RowsAvx512(const GemmBf16Args& args, int m0, int m1);
void linearBf16RowsAvx512Bf16(const GemmBf16Args& args, int m0, int m1);

}  // namespace bertc::cpu::libmodel
