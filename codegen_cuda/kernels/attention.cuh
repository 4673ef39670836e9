// attention.cuh - the multi-head attention core over packed sequences:
// context = softmax(Q K^T * scale) V for one (sequence, head, query tile)
// per block, as bertc_k_attention on the CPU target. qkv rows are [T, 3H]
// (Q | K | V column blocks, head h at columns h*D .. h*D + D of each);
// sequence b is rows seq_start[b] .. seq_start[b+1], every key real (padding
// was packed away, which is the key-padding mask). The softmax is online
// (running max and sum in fp32, as flash attention): keys stream through
// shared memory in tiles of KT, so any length works at fixed shared memory;
// the position table bounds it (512 for BERT).
//
// This is the CUDA-core version: each warp owns QPW queries, a lane owns key
// j of the tile for the scores and head dims lane, lane + 32, ... for the
// output. A tensor-core (mma) version is for a session with a GPU to time.
#pragma once

#include "common.cuh"

namespace bertc {

constexpr int ATTN_WARPS = 4;  ///< warps per block
constexpr int ATTN_QPW = 4;    ///< queries per warp
constexpr int ATTN_QTILE = ATTN_WARPS * ATTN_QPW;  ///< queries per block
constexpr int ATTN_KT = 32;    ///< keys per tile: one per lane

/// E = 2: the pair at p (pair-aligned) into v[0..1]; E = 1: one element.
template <int E>
__device__ __forceinline__ void load_pair_or_one(const store_t* p, float* v) {
  if constexpr (E == 2) {
    const float2 f = to_f32x2(*reinterpret_cast<const store2_t*>(p));
    v[0] = f.x;
    v[1] = f.y;
  } else {
    v[0] = to_f32(*p);
  }
}

/// Grid (ceil(max_seq / ATTN_QTILE), HEADS, batch), ATTN_WARPS * 32 threads.
/// scale is the model's (1/sqrt(D) unless the export says otherwise).
template <int D, int HEADS>
__device__ __forceinline__ void attention(const store_t* qkv, i64 ldqkv, store_t* context, i64 ldctx,
                                          const int* seq_start, float scale) {
  static_assert(D >= 1 && D <= 128, "head size: the generator checks 1..128");
  constexpr int H = D * HEADS;
  constexpr int DPL = (D + 31) / 32;  // output dims per lane
  constexpr int LD = D + 1;           // padded shared row: lanes reading key j hit distinct banks
  __shared__ float q_s[ATTN_QTILE][D];
  __shared__ float k_s[ATTN_KT][LD];
  __shared__ float v_s[ATTN_KT][LD];

  const int b = blockIdx.z, h = blockIdx.y;
  const int first = seq_start[b], len = seq_start[b + 1] - first;
  const int q0 = blockIdx.x * ATTN_QTILE;
  if (q0 >= len) return;  // uniform: the whole block leaves
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  constexpr int THREADS = ATTN_WARPS * 32;
  // log2(e) folded into the scale: exp2f of the scores.
  const float scale2 = scale * 1.4426950408889634f;

  // Q of the tile, pre-scaled. Rows of qkv are pair-aligned (3H, H and h*D
  // are even when D is), so even head sizes load half2/float2 pairs.
  constexpr int E = D % 2 == 0 ? 2 : 1;
  for (int i = threadIdx.x; i < ATTN_QTILE * D / E; i += THREADS) {
    const int qi = i / (D / E), d = i % (D / E) * E;
    float v[2] = {0.f, 0.f};
    if (q0 + qi < len) load_pair_or_one<E>(qkv + (first + q0 + qi) * ldqkv + h * D + d, v);
#pragma unroll
    for (int e = 0; e < E; ++e) q_s[qi][d + e] = v[e] * scale2;
  }

  float m[ATTN_QPW], l[ATTN_QPW], acc[ATTN_QPW][DPL];
#pragma unroll
  for (int qq = 0; qq < ATTN_QPW; ++qq) {
    m[qq] = neg_inf();
    l[qq] = 0.f;
#pragma unroll
    for (int k = 0; k < DPL; ++k) acc[qq][k] = 0.f;
  }

  for (int k0 = 0; k0 < len; k0 += ATTN_KT) {
    __syncthreads();  // the previous tile is consumed (and q_s written, the first time)
    for (int i = threadIdx.x; i < ATTN_KT * D / E; i += THREADS) {
      const int j = i / (D / E), d = i % (D / E) * E;
      float k[2] = {0.f, 0.f}, v[2] = {0.f, 0.f};
      if (k0 + j < len) {
        const store_t* row = qkv + (first + k0 + j) * ldqkv + h * D + d;
        load_pair_or_one<E>(row + H, k);
        load_pair_or_one<E>(row + 2 * H, v);
      }
#pragma unroll
      for (int e = 0; e < E; ++e) {
        k_s[j][d + e] = k[e];
        v_s[j][d + e] = v[e];
      }
    }
    __syncthreads();
    const bool key_real = k0 + lane < len;
#pragma unroll
    for (int qq = 0; qq < ATTN_QPW; ++qq) {
      const int qi = warp * ATTN_QPW + qq;
      float s = 0.f;
#pragma unroll 8
      for (int d = 0; d < D; ++d) s += q_s[qi][d] * k_s[lane][d];
      s = key_real ? s : neg_inf();
      const float m_new = fmaxf(m[qq], warp_max(s));  // finite: key k0 is real
      const float p = key_real ? exp2f(s - m_new) : 0.f;
      const float correction = exp2f(m[qq] - m_new);  // 0 on the first tile
      l[qq] = l[qq] * correction + warp_sum(p);
      m[qq] = m_new;
#pragma unroll
      for (int k = 0; k < DPL; ++k) acc[qq][k] *= correction;
      const int keys = min(ATTN_KT, len - k0);
      for (int j = 0; j < keys; ++j) {
        const float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
        for (int k = 0; k < DPL; ++k) {
          const int d = lane + 32 * k;
          if (d < D) acc[qq][k] += pj * v_s[j][d];
        }
      }
    }
  }

#pragma unroll
  for (int qq = 0; qq < ATTN_QPW; ++qq) {
    const int q = q0 + warp * ATTN_QPW + qq;
    if (q >= len) break;
    const float inv = 1.f / l[qq];
#pragma unroll
    for (int k = 0; k < DPL; ++k) {
      const int d = lane + 32 * k;
      if (d < D) context[(first + q) * ldctx + h * D + d] = from_f32(acc[qq][k] * inv);
    }
  }
}

}  // namespace bertc
