/// GELU fusions: the exact (erf) and tanh-approximated GELU that exporters
/// write out op by op become IR Gelu and FastGelu; a bias Add in front of
/// either is folded in (BiasGelu, FastGelu with Bias).
///
/// fuse-gelu:
///   P(X) * (1 + Erf(X / sqrt(2)))       with P(X) = X / 2   -> Gelu(X) {approximate="none"}
///   P(X) * (1 + Tanh(sqrt(2/pi) * (X + 0.044715 X^3)))     -> FastGelu(X)
///   Gelu(X) {approximate="tanh"}                            -> FastGelu(X)
/// fuse-bias-gelu:
///   Gelu(Add(X, B))      -> BiasGelu(X, B)
///   FastGelu(Add(X, B))  -> FastGelu(X, B)         (B a constant [H] vector, H = X's last dim)
///
/// Legal because Gelu and FastGelu are defined as exactly these functions,
/// and BiasGelu / FastGelu's bias add B to X before the activation. The
/// decomposed forms are recognised by their algebra, not their node shape:
/// the argument of Erf/Tanh and the product around it are read as small
/// polynomials in X and t = Erf(..)/Tanh(..) over scalar constants, and
/// fuse when the coefficients are the exact ones within 1e-4 relative. So
/// every association and operand order an exporter picks matches, e.g.
///   * PyTorch TorchScript / HF BertIntermediate: (X * (1 + Erf(X * 0.7071..))) * 0.5
///     (the exported Div by 1.4142135 is a Mul after canonicalize);
///   * TF / Keras: X * 0.5 * (1 + Erf(X / sqrt(2))), Mul by 0.70710678;
///   * X * (0.5 * (1 + erf)), (0.5 * X) * (1 + erf), X * (0.5 + 0.5 * erf);
///   * HF gelu_new (ALBERT, TorchScript and dynamo): 0.5 * X * (1 + Tanh(0.7978 *
///     (X + 0.044715 * Pow(X, 3)))), and X^3 as X * X * X;
///   * Megatron / OpenAI: Tanh(0.7978 * X * (1 + 0.044715 * X * X)).
/// Dynamo exports at opset 20 already hold Gelu ops; only their bias folds.
/// Not matched: Casts inside the chain, sqrt(2) or sqrt(2/pi) left as a
/// Sqrt node (canonicalize folds it first), QuickGelu (X * Sigmoid(1.702 X)).
#include <array>
#include <cmath>
#include <cstdio>

#include "passes/fusions.h"
#include "passes/pattern.h"

namespace bertc::passes {
namespace {

using ir::Node;
using ir::OpKind;
using ir::Value;

constexpr double kSqrtHalf = 0.70710678118654752440;    // 1 / sqrt(2)
constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double kGeluCubic = 0.044715;
constexpr double kRelTol = 1e-4;

/// A polynomial sum c[i][j] x^i t^j with i <= 3, j <= 1: enough for the GELU
/// argument (a x + b x^3) and the product around it (x/2 + x t/2).
struct Poly {
  std::array<std::array<double, 2>, 4> c{};

  static Poly constant(double k) { Poly p; p.c[0][0] = k; return p; }
  static Poly x() { Poly p; p.c[1][0] = 1; return p; }
  static Poly t() { Poly p; p.c[0][1] = 1; return p; }

  Poly plus(const Poly& o, double sign) const {
    Poly r;
    for (size_t i = 0; i < 4; ++i)
      for (size_t j = 0; j < 2; ++j) r.c[i][j] = c[i][j] + sign * o.c[i][j];
    return r;
  }
  std::optional<Poly> times(const Poly& o) const {
    Poly r;
    for (size_t i = 0; i < 4; ++i)
      for (size_t j = 0; j < 2; ++j)
        for (size_t k = 0; k < 4; ++k)
          for (size_t l = 0; l < 2; ++l) {
            double v = c[i][j] * o.c[k][l];
            if (v == 0) continue;
            if (i + k > 3 || j + l > 1) return std::nullopt;
            r.c[i + k][j + l] += v;
          }
    return r;
  }
  /// "0.707107*X + 0.0356774*X^3" (t, if present, printed as `t`).
  std::string str(const char* t = "t") const {
    std::string s;
    for (size_t j = 0; j < 2; ++j)
      for (size_t i = 0; i < 4; ++i) {
        if (c[i][j] == 0) continue;
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.6g", c[i][j]);
        std::string term = buf;
        if (i > 0) term += "*X" + (i > 1 ? "^" + std::to_string(i) : std::string());
        if (j > 0) term += std::string("*") + t;
        s += (s.empty() ? "" : " + ") + term;
      }
    return s.empty() ? "0" : s;
  }
  /// Every coefficient within kRelTol of `want`'s (zeros exactly zero).
  bool near(const Poly& want) const {
    for (size_t i = 0; i < 4; ++i)
      for (size_t j = 0; j < 2; ++j) {
        double w = want.c[i][j];
        if (w == 0 ? c[i][j] != 0 : std::abs(c[i][j] - w) > kRelTol * std::abs(w)) return false;
      }
    return true;
  }
};

bool isArithmetic(OpKind op) {
  return op == OpKind::Add || op == OpKind::Sub || op == OpKind::Mul || op == OpKind::Div || op == OpKind::Pow ||
         op == OpKind::Neg;
}

/// Reads expression trees of Add/Sub/Mul/Div/Pow/Neg over x, t and scalar
/// constants as polynomials. Interior values must have one use, so that the
/// whole tree goes away when its root is replaced.
class PolyReader {
 public:
  PolyReader(const ir::Graph& g, const Value* x, const Value* t) : g_(g), x_(x), t_(t) {}

  /// The polynomial n computes (n's own result may have any number of uses).
  std::optional<Poly> node(const Node& n, int depth = 0) const {
    if (depth > 12 || !isArithmetic(n.op)) return std::nullopt;
    auto a = value(n.operand(0), depth + 1);
    if (!a) return std::nullopt;
    if (n.op == OpKind::Neg) return Poly::constant(0).plus(*a, -1);
    if (n.op == OpKind::Pow) {
      auto e = constScalar(n.operand(1));
      if (!e || (*e != 2 && *e != 3)) return std::nullopt;
      auto r = a->times(*a);
      return r && *e == 3 ? r->times(*a) : r;
    }
    if (n.op == OpKind::Div) {
      auto k = constScalar(n.operand(1));
      if (!k || *k == 0) return std::nullopt;
      return a->times(Poly::constant(1 / *k));
    }
    auto b = value(n.operand(1), depth + 1);
    if (!b) return std::nullopt;
    if (n.op == OpKind::Mul) return a->times(*b);
    return a->plus(*b, n.op == OpKind::Add ? 1 : -1);
  }

  std::optional<Poly> value(const Value* v, int depth = 0) const {
    if (!v) return std::nullopt;
    if (v == x_) return Poly::x();
    if (t_ && v == t_) return Poly::t();
    if (v->isConstant()) {
      auto k = constScalar(v);
      return k ? std::optional<Poly>(Poly::constant(*k)) : std::nullopt;
    }
    const Node* n = defOf(v);
    if (!n || !hasOneUse(g_, v)) return std::nullopt;
    return node(*n, depth);
  }

 private:
  const ir::Graph& g_;
  const Value* x_;
  const Value* t_;
};

/// The non-constant values an expression tree bottoms out in: what is not
/// a one-use arithmetic node. A GELU argument has exactly one, X.
void collectLeaves(const ir::Graph& g, const Value* v, std::vector<const Value*>& out, int depth = 0) {
  if (!v || v->isConstant()) return;
  const Node* n = defOf(v);
  if (depth > 12 || !n || !isArithmetic(n->op) || !hasOneUse(g, v)) {
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
    return;
  }
  for (const Value* o : n->operands) collectLeaves(g, o, out, depth + 1);
}

/// Matches activation(a(X)) with `want` the polynomial a, then climbs from
/// the activation through one-use arithmetic until a node computes
/// X/2 + X t/2; replaces that node with `fused`(X).
MatchResult fuseActivation(Node& act, Rewriter& rw, const Poly& wantArg, const char* what, OpKind fused,
                           std::map<std::string, ir::Attr> attrs) {
  const ir::Graph& g = rw.graph();
  std::vector<const Value*> leaves;
  collectLeaves(g, act.operand(0), leaves);
  const Node* argNode = defOf(act.operand(0));
  if (leaves.size() != 1 || !argNode || !isArithmetic(argNode->op) || !hasOneUse(g, act.operand(0)))
    return MatchResult::miss("the argument is not a one-use arithmetic expression of one tensor X, so this is a plain " +
                             std::string(ir::opName(act.op)));
  Value* x = const_cast<Value*>(leaves[0]);
  if (!ir::isFloat(x->type.dtype)) return MatchResult::miss("X is not a float tensor");
  auto arg = PolyReader(g, x, nullptr).node(*argNode);
  if (!arg)
    return MatchResult::miss("the argument is not a polynomial in one tensor X over scalar constants, so this is a plain " +
                             std::string(ir::opName(act.op)));
  if (!arg->near(wantArg)) return MatchResult::miss("the argument is " + arg->str() + ", not " + what);

  Poly wantProduct;
  wantProduct.c[1][0] = 0.5;
  wantProduct.c[1][1] = 0.5;
  PolyReader product(g, x, act.result());
  Node* top = nullptr;
  Value* cur = act.result();
  for (int step = 0; step < 6 && !top; ++step) {
    if (!hasOneUse(g, cur)) break;
    Node* u = g.users(cur)[0];
    if (!isArithmetic(u->op)) break;
    auto p = product.node(*u);
    if (p && p->near(wantProduct)) top = u;
    cur = u->result();
  }
  if (!top)
    return MatchResult::miss("no one-use product around " + std::string(ir::opName(act.op)) +
                             " computes 0.5 * X * (1 + t)");
  if (!(top->result()->type == x->type))
    return MatchResult::miss("a constant broadcasts the result to " + top->result()->type.str(g.symbols()) +
                             ", not X's shape");
  Node* n = rw.create(top, fused, fusedName(act, *top, ir::opName(fused)), {x}, std::move(attrs));
  rw.replace(top->result(), n->result());
  return MatchResult::ok();
}

MatchResult fuseErfGelu(Node& erf, Rewriter& rw) {
  Poly arg;
  arg.c[1][0] = kSqrtHalf;
  return fuseActivation(erf, rw, arg, "X / sqrt(2)", OpKind::Gelu, {{"approximate", std::string("none")}});
}

MatchResult fuseTanhGelu(Node& tanh, Rewriter& rw) {
  Poly arg;
  arg.c[1][0] = kSqrt2OverPi;
  arg.c[3][0] = kSqrt2OverPi * kGeluCubic;
  return fuseActivation(tanh, rw, arg, "sqrt(2/pi) * (X + 0.044715 X^3)", OpKind::FastGelu, {});
}

/// Gelu {approximate="tanh"} -> FastGelu: the same function, the op the
/// backends implement.
MatchResult tanhGeluOpToFastGelu(Node& gelu, Rewriter& rw) {
  if (gelu.getString("approximate", "none") != "tanh") return MatchResult::miss("");
  Node* n = rw.create(&gelu, OpKind::FastGelu, fusedName(gelu, gelu, "FastGelu"), {gelu.operand(0)});
  rw.replace(gelu.result(), n->result());
  return MatchResult::ok();
}

/// Gelu(Add(X, B)) -> BiasGelu(X, B); FastGelu(Add(X, B)) -> FastGelu(X, B).
MatchResult foldBias(Node& gelu, Rewriter& rw) {
  const ir::Graph& g = rw.graph();
  OpKind fused = gelu.op == OpKind::Gelu ? OpKind::BiasGelu : OpKind::FastGelu;
  if (gelu.op == OpKind::Gelu && gelu.getString("approximate", "none") != "none")
    return MatchResult::miss("a tanh Gelu (fuse-gelu makes it a FastGelu first)");
  if (gelu.op == OpKind::FastGelu && gelu.operand(1)) return MatchResult::miss("");  // already has its bias
  Node* add = defOf(gelu.operand(0), OpKind::Add);
  if (!add) return MatchResult::miss("the operand is not an Add (no bias to fold)");
  auto hidden = constDim(add->result(), -1);
  Value* x = nullptr;
  Value* bias = nullptr;
  for (size_t i = 0; i < 2; ++i)
    if (hidden && isConstVector(add->operand(i), *hidden) && !add->operand(1 - i)->isConstant())
      bias = add->operand(i), x = add->operand(1 - i);
  if (!bias) return MatchResult::miss("the Add has no constant [H] vector operand (H = the last dim)");
  if (!(x->type == add->result()->type) || bias->type.dtype != x->type.dtype)
    return MatchResult::miss("the bias broadcasts X to another shape");
  if (!hasOneUse(g, add->result())) return MatchResult::miss("the biased value has other uses");
  Node* n = rw.create(&gelu, fused, fusedName(*add, gelu, ir::opName(fused)), {x, rw.vector1d(bias)});
  rw.replace(gelu.result(), n->result());
  return MatchResult::ok();
}

}  // namespace

size_t fuseGelu(ir::Graph& g, PassContext& ctx) {
  return applyPatterns(g, ctx, "fuse-gelu",
                       {{"erf-gelu", OpKind::Erf, fuseErfGelu},
                        {"tanh-gelu", OpKind::Tanh, fuseTanhGelu},
                        {"tanh-gelu-op", OpKind::Gelu, tanhGeluOpToFastGelu}});
}

size_t fuseBiasGelu(ir::Graph& g, PassContext& ctx) {
  return applyPatterns(g, ctx, "fuse-bias-gelu",
                       {{"bias-gelu", OpKind::Gelu, foldBias}, {"bias-fast-gelu", OpKind::FastGelu, foldBias}});
}

}  // namespace bertc::passes
