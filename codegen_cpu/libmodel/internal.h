// What the model library's sources share: the ISA this copy is built for,
// ONNX dtype access, and running a kernel on the context's pool.
//
// The library is compiled once per ISA with -march (CMakeLists.txt), so the
// ISA is a compile-time constant here, not a run-time dispatch as in
// kernels/gemm.cpp: each copy is linked only into code built for its ISA.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "bertc_k.h"
#include "gemm.h"  // Isa, microkernelRows

namespace bertc::cpu::libmodel {

#if defined(__AVX512F__)
constexpr Isa kIsa = Isa::Avx512;
#elif defined(__AVX2__) && defined(__FMA__)
constexpr Isa kIsa = Isa::Avx2;
#else
#error "the model library is built with -march=x86-64-v3 or -march=x86-64-v4"
#endif

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

}  // namespace bertc::cpu::libmodel
