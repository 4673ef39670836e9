#pragma once
// Hand-built graphs in the exporters' forms, for the fusion tests: an
// attention block (several mask and scale forms), BERT-style embeddings and
// a pooler. Small sizes and seeded weights, so golden IR and numbers are
// stable.
#include <memory>
#include <vector>

#include "ir/graph.h"
#include "ir/tensor.h"

namespace bertc::test {

constexpr int64_t kHidden = 8;
constexpr int64_t kHeads = 2;

enum class MaskForm {
  HfEager,     ///< (1 - Cast(mask)) * finfo.min at [B,1,1,S], added; scores / sqrt(d)
  DistilBert,  ///< Where(Expand(mask == 0), finfo.min, scores); q / sqrt(d) before Q K^T
  Sdpa,        ///< Where(Expand(bool mask) [B,1,S,S], 0, -inf) added; sqrt(scale) on Q and K;
               ///< NaN guard; K^T as two Transposes
  None,        ///< no mask input
  Causal,      ///< near miss: Where(k <= q, 0, min) added
  PerQuery,    ///< near miss: the mask broadcast over keys, [B,1,S,1]
  SmallFill,   ///< near miss: (1 - mask) * -100
  HeadBias,    ///< near miss: HfEager's mask plus a per-head constant bias [1,2,1,1]
};

/// X [batch, seq, 8] (and attention_mask [batch, seq] i64 unless None) ->
/// `layers` attention blocks of 2 heads, all sharing one set of weights, each
/// ending in the output projection's bias Add. Node names follow the roles
/// ("q_bias", "softmax", "mask_add", ...). Shapes are inferred.
std::unique_ptr<ir::Graph> buildAttention(MaskForm form, int layers = 1);

enum class TokenTypes {
  Input,       ///< a token_type_ids graph input
  None,        ///< no token-type table (DistilBERT)
  ZeroBuffer,  ///< no input: Expand(Slice(all-zero [1, 16] buffer, 0, seq), Shape(ids)), HF's export
};

/// input_ids, token_type_ids (if `tokenTypes` is Input) and
/// attention_mask -> LayerNorm(word + type + position embeddings), BERT's
/// form (position ids sliced from a constant arange buffer), or RoBERTa's
/// (position ids computed from the ids) -> a pooler Tanh(first token W + b).
std::unique_ptr<ir::Graph> buildEmbeddingsAndPooler(bool robertaPositions, TokenTypes tokenTypes);

enum class MeanPoolForm {
  TorchScript,  ///< Cast(Expand(Unsqueeze(mask, -1), Shape(X))), Mul(X, w), Clip(sum, min = 1e-9)
  Broadcast,    ///< Cast(Unsqueeze(mask, 2)) [B,S,1], Mul(w, X), Max(1e-9, sum), axes [-2]
  HiddenAxis,   ///< near miss: both sums over axis 2 (the hidden axis)
  OtherMask,    ///< near miss: the denominator counts a second mask input
};

/// hidden [batch, seq, 8] f32 and attention_mask [batch, seq] i64 ->
/// sentence-transformers' masked mean of hidden over the sequence.
std::unique_ptr<ir::Graph> buildMeanPool(MeanPoolForm form);

/// Inputs for g at the given batch and sequence (bound as the dims of the
/// first [batch, seq] integer input): ids in [0, 20), token types in {0, 1},
/// float inputs in [-1, 1), and an `attention_mask` with row r keeping
/// seq - r tokens, odd rows padded on the right and even rows on the left.
std::vector<ir::Tensor> randomInputs(const ir::Graph& g, uint64_t seed, int64_t batch = 3, int64_t seq = 6);

/// The largest normalised max error (model_fixtures.h) of `after`'s outputs
/// against `before`'s, both run on the reference interpreter with
/// randomInputs(before, seed).
double fusedVsUnfusedError(const ir::Graph& before, const ir::Graph& after, uint64_t seed = 1);

}  // namespace bertc::test
