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
///   Add(Mul(X, S), Sub(Beta, Mul(mean, S))), S = Mul(R, Gamma), R = 1/sqrt(var + eps)
///                             -> LayerNorm(X, Gamma, Beta)     (Keras: scale folded into Gamma)
///
/// Legal because this is LayerNorm's definition term by term (population
/// variance, epsilon inside the root, scale then shift; the Keras form is
/// (X - mean) * R * Gamma + Beta with the product distributed), and every matched
/// intermediate is used only inside the chain, so nothing else sees it go.
///
/// Exporter variants matched (every binary op in either operand order):
///   * PyTorch TorchScript, opset <= 16: ReduceMean, Sub, Pow(2), ReduceMean,
///     Add(eps), Sqrt, Div, Mul(gamma), Add(beta). The duplicated Sub of
///     older PyTorch is merged by canonicalize's CSE before this runs.
///   * TF / Keras: D * Reciprocal(Sqrt(var + eps)), variance as Mul(D, D).
///   * tf2onnx / keras2onnx: the scale folded into Gamma, S = R * Gamma
///     applied as X * S + (Beta - mean * S) (ORT's FusionLayerNormalizationTF).
///   * rsqrt written as Pow(var + eps, -0.5).
///   * Gamma and/or Beta absent (the operand is omitted; the Keras form needs Beta).
/// Opset-17 LayerNormalization and dynamo exports import as LayerNorm and
/// need nothing. Not matched: Casts inside the chain (mixed-precision
/// exports), RMSNorm, normalisation over several axes.
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

/// The middle both forms share: ReduceMean(square) + eps, then its root.
struct Deviation {
  double eps = 0;
  Node* sqrt = nullptr;  ///< Sqrt(var + eps) when its only use is a Reciprocal or the Div
  Value* rstd = nullptr;  ///< 1 / sqrt(var + eps) (Reciprocal or Pow(-0.5)), if spelled so
  std::string why;        ///< non-empty: the chain broke here
};

Deviation matchDeviation(const ir::Graph& g, const Node& square, size_t rank) {
  Deviation dev;
  Node* var = soleUser(g, square.result());
  if (!var || var->op != OpKind::ReduceMean) return {.why = "the square of X - mean does not feed exactly one ReduceMean"};
  if (auto why = lastAxisReduction(*var, rank); !why.empty()) return {.why = "the variance " + why};
  Node* addEps = soleUser(g, var->result());
  if (!addEps || addEps->op != OpKind::Add) return {.why = "the variance does not feed exactly one Add(eps)"};
  auto eps = constScalar(otherOperand(*addEps, var->result()));
  if (!eps || !std::isfinite(*eps) || *eps < 0) return {.why = "epsilon is not a finite non-negative scalar constant"};
  dev.eps = *eps;
  Node* root = soleUser(g, addEps->result());
  if (root && root->op == OpKind::Sqrt) {
    dev.sqrt = root;
    if (Node* r = soleUser(g, root->result()); r && r->op == OpKind::Reciprocal) dev.rstd = r->result();
  } else if (root && root->op == OpKind::Pow && root->operand(0) == addEps->result() &&
             constScalar(root->operand(1)) == -0.5) {
    dev.rstd = root->result();
  } else {
    return {.why = "var + eps does not feed exactly one Sqrt or Pow(-0.5)"};
  }
  return dev;
}

/// If v's single use is Mul(v, C) with C a constant [h] vector of `dtype`: that Mul.
Node* mulByVector(const ir::Graph& g, const Value* v, int64_t h, ir::DType dtype) {
  Node* m = soleUser(g, v);
  if (!m || m->op != OpKind::Mul) return nullptr;
  Value* c = otherOperand(*m, v);
  return isConstVector(c, h) && c->type.dtype == dtype ? m : nullptr;
}

/// The normalised value of the plain form: Div(D, std) or Mul(D, rstd), or null.
Node* plainNormalisation(const ir::Graph& g, const Value* d, const Deviation& dev) {
  Node* norm = nullptr;
  for (Node* u : g.users(d))
    if (!isSquareOf(*u, d)) norm = u;
  if (!norm) return nullptr;
  if (dev.sqrt && !dev.rstd && norm->op == OpKind::Div && norm->operand(0) == d &&
      norm->operand(1) == dev.sqrt->result() && hasOneUse(g, dev.sqrt->result()))
    return norm;
  if (dev.rstd && norm->op == OpKind::Mul && otherOperand(*norm, d) == dev.rstd && hasOneUse(g, dev.rstd)) return norm;
  return nullptr;
}

/// The Keras form's result Add(Mul(X, s), Sub(Beta, Mul(mean, s))), given
/// s = rstd or rstd * Gamma; null (and `why` set) if the graph differs.
Node* kerasResult(const ir::Graph& g, const Value* x, const Node& mean, const Value* s, int64_t h, Value*& beta,
                  std::string& why) {
  std::vector<Node*> users = g.users(s);
  Node *xs = nullptr, *ms = nullptr;
  for (Node* u : users) {
    if (u->op != OpKind::Mul) continue;
    if (otherOperand(*u, s) == x) xs = u;
    if (otherOperand(*u, s) == mean.result()) ms = u;
  }
  if (users.size() != 2 || !xs || !ms || isGraphOutput(g, s)) {
    why = "the scale 1/sqrt(var + eps) is not used by exactly X * s and mean * s";
    return nullptr;
  }
  Node* shift = soleUser(g, ms->result());
  if (!shift || shift->op != OpKind::Sub || shift->operand(1) != ms->result() || !isConstVector(shift->operand(0), h) ||
      shift->operand(0)->type.dtype != x->type.dtype) {
    why = "mean * s does not feed exactly one Sub(Beta, mean * s) with Beta a constant [H] vector";
    return nullptr;
  }
  Node* top = soleUser(g, xs->result());
  if (!top || top->op != OpKind::Add || otherOperand(*top, xs->result()) != shift->result() ||
      !hasOneUse(g, shift->result())) {
    why = "X * s and Beta - mean * s are not added by one Add";
    return nullptr;
  }
  beta = shift->operand(0);
  return top;
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
  if (!ir::isFloat(x->type.dtype)) return MatchResult::miss("X is not a float tensor");
  auto hidden = constDim(x, -1);
  if (!hidden) return MatchResult::miss("the last dim of X is not a constant");
  if (isGraphOutput(g, mean.result())) return MatchResult::miss("the mean is a graph output");

  // D = X - mean feeds the square, and in the plain form the normalisation.
  Value* d = sub->result();
  if (isGraphOutput(g, d)) return MatchResult::miss("X - mean is a graph output");
  std::vector<Node*> dUsers = g.users(d);
  Node* square = nullptr;
  for (Node* u : dUsers)
    if (isSquareOf(*u, d)) square = u;
  if (!square) return MatchResult::miss("no Pow(X - mean, 2) or Mul(X - mean, X - mean) squares X - mean");
  Deviation dev = matchDeviation(g, *square, rank);
  if (!dev.why.empty()) return MatchResult::miss(dev.why);

  Node* top = nullptr;
  Value *gamma = nullptr, *beta = nullptr;
  size_t meanUses = g.users(mean.result()).size();
  if (dUsers.size() == 2 && meanUses == 1 && hasOneUse(g, mean.result())) {
    // Plain form: (D / std or D * rstd), then * Gamma, then + Beta.
    top = plainNormalisation(g, d, dev);
    if (!top) return MatchResult::miss("X - mean is not divided by Sqrt(var + eps) nor multiplied by its reciprocal");
    if (Node* m = mulByVector(g, top->result(), *hidden, x->type.dtype)) gamma = otherOperand(*m, top->result()), top = m;
    if (Node* a = soleUser(g, top->result()); a && a->op == OpKind::Add) {
      Value* c = otherOperand(*a, top->result());
      if (isConstVector(c, *hidden) && c->type.dtype == x->type.dtype) beta = c, top = a;
    }
  } else if (dUsers.size() == 1 && meanUses == 2 && dev.rstd) {
    // Keras form: s = rstd (* Gamma); X * s + (Beta - mean * s).
    Value* s = dev.rstd;
    if (Node* m = mulByVector(g, s, *hidden, x->type.dtype)) gamma = otherOperand(*m, s), s = m->result();
    std::string why;
    top = kerasResult(g, x, mean, s, *hidden, beta, why);
    if (!top) return MatchResult::miss(why);
  } else {
    return MatchResult::miss("X - mean has " + std::to_string(dUsers.size()) + " users and the mean " +
                             std::to_string(meanUses) +
                             ", expected 2 and 1 (plain form) or 1 and 2 (Keras form): an intermediate is shared");
  }
  if (top->result()->type != x->type)
    return MatchResult::miss("a constant broadcasts the result to " + top->result()->type.str(g.symbols()) +
                             ", not X's shape");

  std::vector<Value*> operands{x, gamma ? rw.vector1d(gamma) : nullptr, beta ? rw.vector1d(beta) : nullptr};
  while (operands.back() == nullptr) operands.pop_back();
  Node* ln = rw.create(top, OpKind::LayerNorm, fusedName(mean, *top, "LayerNorm"), std::move(operands),
                       {{"axis", int64_t{-1}}, {"epsilon", dev.eps}});
  rw.replace(top->result(), ln->result());
  return MatchResult::ok();
}

}  // namespace

size_t fuseLayerNorm(ir::Graph& g, PassContext& ctx) {
  return applyPatterns(g, ctx, kPass, {{"decomposed-layernorm", OpKind::ReduceMean, fuseDecomposedLayerNorm}});
}

}  // namespace bertc::passes
