#pragma once
/// What an attention block's mask path computes, proven rather than
/// recognised (used by fuse_attention.cpp).
///
/// The exporters build the same key-padding mask in many shapes: HF eager's
/// `(1 - Cast(mask)) * finfo.min` broadcast as [B,1,1,S]; DistilBERT's
/// `Where(mask == 0, min, scores)`; SDPA's boolean masks turned into
/// `Where(m, 0, -inf)`; transformers 5's mask functions, traced into index
/// arithmetic (`Range`, `Flatten` + `Gather` at `b * S + k`, `GatherND` of
/// stacked indices, `And` with an always-true `q >= 0`). Listing those shapes
/// would break with the next exporter, so this analysis evaluates the path
/// symbolically instead, one element at a time: the element at scores
/// position [b, n, q, k] is computed with b, n, q, k as variables over their
/// ranges, integers as affine forms in them, and every comparison decided for
/// all their values at once (or the proof fails). The raw mask is read as one
/// unknown, m = mask[b, k], and the path is evaluated twice, for m = 0 and 1.
/// A path that reads the mask anywhere but [b, k] (a per-query mask), whose
/// value depends on q or n (a causal or windowed mask), or that adds anything
/// else (a position bias) does not evaluate to a constant and is rejected.
#include <string>
#include <variant>

#include "ir/graph.h"

namespace bertc::passes {

/// One element of a mask-path value, the same at every [b, n, q, k].
struct MaskElement {
  /// The [batch, keys] graph input the path reads, at [b, k] only; null when
  /// the value does not read one.
  const ir::Value* mask = nullptr;
  /// The element when mask[b, k] is 0 (a padding key) and when it is 1.
  double at[2] = {0, 0};
};

/// Evaluates `v`, a value broadcast against attention scores of shape
/// `scores` ([batch, heads, queries, keys]), as a function of the raw mask
/// element mask[b, k]. Returns the element, or why it is not such a function,
/// naming the node that broke the proof.
std::variant<MaskElement, std::string> evaluateMaskElement(const ir::Graph& g, const ir::Value* v,
                                                          const ir::Shape& scores);

}  // namespace bertc::passes
