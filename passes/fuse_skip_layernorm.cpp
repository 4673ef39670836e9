/// SkipLayerNorm fusion: a LayerNorm of a residual sum takes the sum (and
/// the sublayer's bias) into the normalisation.
///
///   LayerNorm(Add(X, Skip), G, Be)              -> SkipLayerNorm(X, Skip, G, Be)
///   LayerNorm(Add(Add(X, Bias), Skip), G, Be)   -> SkipLayerNorm(X, Skip, G, Be, Bias)
///   LayerNorm(Add(Add(X, Skip), Bias), G, Be)   -> SkipLayerNorm(X, Skip, G, Be, Bias)
///
/// (every Add in either operand order; X and Skip non-constant tensors of
/// the LayerNorm input's exact shape, Bias a constant [H] vector, the
/// LayerNorm over the last axis only, epsilon carried over). Legal because
/// SkipLayerNorm is LayerNorm(X + Skip + Bias) and addition commutes; the
/// Adds must have no other use, since the fused op does not expose the sum.
///
/// The operand that comes from a MatMul (the sublayer's output) becomes X
/// and the other (the residual stream) Skip; numerically either order is the
/// same. The embedding LayerNorm (a sum of Gathers from embedding tables) is
/// left alone: the embedding fusion takes it whole.
///
/// Exporter variants matched: HF BERT/RoBERTa/ELECTRA/XLM-R/ALBERT/DistilBERT
/// post-LN residuals from TorchScript (opset 14 after fuse-layernorm, opset 17
/// LayerNormalization) and dynamo (opset 20), where the dense bias Add sits
/// on the sublayer side. Not matched: broadcast skips ([1, S, H] or [S, H]
/// against [B, S, H]), a sum that is also used elsewhere (ORT's optional
/// fourth output), pre-LN layouts whose residual is not normalised.
#include "passes/fusions.h"
#include "passes/pattern.h"

namespace bertc::passes {
namespace {

using ir::Node;
using ir::OpKind;
using ir::Value;

/// A Gather, or an Add whose non-constant operands are all such sums: the
/// token + position + segment embedding sum.
bool isEmbeddingSum(const Value* v, int depth = 0) {
  if (depth > 6) return false;
  if (defOf(v, OpKind::Gather)) return true;
  const Node* add = defOf(v, OpKind::Add);
  if (!add) return false;
  bool any = false;
  for (const Value* o : add->operands) {
    if (o->isConstant()) continue;
    if (!isEmbeddingSum(o, depth + 1)) return false;
    any = true;
  }
  return any;
}

/// The three operands of the residual sum, before orientation.
struct Residual {
  Value* a = nullptr;
  Value* b = nullptr;
  Value* bias = nullptr;
};

/// If v is a one-use Add of a non-constant value and a constant [h] vector
/// that keeps v's type: that value and the vector.
std::optional<std::pair<Value*, Value*>> peelBias(const ir::Graph& g, Value* v, int64_t h) {
  const Node* add = defOf(v, OpKind::Add);
  if (!add || !hasOneUse(g, v)) return std::nullopt;
  for (size_t i = 0; i < 2; ++i) {
    Value* c = add->operand(i);
    Value* rest = add->operand(1 - i);
    if (isConstVector(c, h) && !rest->isConstant() && rest->type == v->type && c->type.dtype == v->type.dtype)
      return std::make_pair(rest, c);
  }
  return std::nullopt;
}

/// Splits sum = Add(p, q) into X, Skip and an optional Bias.
std::optional<Residual> splitResidual(const ir::Graph& g, const Node& sum, int64_t h) {
  Value* p = sum.operand(0);
  Value* q = sum.operand(1);
  const ir::Type& t = sum.result()->type;
  auto plain = [&](const Value* v) { return !v->isConstant() && v->type == t; };
  // Add(Add(X, Bias), Skip) / Add(Skip, Add(X, Bias)): prefer the side whose
  // inner value is a MatMul, the sublayer.
  // The peeled X must have the sum's exact type too: a fixed dim on one side
  // and a symbolic one on the other broadcast to the fixed one, and the fused
  // op (which does not broadcast) would then disagree with its operands.
  auto peel = [&](Value* v) {
    auto r = peelBias(g, v, h);
    return r && r->first->type == t ? r : std::nullopt;
  };
  auto pb = plain(q) ? peel(p) : std::nullopt;
  auto qb = plain(p) ? peel(q) : std::nullopt;
  if (pb && qb && !defOf(pb->first, OpKind::MatMul) && defOf(qb->first, OpKind::MatMul)) pb.reset();
  if (pb) return Residual{pb->first, q, pb->second};
  if (qb) return Residual{qb->first, p, qb->second};
  // Add(Add(X, Skip), Bias)
  for (size_t i = 0; i < 2; ++i) {
    Value* c = sum.operand(i);
    const Node* inner = defOf(sum.operand(1 - i), OpKind::Add);
    if (isConstVector(c, h) && c->type.dtype == t.dtype && inner && hasOneUse(g, inner->result()) &&
        inner->result()->type == t && plain(inner->operand(0)) && plain(inner->operand(1)))
      return Residual{inner->operand(0), inner->operand(1), c};
  }
  if (plain(p) && plain(q)) return Residual{p, q, nullptr};
  return std::nullopt;
}

/// A LayerNorm parameter SkipLayerNorm can take as its [h] Gamma or Beta:
/// a constant vector (made 1-D when it is written) or a value typed [h].
bool isParam(const Value* v, int64_t h, ir::DType dtype) {
  return v->type.dtype == dtype &&
         (isConstVector(v, h) || (v->type.rank() == 1 && v->type.shape[0].constValue() == h));
}

MatchResult fuseResidualLayerNorm(Node& ln, Rewriter& rw) {
  const ir::Graph& g = rw.graph();
  Value* in = ln.operand(0);
  int64_t rank = static_cast<int64_t>(in->type.rank());
  int64_t axis = ln.getInt("axis", -1);
  if (axis != -1 && axis != rank - 1) return MatchResult::miss("normalises from axis " + std::to_string(axis) + ", not the last axis only");
  Node* sum = defOf(in, OpKind::Add);
  if (!sum) return MatchResult::miss("the input is not an Add (no residual)");
  if (!hasOneUse(g, in)) return MatchResult::miss("the residual sum has uses besides the LayerNorm");
  auto h = constDim(in, -1);
  if (!h) return MatchResult::miss("the last dim is not a constant");
  if (!ln.operand(1)) return MatchResult::miss("no Scale operand (SkipLayerNorm needs Gamma)");
  if (!ir::isFloat(in->type.dtype)) return MatchResult::miss("the input is not a float tensor");
  if (isEmbeddingSum(sum->operand(0)) || isEmbeddingSum(sum->operand(1)))
    return MatchResult::miss("an addend is a sum of Gathers (the embeddings): left to the embedding fusion");
  auto r = splitResidual(g, *sum, *h);
  if (!r)
    return MatchResult::miss("the Add is not X + Skip (+ a constant [H] bias) with X and Skip both " +
                             in->type.str(g.symbols()));
  if (!defOf(r->a, OpKind::MatMul) && defOf(r->b, OpKind::MatMul)) std::swap(r->a, r->b);

  Value* gamma = ln.operand(1);
  Value* beta = ln.operand(2);
  if (!isParam(gamma, *h, in->type.dtype) || (beta && !isParam(beta, *h, in->type.dtype))) return MatchResult::miss("Scale or B is not an [H] vector");
  auto param = [&](Value* v) { return v && v->isConstant() ? rw.vector1d(v) : v; };
  std::vector<Value*> operands{r->a, r->b, param(gamma), param(beta), r->bias ? rw.vector1d(r->bias) : nullptr};
  while (operands.back() == nullptr) operands.pop_back();
  Node* skip = rw.create(&ln, OpKind::SkipLayerNorm, fusedName(ln, ln, "SkipLayerNorm"), std::move(operands),
                         {{"epsilon", ln.getFloat("epsilon", 1e-5)}});
  rw.replace(ln.result(), skip->result());
  return MatchResult::ok();
}

}  // namespace

size_t fuseSkipLayerNorm(ir::Graph& g, PassContext& ctx) {
  return applyPatterns(g, ctx, "fuse-skip-layernorm", {{"skip-layernorm", OpKind::LayerNorm, fuseResidualLayerNorm}});
}

}  // namespace bertc::passes
