// tokens.cuh - padding-free execution: the packing of real tokens and the
// moves between the caller's [batch, seq] layout and the packed one.
//
// As on the CPU target (codegen_cpu/libmodel/bertc_k.h): activations of
// shape [batch, seq, N] hold only the tokens whose attention-mask entry is
// nonzero, in (b, s) order, as T <= batch*seq rows of N. The packing lives in
// device memory: tok[t] = b*seq + s of packed row t, row_of[b*seq + s] = its
// row or -1, seq_start[b] .. seq_start[b+1] = sequence b's rows, and
// seq_start[batch] = T. T is known only on the device, so the row kernels
// are launched over the bound batch*seq and read T from `num_rows`
// (&seq_start[batch]): one launch shape per (batch, seq), which a CUDA graph
// can capture.
#pragma once

#include "common.cuh"

namespace bertc {

/// One block of PACK_THREADS computes the packing (seq_start has batch + 2
/// entries: the last is batch itself, the row count of [batch, N] values) from a [batch, seq] mask of
/// dtype mask_dt (NULL: every token real). Each thread counts a contiguous
/// chunk, the block scans the counts, then each thread writes its chunk.
constexpr int PACK_THREADS = 1024;

__device__ __forceinline__ void pack(const void* mask, int mask_dt, int batch, int seq, int* tok, int* row_of,
                                     int* seq_start) {
  __shared__ int offsets[PACK_THREADS];
  const int n = batch * seq;
  const int chunk = (n + PACK_THREADS - 1) / PACK_THREADS;
  const int begin = min(n, static_cast<int>(threadIdx.x) * chunk), end = min(n, begin + chunk);
  int count = 0;
  for (int i = begin; i < end; ++i) count += mask == nullptr || load_truth(mask, mask_dt, i);
  offsets[threadIdx.x] = count;
  __syncthreads();
  // Inclusive Hillis-Steele scan over the per-thread counts.
  for (int d = 1; d < PACK_THREADS; d <<= 1) {
    const int add = threadIdx.x >= d ? offsets[threadIdx.x - d] : 0;
    __syncthreads();
    offsets[threadIdx.x] += add;
    __syncthreads();
  }
  int row = offsets[threadIdx.x] - count;
  for (int i = begin; i < end; ++i) {
    if (i % seq == 0) seq_start[i / seq] = row;
    if (mask == nullptr || load_truth(mask, mask_dt, i)) {
      tok[row] = i;
      row_of[i] = row++;
    } else {
      row_of[i] = -1;
    }
  }
  if (threadIdx.x == PACK_THREADS - 1) {
    seq_start[batch] = offsets[PACK_THREADS - 1];
    seq_start[batch + 1] = batch;  // the row count of [batch, N] values, for the row kernels
  }
}

/// How gather_ids finds token t's value (as bertc_k_gather_ids, _row, and
/// bertc_k_positions).
enum { IDS_FULL = 0, IDS_ROW = 1, IDS_POSITIONS = 2 };

/// dst[t] = src[tok[t]] (FULL, a [batch, seq] tensor), src[tok[t] % seq]
/// (ROW, a [1, seq] row), or tok[t] % seq (POSITIONS); int64 from any integer
/// dtype. Grid-stride over t < T.
__device__ __forceinline__ void gather_ids(const void* src, int src_dt, int mode, const int* tok,
                                           const int* num_rows, int seq, i64* dst) {
  const int T = *num_rows;
  for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < T; t += gridDim.x * blockDim.x) {
    const int p = tok[t];
    dst[t] = mode == IDS_POSITIONS ? p % seq : load_int(src, src_dt, mode == IDS_ROW ? p % seq : p);
  }
}

/// out[b, s, :] (float) = packed row row_of[b*seq + s], or zeros for a padded
/// token. One block per (b, s); N elements a row.
template <int N, int THREADS>
__device__ __forceinline__ void scatter_rows(const store_t* packed, const int* row_of, float* out) {
  const int slot = blockIdx.x;
  const int row = row_of[slot];
  float* dst = out + static_cast<i64>(slot) * N;
  const store_t* src = packed + static_cast<i64>(row) * N;
  if constexpr (N % 2 == 0) {
    for (int i = threadIdx.x; i < N / 2; i += THREADS) {
      const float2 v = row >= 0 ? load2(src, i) : make_float2(0.f, 0.f);
      reinterpret_cast<float2*>(dst)[i] = v;
    }
  } else {
    for (int i = threadIdx.x; i < N; i += THREADS) dst[i] = row >= 0 ? to_f32(src[i]) : 0.f;
  }
}

/// out[b, :] = the packed row of token (b, index), or zeros when it is
/// padding: Gather(X, index, axis=1) on the token layout (the pooler's first
/// token). One block per sequence.
template <int N, int THREADS>
__device__ __forceinline__ void gather_token(const store_t* packed, const int* row_of, int seq, int index,
                                             store_t* out) {
  const int b = blockIdx.x;
  const int row = row_of[b * seq + index];
  for (int i = threadIdx.x; i < N; i += THREADS)
    out[static_cast<i64>(b) * N + i] = row >= 0 ? packed[static_cast<i64>(row) * N + i] : from_f32(0.f);
}

/// out[r, :] (float) = X[r, :]: a [batch, N] result in the storage type
/// handed to the caller as float. One block per row.
template <int N, int THREADS>
__device__ __forceinline__ void to_float(const store_t* x, float* out) {
  const i64 r = blockIdx.x;
  for (int i = threadIdx.x; i < N; i += THREADS) out[r * N + i] = to_f32(x[r * N + i]);
}

/// out[b, :] = the sum of sequence b's packed rows / max(row count, epsilon):
/// MeanPool with the packing mask as its 0/1 weights, summed in fp32. Grid
/// (batch, ceil(N / THREADS)); each thread owns one column.
template <int N, int THREADS>
__device__ __forceinline__ void mean_pool(const store_t* packed, const int* seq_start, float epsilon,
                                          store_t* out) {
  const int b = blockIdx.x;
  const int col = blockIdx.y * THREADS + threadIdx.x;
  if (col >= N) return;
  const int first = seq_start[b], last = seq_start[b + 1];
  float sum = 0.f;
  for (int r = first; r < last; ++r) sum += to_f32(packed[static_cast<i64>(r) * N + col]);
  out[static_cast<i64>(b) * N + col] = from_f32(sum / fmaxf(static_cast<float>(last - first), epsilon));
}

}  // namespace bertc
