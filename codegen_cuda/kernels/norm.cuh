// norm.cuh - LayerNorm, SkipLayerNorm and EmbedLayerNorm over packed rows of
// H, one block per row, the row in registers: mean, then the variance of the
// centred values (two passes over registers, not E[x^2] - mean^2), both fp32
// whatever the storage type.
#pragma once

#include "common.cuh"

namespace bertc {

/// A row of H held by THREADS threads as items of E elements (E = 2, a
/// half2/float2 pair, when H is even), PER items a thread.
template <int H, int THREADS>
struct RowShape {
  static constexpr int E = H % 2 == 0 ? 2 : 1;
  static constexpr int ITEMS = H / E;
  static constexpr int PER = (ITEMS + THREADS - 1) / THREADS;
};

template <int E>
__device__ __forceinline__ void load_item(const store_t* row, int i, float* v) {
  if constexpr (E == 2) {
    const float2 p = load2(row, i);
    v[0] = p.x;
    v[1] = p.y;
  } else {
    v[0] = to_f32(row[i]);
  }
}

/// Normalises the row in v (fp32), then y = v * gamma + beta (beta NULL: 0).
template <int H, int THREADS>
__device__ __forceinline__ void normalize_store(float (*v)[2], const store_t* gamma, const store_t* beta, store_t* y,
                                                float epsilon) {
  using S = RowShape<H, THREADS>;
  __shared__ float scratch[THREADS / 32];
  float sum = 0.f;
#pragma unroll
  for (int k = 0; k < S::PER; ++k)
#pragma unroll
    for (int e = 0; e < S::E; ++e) sum += v[k][e];
  const float mean = block_sum<THREADS>(sum, scratch) * (1.f / H);
  float sq = 0.f;
#pragma unroll
  for (int k = 0; k < S::PER; ++k) {
    const int i = threadIdx.x + k * THREADS;
    if (i < S::ITEMS)
#pragma unroll
      for (int e = 0; e < S::E; ++e) {
        v[k][e] -= mean;
        sq += v[k][e] * v[k][e];
      }
  }
  const float rstd = rsqrtf(block_sum<THREADS>(sq, scratch) * (1.f / H) + epsilon);
#pragma unroll
  for (int k = 0; k < S::PER; ++k) {
    const int i = threadIdx.x + k * THREADS;
    if (i >= S::ITEMS) break;
    float g[2], b[2] = {0.f, 0.f};
    load_item<S::E>(gamma, i, g);
    if (beta) load_item<S::E>(beta, i, b);
    if constexpr (S::E == 2) store2(y, i, v[k][0] * rstd * g[0] + b[0], v[k][1] * rstd * g[1] + b[1]);
    else y[i] = from_f32(v[k][0] * rstd * g[0] + b[0]);
  }
}

/// Y[r] = LayerNorm(X[r] (+ skip[r]) (+ bias)) * gamma (+ beta) for each
/// packed row r < *num_rows: LayerNorm and SkipLayerNorm (skip, bias, beta
/// may be NULL). Y may be X. Grid-stride over rows.
template <int H, int THREADS>
__device__ __forceinline__ void layernorm(const store_t* x, i64 ldx, const store_t* skip, i64 ldskip,
                                          const store_t* bias, const store_t* gamma, const store_t* beta, store_t* y,
                                          i64 ldy, const int* num_rows, float epsilon) {
  using S = RowShape<H, THREADS>;
  const int rows = *num_rows;
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    float v[S::PER][2] = {};
#pragma unroll
    for (int k = 0; k < S::PER; ++k) {
      const int i = threadIdx.x + k * THREADS;
      if (i >= S::ITEMS) break;
      float t[2];
      load_item<S::E>(x + r * ldx, i, v[k]);
      if (skip) {
        load_item<S::E>(skip + r * ldskip, i, t);
        for (int e = 0; e < S::E; ++e) v[k][e] += t[e];
      }
      if (bias) {
        load_item<S::E>(bias, i, t);
        for (int e = 0; e < S::E; ++e) v[k][e] += t[e];
      }
    }
    normalize_store<H, THREADS>(v, gamma, beta, y + r * ldy, epsilon);
  }
}

/// Embeddings + LayerNorm of the packed tokens: row t = LayerNorm(word[ids[t]]
/// + pos_table[pos[t]] (+ seg_table[seg[t]])) * gamma + beta. ids, seg, pos
/// are int64 [T] gathered by gather_ids; seg and seg_table may be NULL. An id
/// outside its table writes a zero row and records the smallest such t in
/// *bad_token (the host sets it to INT_MAX before the run and reports the
/// batch row and position from tok, as the CPU target does).
template <int H, int THREADS>
__device__ __forceinline__ void embed_layernorm(const i64* ids, const i64* seg, const i64* pos, const store_t* word,
                                                i64 vocab, const store_t* pos_table, i64 positions,
                                                const store_t* seg_table, i64 types, const store_t* gamma,
                                                const store_t* beta, store_t* y, const int* num_rows, float epsilon,
                                                int* bad_token) {
  using S = RowShape<H, THREADS>;
  const int rows = *num_rows;
  for (int t = blockIdx.x; t < rows; t += gridDim.x) {
    const i64 id = ids[t], p = pos[t], sg = seg && seg_table ? seg[t] : 0;
    if (id < 0 || id >= vocab || p < 0 || p >= positions || sg < 0 || (seg_table && sg >= types)) {
      if (threadIdx.x == 0) atomicMin(bad_token, t);
      for (int i = threadIdx.x; i < H; i += THREADS) y[static_cast<i64>(t) * H + i] = from_f32(0.f);
      continue;  // uniform across the block: every thread read the same ids
    }
    float v[S::PER][2] = {};
#pragma unroll
    for (int k = 0; k < S::PER; ++k) {
      const int i = threadIdx.x + k * THREADS;
      if (i >= S::ITEMS) break;
      float a[2], b[2];
      load_item<S::E>(word + id * H, i, v[k]);
      load_item<S::E>(pos_table + p * H, i, a);
      for (int e = 0; e < S::E; ++e) v[k][e] += a[e];
      if (seg && seg_table) {
        load_item<S::E>(seg_table + sg * H, i, b);
        for (int e = 0; e < S::E; ++e) v[k][e] += b[e];
      }
    }
    normalize_store<H, THREADS>(v, gamma, beta, y + static_cast<i64>(t) * H, epsilon);
  }
}

}  // namespace bertc
