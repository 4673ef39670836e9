/// Mean pooling fusion: sentence-transformers' masked mean over the tokens
/// becomes one MeanPool.
///
///   w = Cast(Expand(Unsqueeze(mask, -1), Shape(X)), dtype(X))        [B,S,H] (or [B,S,1] without Expand)
///   Div(ReduceSum(Mul(X, w), axes = [1], keepdims = 0),
///       Clip(ReduceSum(w, axes = [1], keepdims = 0), min = eps))
///     -> MeanPool(X, mask) {epsilon = eps}
///
/// Legal because MeanPool is defined with the mask, converted to X's dtype as
/// the Cast does, as weights: sum_s w[b,s] X[b,s,:] / max(sum_s w[b,s], eps),
/// which is this expression term for term whatever values the mask holds
/// (the [B,S,H] weights are the [B,S] mask broadcast over H, so their sum over
/// S is the same in every column). Unsqueeze, Expand and Cast commute (the
/// Cast is elementwise, the others move elements), so their order does not
/// matter; the chain is accepted only when every value in it is [B,S],
/// [B,S,1] or [B,S,H] of X, i.e. element [b,s,h] reads mask[b,s].
///
/// Exporter variants matched: torch.onnx's Unsqueeze/Expand/Cast in any order
/// (Expand's shape computed or constant), or no Expand (the Mul and the
/// denominator's Div broadcast); Mul in either operand order; Clip with min
/// as an input (opset >= 11) or an attribute (the importer makes it an
/// input), no max; Max(sum, eps) in either order instead of Clip; ReduceSum's
/// axes as an input (opset >= 13) or an attribute (the IR holds both as the
/// attribute), axis 1 or -2, keepdims 0. Out of scope: the unmasked
/// ReduceMean form (no mask, nothing to fuse), keepdims 1, and poolings over
/// another axis (CLS, max pooling).
#include <algorithm>

#include "passes/fusions.h"
#include "passes/pattern.h"

namespace bertc::passes {
namespace {

using ir::Node;
using ir::OpKind;
using ir::SymExpr;
using ir::Value;

constexpr const char* kPass = "fuse-mean-pool";

/// Why `v` is not a sum over the sequence axis of a [B,S,*] tensor with keepdims 0, or "".
std::string sumOverSeqMiss(const Node* r, const Value* v) {
  if (!r) return describeDef(v) + " is not a ReduceSum";
  auto axes = r->getInts("axes");
  int64_t rank = static_cast<int64_t>(r->operand(0)->type.rank());
  if (rank != 3 || axes.size() != 1 || (axes[0] != 1 && axes[0] != 1 - rank))
    return r->describe() + ": not a sum over axis 1 (the sequence) of a [batch, seq, hidden] tensor";
  if (r->getInt("keepdims", 1) != 0) return r->describe() + ": keepdims is not 0";
  return "";
}

/// The [B,S] mask that `w` broadcasts to X's shape or [B,S,1] and casts to
/// X's dtype (see the file comment), with the chain's nodes appended to
/// `chain`; null if `w` is not such a chain.
Value* maskBehind(Value* w, const Value* x, std::vector<const Node*>& chain) {
  const ir::Shape& xs = x->type.shape;
  if (w->type.dtype != x->type.dtype) return nullptr;
  int casts = 0, unsqueezes = 0;
  Value* v = w;
  while (true) {
    const ir::Shape& s = v->type.shape;
    bool fits = (s.size() == 2 && s[0] == xs[0] && s[1] == xs[1]) ||
                (s.size() == 3 && s[0] == xs[0] && s[1] == xs[1] && (s[2] == xs[2] || s[2] == SymExpr(1)));
    if (!fits) return nullptr;
    Node* n = defOf(v);
    if (n && n->op == OpKind::Cast && casts++ == 0) {
      // The Cast must be to X's dtype, which w already checked for the top of the chain.
      if (n->getInt("to", -1) != static_cast<int64_t>(x->type.dtype)) return nullptr;
    } else if (n && n->op == OpKind::Expand && n->operand(0)->type.rank() == s.size()) {
    } else if (n && n->op == OpKind::Unsqueeze && unsqueezes++ == 0 && s.size() == 3) {
      auto axes = n->getInts("axes");
      if (axes.size() != 1 || (axes[0] != -1 && axes[0] != 2)) return nullptr;
    } else {
      break;
    }
    chain.push_back(n);
    v = n->operand(0);
  }
  if (unsqueezes != 1 || v->type.rank() != 2) return nullptr;
  if (casts == 0 && v->type.dtype != x->type.dtype) return nullptr;
  return v;
}

MatchResult fuse(Node& div, Rewriter& rw) {
  Node* num = defOf(div.operand(0), OpKind::ReduceSum);
  if (std::string why = sumOverSeqMiss(num, div.operand(0)); !why.empty())
    return MatchResult::miss("numerator: " + why);
  Node* mul = defOf(num->operand(0), OpKind::Mul);
  if (!mul) return MatchResult::miss(num->describe() + ": does not sum a product X * mask");
  std::vector<const Node*> absorbed{&div, num, mul};
  Value* x = nullptr;
  Value* mask = nullptr;
  for (size_t k = 0; k < 2 && !mask; ++k) {
    x = mul->operand(1 - k);
    std::vector<const Node*> chain;
    if (ir::isFloat(x->type.dtype) && x->type.rank() == 3 && x->type.shape == mul->result()->type.shape)
      mask = maskBehind(mul->operand(k), x, chain);
    if (mask) absorbed.insert(absorbed.end(), chain.begin(), chain.end());
  }
  if (!mask)
    return MatchResult::miss(mul->describe() + ": not X [batch, seq, hidden] times a [batch, seq] mask "
                                               "unsqueezed, expanded and cast to X");

  // The denominator: Clip(sum, eps) or Max(sum, eps), the sum over the same mask.
  Value* den = div.operand(1);
  Node* clamp = defOf(den);
  Value* count = nullptr;
  std::optional<double> eps;
  if (clamp && clamp->op == OpKind::Clip && !clamp->operand(2)) {
    count = clamp->operand(0);
    eps = constScalar(clamp->operand(1));
  } else if (clamp && clamp->op == OpKind::Max && clamp->operands.size() == 2) {
    for (size_t k = 0; k < 2 && !eps; ++k)
      if ((eps = constScalar(clamp->operand(k)))) count = clamp->operand(1 - k);
  }
  if (!count || !eps)
    return MatchResult::miss("denominator: " + describeDef(den) + " is not Clip(sum, min = eps) or Max(sum, eps)");
  Node* denSum = defOf(count, OpKind::ReduceSum);
  if (std::string why = sumOverSeqMiss(denSum, count); !why.empty()) return MatchResult::miss("denominator: " + why);
  if (maskBehind(denSum->operand(0), x, absorbed) != mask)
    return MatchResult::miss(denSum->describe() + ": does not sum the numerator's mask weights");
  absorbed.push_back(clamp);
  absorbed.push_back(denSum);
  if (div.result()->type.shape != ir::Shape{x->type.shape[0], x->type.shape[2]})
    return MatchResult::miss(div.describe() + ": the result is not [batch, hidden]");

  std::sort(absorbed.begin(), absorbed.end());
  absorbed.erase(std::unique(absorbed.begin(), absorbed.end()), absorbed.end());
  if (const Node* n = survivingNode(rw.graph(), absorbed, div.result()))
    return MatchResult::miss(n->describe() + " is also used outside the pooling");
  Node* pool = rw.create(&div, OpKind::MeanPool, fusedName(*mul, div, "MeanPool"), {x, mask}, {{"epsilon", *eps}});
  rw.replace(div.result(), pool->result());
  return MatchResult::ok();
}

}  // namespace

size_t fuseMeanPool(ir::Graph& g, PassContext& ctx) {
  return applyPatterns(g, ctx, kPass, {{"mean-pool", OpKind::Div, fuse}});
}

}  // namespace bertc::passes
