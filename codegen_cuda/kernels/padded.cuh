// padded.cuh - the small integer arithmetic exporters leave on [batch, seq]
// tensors before the embeddings (position ids from the mask, mask casts),
// with the semantics of bertc_k_elementwise and bertc_k_cumsum
// (codegen_cpu/libmodel/pack.cpp). Not specialised: the op and dtypes are
// arguments, as these run once per call on batch*seq elements.
#pragma once

#include "common.cuh"

namespace bertc {

enum { EW_ADD, EW_SUB, EW_MUL, EW_DIV, EW_EQUAL, EW_LESS, EW_GREATER, EW_AND, EW_OR, EW_NOT, EW_CAST, EW_WHERE };

/// Whether V is the floating domain (double) rather than i64.
template <class V>
constexpr bool is_real = false;
template <>
constexpr bool is_real<double> = true;

template <class V>
__device__ __forceinline__ V load_as(const void* p, int dt, i64 i) {
  if constexpr (is_real<V>) return load_double(p, dt, i);
  else return load_int(p, dt, i);
}

template <class V>
__device__ __forceinline__ void store_as(void* dst, int dt, i64 i, V v) {
  switch (dt) {
    case DT_FLOAT: static_cast<float*>(dst)[i] = static_cast<float>(v); break;
    case DT_DOUBLE: static_cast<double*>(dst)[i] = static_cast<double>(v); break;
    case DT_BOOL: static_cast<unsigned char*>(dst)[i] = v != V(0); break;
    case DT_UINT8: static_cast<unsigned char*>(dst)[i] = static_cast<unsigned char>(v); break;
    case DT_INT8: static_cast<signed char*>(dst)[i] = static_cast<signed char>(v); break;
    case DT_INT16: static_cast<short*>(dst)[i] = static_cast<short>(v); break;
    case DT_INT32: static_cast<int*>(dst)[i] = static_cast<int>(v); break;
    case DT_INT64: static_cast<i64*>(dst)[i] = static_cast<i64>(v); break;
    default: break;
  }
}

/// One op computed in V: i64 when every value operand is an integer or bool,
/// double otherwise. Integer division by zero gives 0, as on the CPU target.
template <class V>
__device__ __forceinline__ V apply_op(int op, V a, V b, bool cond) {
  switch (op) {
    case EW_ADD: return a + b;
    case EW_SUB: return a - b;
    case EW_MUL: return a * b;
    case EW_DIV: return (!is_real<V> && b == V(0)) ? V(0) : a / b;
    case EW_EQUAL: return a == b;
    case EW_LESS: return a < b;
    case EW_GREATER: return a > b;
    case EW_AND: return a != V(0) && b != V(0);
    case EW_OR: return a != V(0) || b != V(0);
    case EW_NOT: return a == V(0);
    case EW_CAST: return a;
    case EW_WHERE: return cond ? a : b;
    default: return V(0);
  }
}

/// dst[i] = op(a, b[, c]) for i < n; an operand with one element broadcasts.
/// Where is c = a ? b : c as bertc_k_elementwise (a the condition).
template <class V>
__device__ __forceinline__ void elementwise_in(int op, void* dst, int dst_dt, i64 n, const void* a, int a_dt,
                                               i64 a_n, const void* b, int b_dt, i64 b_n, const void* c, int c_dt,
                                               i64 c_n) {
  for (i64 i = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<i64>(gridDim.x) * blockDim.x) {
    V r;
    if (op == EW_WHERE)
      r = apply_op<V>(op, load_as<V>(b, b_dt, b_n == 1 ? 0 : i), load_as<V>(c, c_dt, c_n == 1 ? 0 : i),
                      load_truth(a, a_dt, a_n == 1 ? 0 : i));
    else
      r = apply_op<V>(op, load_as<V>(a, a_dt, a_n == 1 ? 0 : i), b ? load_as<V>(b, b_dt, b_n == 1 ? 0 : i) : V(0),
                      false);
    store_as<V>(dst, dst_dt, i, r);
  }
}

__device__ __forceinline__ void elementwise(int op, void* dst, int dst_dt, i64 n, const void* a, int a_dt, i64 a_n,
                                            const void* b, int b_dt, i64 b_n, const void* c, int c_dt, i64 c_n) {
  // Where's condition is not a value: its dtype does not choose the domain.
  const bool real = op == EW_WHERE ? is_float_dtype(b_dt) || is_float_dtype(c_dt)
                                   : is_float_dtype(a_dt) || (b && is_float_dtype(b_dt));
  if (real) elementwise_in<double>(op, dst, dst_dt, n, a, a_dt, a_n, b, b_dt, b_n, c, c_dt, c_n);
  else elementwise_in<i64>(op, dst, dst_dt, n, a, a_dt, a_n, b, b_dt, b_n, c, c_dt, c_n);
}

/// Inclusive or exclusive, forward or reverse running sum along the last
/// axis of [rows, cols]: one thread per row (rows = batch, cols = seq <= a
/// few thousand). dst may be src.
template <class V>
__device__ __forceinline__ void cumsum_in(void* dst, const void* src, int dt, i64 rows, i64 cols, int exclusive,
                                          int reverse) {
  const i64 r = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x;
  if (r >= rows) return;
  V sum = V(0);
  for (i64 k = 0; k < cols; ++k) {
    const i64 i = r * cols + (reverse ? cols - 1 - k : k);
    const V x = load_as<V>(src, dt, i);  // read before dst (which may be src) is written
    if (!exclusive) sum += x;
    store_as<V>(dst, dt, i, sum);
    if (exclusive) sum += x;
  }
}

__device__ __forceinline__ void cumsum(void* dst, const void* src, int dt, i64 rows, i64 cols, int exclusive,
                                       int reverse) {
  if (is_float_dtype(dt)) cumsum_in<double>(dst, src, dt, rows, cols, exclusive, reverse);
  else cumsum_in<i64>(dst, src, dt, rows, cols, exclusive, reverse);
}

}  // namespace bertc
