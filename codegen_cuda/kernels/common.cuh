// common.cuh - what every bertc CUDA kernel shares: the storage type, fp16
// conversions, pair (half2 / float2) loads, warp and block sums.
//
// The generated program is these headers (kernels/*.cuh, embedded in bertc
// at build time), then a few #defines and one extern "C" __global__ entry
// point per specialised kernel (codegen_cuda/generate.cpp). It includes no
// toolkit header: fp16 is IEEE bits in an unsigned short converted by the
// cvt instruction, so bertc needs only libnvrtc to compile a model, not the
// CUDA include directory.
//
// Names: snake_case, like the C kernels of codegen_cpu/libmodel/bertc_k.h
// that these mirror (the C++ code of bertc is camelCase).
//
// Storage. BERTC_FP16 = 1 (cuda-fp16): activations and weights are half,
// every sum, LayerNorm and softmax statistic is fp32. BERTC_FP16 = 0
// (cuda-fp32): float throughout.
#pragma once

#ifndef BERTC_FP16
#error "the generated program defines BERTC_FP16 (0 or 1) before the kernels"
#endif

typedef long long i64;

namespace bertc {

#if BERTC_FP16
typedef unsigned short store_t;  ///< one IEEE half
typedef unsigned int store2_t;   ///< two halves, low one first (half2)

__device__ __forceinline__ float to_f32(store_t h) {
  float f;
  asm("{ .reg .f16 t; mov.b16 t, %1; cvt.f32.f16 %0, t; }" : "=f"(f) : "h"(h));
  return f;
}
__device__ __forceinline__ store_t from_f32(float f) {
  store_t h;
  asm("{ .reg .f16 t; cvt.rn.f16.f32 t, %1; mov.b16 %0, t; }" : "=h"(h) : "f"(f));
  return h;
}
__device__ __forceinline__ float2 to_f32x2(store2_t v) {
  return make_float2(to_f32(static_cast<store_t>(v & 0xffffu)), to_f32(static_cast<store_t>(v >> 16)));
}
__device__ __forceinline__ store2_t from_f32x2(float a, float b) {
  return static_cast<store2_t>(from_f32(a)) | (static_cast<store2_t>(from_f32(b)) << 16);
}
#else
typedef float store_t;
typedef float2 store2_t;

__device__ __forceinline__ float to_f32(store_t x) { return x; }
__device__ __forceinline__ store_t from_f32(float x) { return x; }
__device__ __forceinline__ float2 to_f32x2(store2_t v) { return v; }
__device__ __forceinline__ store2_t from_f32x2(float a, float b) { return make_float2(a, b); }
#endif

/// Pair i of a row (elements 2i, 2i+1) as floats: one 4-byte (fp16) or
/// 8-byte (fp32) load. Rows are pair-aligned: the width is even and every
/// buffer starts 16-byte aligned (the generator takes this path only then).
__device__ __forceinline__ float2 load2(const store_t* row, int i) {
  return to_f32x2(reinterpret_cast<const store2_t*>(row)[i]);
}
__device__ __forceinline__ void store2(store_t* row, int i, float a, float b) {
  reinterpret_cast<store2_t*>(row)[i] = from_f32x2(a, b);
}

/// -infinity (no math.h here).
__device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/// The sum of v over a block of THREADS threads (a multiple of 32), in every
/// thread. `scratch` holds THREADS / 32 floats; the call ends synchronised so
/// scratch can be reused at once.
template <int THREADS>
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  static_assert(THREADS % 32 == 0 && THREADS <= 1024, "block size");
  v = warp_sum(v);
  if (THREADS == 32) return v;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0.f;
#pragma unroll
  for (int w = 0; w < THREADS / 32; ++w) total += scratch[w];
  __syncthreads();
  return total;
}

/// ONNX TensorProto dtype codes of the integer/bool tensors the padded-layout
/// kernels read (as bertc_k.h).
enum { DT_FLOAT = 1, DT_UINT8 = 2, DT_INT8 = 3, DT_INT16 = 5, DT_INT32 = 6, DT_INT64 = 7, DT_BOOL = 9, DT_DOUBLE = 11 };

__device__ __forceinline__ bool is_float_dtype(int dt) { return dt == DT_FLOAT || dt == DT_DOUBLE; }

/// Element i of a tensor of dtype dt as int64 (floats truncate); an unknown
/// dtype reads as 0, never out of bounds.
__device__ __forceinline__ i64 load_int(const void* p, int dt, i64 i) {
  switch (dt) {
    case DT_FLOAT: return static_cast<i64>(static_cast<const float*>(p)[i]);
    case DT_DOUBLE: return static_cast<i64>(static_cast<const double*>(p)[i]);
    case DT_BOOL:
    case DT_UINT8: return static_cast<const unsigned char*>(p)[i];
    case DT_INT8: return static_cast<const signed char*>(p)[i];
    case DT_INT16: return static_cast<const short*>(p)[i];
    case DT_INT32: return static_cast<const int*>(p)[i];
    case DT_INT64: return static_cast<const i64*>(p)[i];
    default: return 0;
  }
}
__device__ __forceinline__ double load_double(const void* p, int dt, i64 i) {
  switch (dt) {
    case DT_FLOAT: return static_cast<const float*>(p)[i];
    case DT_DOUBLE: return static_cast<const double*>(p)[i];
    default: return static_cast<double>(load_int(p, dt, i));
  }
}
__device__ __forceinline__ bool load_truth(const void* p, int dt, i64 i) {
  return is_float_dtype(dt) ? load_double(p, dt, i) != 0.0 : load_int(p, dt, i) != 0;
}

}  // namespace bertc
