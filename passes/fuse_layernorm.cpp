/// LayerNorm fusion: the layer normalisation that exporters write out op by
/// op becomes one IR LayerNorm over the last axis.
///
///   mean = ReduceMean(X, axes=[-1])           D = Sub(X, mean)
///   var  = ReduceMean(Pow(D, 2) | Mul(D, D), axes=[-1])
///   N    = Div(D, Sqrt(Add(var, eps)))
///        | Mul(D, Reciprocal(Sqrt(Add(var, eps))))
///        | Mul(D, Pow(Add(var, eps), -0.5))
///   Add(Mul(N, Gamma), Beta)  -> LayerNorm(X, Gamma, Beta) {axis=-1, epsilon=eps}
///   Mul(N, Gamma)             -> LayerNorm(X, Gamma)
///   N                         -> LayerNorm(X)
///
/// Legal because this is LayerNorm's definition term by term (population
/// variance, epsilon inside the root, scale then shift), and every matched
/// intermediate is used only inside the chain, so nothing else sees it go.
///
/// Exporter variants matched (every binary op in either operand order):
///   * PyTorch TorchScript, opset <= 16: ReduceMean, Sub, Pow(2), ReduceMean,
///     Add(eps), Sqrt, Div, Mul(gamma), Add(beta). The duplicated Sub of
///     older PyTorch is merged by canonicalize's CSE before this runs.
///   * TF / Keras: D * Reciprocal(Sqrt(var + eps)), variance as Mul(D, D).
///   * rsqrt written as Pow(var + eps, -0.5).
///   * Gamma and/or Beta absent (the operand is omitted).
/// Opset-17 LayerNormalization and dynamo exports import as LayerNorm and
/// need nothing. Not matched: Casts inside the chain (mixed-precision
/// exports), the Keras form with the scale folded into gamma
/// (X * s + (Beta - mean * s)), RMSNorm, normalisation over several axes.
#include <cmath>

#include "passes/fusions.h"
#include "passes/pattern.h"

namespace bertc::passes {
namespace {

using ir::Node;
using ir::OpKind;
using ir::Value;

constexpr const char* kPass = "fuse-layernorm";

/// "" if r reduces exactly the last axis of a rank-`rank` operand and keeps
/// it; else what is wrong.
std::string lastAxisReduction(const Node& r, size_t rank) {
  if (r.getInt("keepdims", 1) == 0) return "has keepdims=0";
  std::vector<int64_t> axes = r.getInts("axes");
  int64_t last = static_cast<int64_t>(rank) - 1;
  if (axes.size() == 1 && (axes[0] == last || axes[0] == -1)) return "";
  std::string s;
  for (int64_t a : axes) s += (s.empty() ? "" : ",") + std::to_string(a);
  return "reduces axes [" + s + "], not the last axis only";
}

/// The single node using v (v not a graph output), else null.
Node* soleUser(const ir::Graph& g, const Value* v) { return hasOneUse(g, v) ? g.users(v)[0] : nullptr; }

/// Pow(D, 2) or Mul(D, D).
bool isSquareOf(const Node& n, const Value* d) {
  if (n.op == OpKind::Pow) return n.operand(0) == d && constScalar(n.operand(1)) == 2.0;
  return n.op == OpKind::Mul && n.operand(0) == d && n.operand(1) == d;
}

/// True for a ReduceMean that is the variance of a LayerNorm chain (of
/// Pow/Mul of a Sub): it is explained at the chain's mean, not again here.
bool isVarianceReduction(const Node& r) {
  Node* sq = defOf(r.operand(0));
  if (!sq || (sq->op != OpKind::Pow && sq->op != OpKind::Mul)) return false;
  return defOf(sq->operand(0), OpKind::Sub) != nullptr && isSquareOf(*sq, sq->operand(0));
}

/// Anchored at the mean, the first node of the chain; walks forward.
MatchResult fuseDecomposedLayerNorm(Node& mean, Rewriter& rw) {
  const ir::Graph& g = rw.graph();
  Value* x = mean.operand(0);
  Node* sub = nullptr;
  for (Node* u : g.users(mean.result()))
    if (u->op == OpKind::Sub && u->operand(0) == x && u->operand(1) == mean.result()) sub = u;
  if (!sub) {
    if (isVarianceReduction(mean)) return MatchResult::miss("");
    return MatchResult::miss("not a LayerNorm mean: no Sub(X, mean) uses it");
  }
  size_t rank = x->type.rank();
  if (auto why = lastAxisReduction(mean, rank); !why.empty()) return MatchResult::miss("the mean " + why);
  if (!hasOneUse(g, mean.result())) return MatchResult::miss("the mean has uses outside the LayerNorm");
  if (!ir::isFloat(x->type.dtype)) return MatchResult::miss("X is not a float tensor");
  auto hidden = constDim(x, -1);
  if (!hidden) return MatchResult::miss("the last dim of X is not a constant");

  // D feeds the square (variance) and the normalisation, nothing else.
  Value* d = sub->result();
  if (isGraphOutput(g, d)) return MatchResult::miss("X - mean is a graph output");
  std::vector<Node*> dUsers = g.users(d);
  Node* square = nullptr;
  for (Node* u : dUsers)
    if (isSquareOf(*u, d)) square = u;
  if (!square) return MatchResult::miss("no Pow(X - mean, 2) or Mul(X - mean, X - mean) squares X - mean");
  if (dUsers.size() != 2)
    return MatchResult::miss("X - mean has " + std::to_string(dUsers.size()) +
                             " users, expected 2 (the square and the normalisation)");
  Node* norm = dUsers[0] == square ? dUsers[1] : dUsers[0];

  Node* var = soleUser(g, square->result());
  if (!var || var->op != OpKind::ReduceMean)
    return MatchResult::miss("the square of X - mean does not feed exactly one ReduceMean");
  if (auto why = lastAxisReduction(*var, rank); !why.empty()) return MatchResult::miss("the variance " + why);
  Node* addEps = soleUser(g, var->result());
  if (!addEps || addEps->op != OpKind::Add) return MatchResult::miss("the variance does not feed exactly one Add(eps)");
  auto eps = constScalar(otherOperand(*addEps, var->result()));
  if (!eps || !std::isfinite(*eps) || *eps < 0) return MatchResult::miss("epsilon is not a finite non-negative scalar constant");

  // The reciprocal standard deviation, in one of three spellings.
  Node* root = soleUser(g, addEps->result());
  if (!root) return MatchResult::miss("var + eps has more than one use");
  bool normOk = false;
  if (root->op == OpKind::Sqrt) {
    Node* next = soleUser(g, root->result());
    if (next == norm && norm->op == OpKind::Div && norm->operand(0) == d && norm->operand(1) == root->result()) {
      normOk = true;
    } else if (next && next->op == OpKind::Reciprocal) {
      normOk = soleUser(g, next->result()) == norm && norm->op == OpKind::Mul &&
               otherOperand(*norm, d) == next->result();
    }
  } else if (root->op == OpKind::Pow) {
    normOk = root->operand(0) == addEps->result() && constScalar(root->operand(1)) == -0.5 &&
             soleUser(g, root->result()) == norm && norm->op == OpKind::Mul && otherOperand(*norm, d) == root->result();
  }
  if (!normOk)
    return MatchResult::miss("X - mean is not divided by Sqrt(var + eps) nor multiplied by its reciprocal (" +
                             norm->describe() + ")");

  // Scale and shift: constant [H] vectors, each the single use of the value before.
  Node* top = norm;
  Value *gamma = nullptr, *beta = nullptr;
  if (Node* m = soleUser(g, top->result()); m && m->op == OpKind::Mul) {
    Value* c = otherOperand(*m, top->result());
    if (isConstVector(c, *hidden) && c->type.dtype == x->type.dtype) gamma = c, top = m;
  }
  if (Node* a = soleUser(g, top->result()); a && a->op == OpKind::Add) {
    Value* c = otherOperand(*a, top->result());
    if (isConstVector(c, *hidden) && c->type.dtype == x->type.dtype) beta = c, top = a;
  }
  if (top->result()->type != x->type)
    return MatchResult::miss("a constant broadcasts the result to " + top->result()->type.str(g.symbols()) +
                             ", not X's shape");

  std::vector<Value*> operands{x, gamma ? rw.vector1d(gamma) : nullptr, beta ? rw.vector1d(beta) : nullptr};
  while (operands.back() == nullptr) operands.pop_back();
  Node* ln = rw.create(top, OpKind::LayerNorm, fusedName(mean, *top, "LayerNorm"), std::move(operands),
                       {{"axis", int64_t{-1}}, {"epsilon", *eps}});
  rw.replace(top->result(), ln->result());
  return MatchResult::ok();
}

}  // namespace

size_t fuseLayerNorm(ir::Graph& g, PassContext& ctx) {
  return applyPatterns(g, ctx, kPass, {{"decomposed-layernorm", OpKind::ReduceMean, fuseDecomposedLayerNorm}});
}

}  // namespace bertc::passes
