// activation.cuh - bias + activation and residual adds on packed rows: the
// GEMM epilogues cuBLASLt does not have (exact erf GELU, tanh) and the
// elementwise ops left between kernels. Computed in fp32, pairs at a time
// when the width is even.
#pragma once

#include "common.cuh"

namespace bertc {

/// Activations (as the CPU target's BERTC_K_EPI_*; BIAS = none).
enum { ACT_NONE = 0, ACT_GELU = 1, ACT_GELU_TANH = 2, ACT_TANH = 3, ACT_RELU = 4 };

template <int ACT>
__device__ __forceinline__ float activate(float y) {
  if constexpr (ACT == ACT_GELU) return 0.5f * y * (1.f + erff(y * 0.70710678118654752f));
  else if constexpr (ACT == ACT_GELU_TANH)
    return 0.5f * y * (1.f + tanhf(0.79788456080286536f * (y + 0.044715f * y * y * y)));
  else if constexpr (ACT == ACT_TANH) return tanhf(y);
  else if constexpr (ACT == ACT_RELU) return fmaxf(y, 0.f);
  else return y;
}

/// Y[r, :] = act(X[r, :] + bias) for r < *num_rows (bias NULL: none); Y may
/// be X. Grid-stride over the rows, THREADS threads along a row.
template <int N, int ACT, int THREADS>
__device__ __forceinline__ void bias_act(const store_t* x, i64 ldx, const store_t* bias, store_t* y, i64 ldy,
                                         const int* num_rows) {
  const int rows = *num_rows;
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const store_t* xr = x + r * ldx;
    store_t* yr = y + r * ldy;
    if constexpr (N % 2 == 0) {
      for (int i = threadIdx.x; i < N / 2; i += THREADS) {
        float2 v = load2(xr, i);
        if (bias) {
          const float2 b = load2(bias, i);
          v.x += b.x;
          v.y += b.y;
        }
        store2(yr, i, activate<ACT>(v.x), activate<ACT>(v.y));
      }
    } else {
      for (int i = threadIdx.x; i < N; i += THREADS)
        yr[i] = from_f32(activate<ACT>(to_f32(xr[i]) + (bias ? to_f32(bias[i]) : 0.f)));
    }
  }
}

/// Y[r, :] = X[r, :] + Z[r, :] for r < *num_rows; Z is one broadcast row
/// when ldz == 0. Y may be X or Z.
template <int N, int THREADS>
__device__ __forceinline__ void add_rows(const store_t* x, i64 ldx, const store_t* z, i64 ldz, store_t* y, i64 ldy,
                                         const int* num_rows) {
  const int rows = *num_rows;
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const store_t* xr = x + r * ldx;
    const store_t* zr = z + r * ldz;
    store_t* yr = y + r * ldy;
    if constexpr (N % 2 == 0) {
      for (int i = threadIdx.x; i < N / 2; i += THREADS) {
        const float2 a = load2(xr, i), b = load2(zr, i);
        store2(yr, i, a.x + b.x, a.y + b.y);
      }
    } else {
      for (int i = threadIdx.x; i < N; i += THREADS) yr[i] = from_f32(to_f32(xr[i]) + to_f32(zr[i]));
    }
  }
}

}  // namespace bertc
