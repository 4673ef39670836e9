// EmbedLayerNorm (ops.def) over a range of tokens of a [batch, seq] input:
//
//   y[t] = LayerNorm(Word[ids[t]] + Pos[p(t)] + Seg[segIds[t]]) * gamma + beta
//
// with p(t) = t % seq unless position ids are given. Every index is checked
// against its table before any row is read or written: a bad id returns an
// EmbedError naming the token and leaves Y untouched for the whole range.
// The normalisation is layernorm.h's (fp32, two-pass).
#pragma once

#include <cstddef>
#include <cstdint>

#include "gemm.h"  // Isa

namespace bertc::cpu {

struct EmbedLayerNormArgs {
  const std::int64_t* ids = nullptr;     ///< [tokens]
  const std::int64_t* segIds = nullptr;  ///< optional [tokens]; given iff seg is
  const std::int64_t* posIds = nullptr;  ///< optional: [tokens], or [seq] with posBroadcast
  bool posBroadcast = false;             ///< posIds is one [seq] row for every sequence
  const float* word = nullptr;           ///< [vocab, H]
  std::int64_t vocab = 0;
  const float* pos = nullptr;            ///< [positions, H]
  std::int64_t positions = 0;
  const float* seg = nullptr;            ///< optional [types, H]
  std::int64_t types = 0;
  const float* gamma = nullptr;          ///< [H]
  const float* beta = nullptr;           ///< optional [H]
  float* Y = nullptr;                    ///< [tokens, H] with leading dimension ldy
  std::ptrdiff_t ldy = 0;
  int H = 0;
  int seq = 0;                           ///< tokens per sequence (for default and broadcast positions)
  int tokens = 0;                        ///< batch * seq
  float epsilon = 1e-12f;
};

/// Which index was out of its table, at which token (kind None: success).
struct EmbedError {
  enum Kind { None, InputId, PositionId, SegmentId } kind = None;
  int token = -1;
  std::int64_t value = 0;
  explicit operator bool() const { return kind != None; }
};

/// Embeds and normalises tokens [t0, t1). Calls on disjoint ranges may run at once.
EmbedError embedLayerNormRows(const EmbedLayerNormArgs& args, int t0, int t1, Isa isa = bestIsa());

namespace detail {
void embedLayerNormRowsAvx2(const EmbedLayerNormArgs& args, int t0, int t1);
void embedLayerNormRowsAvx512(const EmbedLayerNormArgs& args, int t0, int t1);
}  // namespace detail

}  // namespace bertc::cpu
