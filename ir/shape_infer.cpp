/// Shape inference: the driver, shared helpers, and the elementwise and
/// linear-algebra rules. Data-movement rules live in shape_infer_movement.cpp.
#include "ir/shape_infer.h"

#include <algorithm>
#include <cmath>

#include "ir/shape_rules.h"

namespace bertc::ir {
namespace rules {

const Value& Ctx::in(size_t i) const {
  const Value* v = n.operand(i);
  if (!v) fail("operand " + std::to_string(i) + " is missing");
  if (!v->type.known()) fail("operand " + std::to_string(i) + " ('" + v->name + "') has no type");
  return *v;
}

std::optional<std::vector<int64_t>> Ctx::constInts(size_t i) const {
  const auto& s = sym(i);
  if (!s) return std::nullopt;
  std::vector<int64_t> out;
  for (const auto& e : *s) {
    auto c = e.constValue();
    if (!c) return std::nullopt;
    out.push_back(*c);
  }
  return out;
}

SymExpr Ctx::fresh(const std::string& what) const {
  return SymExpr::symbol(syms.derived(what + " of node '" + n.name + "'"));
}

size_t normAxis(const Ctx& c, int64_t axis, size_t rank) {
  auto r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r)
    c.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return static_cast<size_t>(axis < 0 ? axis + r : axis);
}

Shape broadcast(const Ctx& c, const std::vector<const Shape*>& shapes) {
  size_t rank = 0;
  for (const Shape* s : shapes) rank = std::max(rank, s->size());
  Shape out(rank, SymExpr(1));
  for (size_t k = 0; k < rank; ++k) {  // k counts from the right
    std::optional<SymExpr> dim;
    for (const Shape* s : shapes) {
      if (k >= s->size()) continue;
      const SymExpr& d = (*s)[s->size() - 1 - k];
      if (d.constValue() == 1) continue;
      if (!dim) {
        dim = d;
      } else if (*dim != d) {
        auto a = dim->constValue(), b = d.constValue();
        if (a && b) c.fail("cannot broadcast dims " + std::to_string(*a) + " and " + std::to_string(*b));
        // Symbolic dims that differ: at run time both must equal (or be 1).
        // A constant wins, since the symbolic one must be equal to it or 1;
        // a named symbol remembers it, for the importer to unify.
        auto note = [&](const SymExpr& sym, int64_t value) {
          if (auto id = sym.asSymbol(); id && c.syms[*id].definition.empty()) c.syms[*id].broadcastsWith = value;
        };
        if (a) note(d, *a);
        if (b) note(*dim, *b);
        if (b) dim = d;
        else if (!a) dim = c.fresh("broadcast(" + c.str(*dim) + ", " + c.str(d) + ")");
      }
    }
    out[rank - 1 - k] = dim ? *dim : SymExpr(1);
  }
  return out;
}

NodeTypes one(Type t, std::optional<std::vector<SymExpr>> symbolic) {
  NodeTypes r;
  r.types.push_back(std::move(t));
  r.symbolic.push_back(std::move(symbolic));
  return r;
}

namespace {

using E = ElementwiseOp;
using L = LinalgOp;

/// Elementwise binary op on symbolic contents (a scalar broadcasts).
std::optional<std::vector<SymExpr>> symBinary(const Ctx& c, ElementwiseOp op) {
  const auto& a = c.sym(0);
  const auto& b = c.sym(1);
  if (!a || !b) return std::nullopt;
  if (a->size() != b->size() && a->size() != 1 && b->size() != 1) return std::nullopt;
  // Broadcasting an empty side gives nothing (sizes 0 and 1 broadcast to 0).
  if (a->empty() || b->empty()) return std::vector<SymExpr>{};
  size_t n = std::max(a->size(), b->size());
  std::vector<SymExpr> out;
  for (size_t i = 0; i < n; ++i) {
    const SymExpr& x = (*a)[a->size() == 1 ? 0 : i];
    const SymExpr& y = (*b)[b->size() == 1 ? 0 : i];
    switch (op) {
      case E::Add: out.push_back(x + y); break;
      case E::Sub: out.push_back(x - y); break;
      case E::Mul: out.push_back(x * y); break;
      case E::Div: {
        auto xc = x.constValue(), yc = y.constValue();
        if (xc && yc && *yc != 0) {
          out.emplace_back(*xc / *yc);  // ONNX integer Div truncates, like C++
        } else if (auto q = x.divExact(y)) {
          out.push_back(*q);
        } else {
          return std::nullopt;
        }
        break;
      }
      case E::Max: case E::Min: {
        auto xc = x.constValue(), yc = y.constValue();
        if (x == y) out.push_back(x);
        else if (xc && yc) out.emplace_back(op == E::Max ? std::max(*xc, *yc) : std::min(*xc, *yc));
        else return std::nullopt;
        break;
      }
      case E::Equal: case E::Less: case E::Greater: case E::LessOrEqual:
      case E::GreaterOrEqual: {
        auto xc = x.constValue(), yc = y.constValue();
        if (op == E::Equal && x == y) { out.emplace_back(1); break; }
        if (!xc || !yc) {
          // A dim against a constant below its lower bound (the exporters'
          // `Where(Equal(shape, -1), 1, shape)`): dims are >= their bounds.
          auto lx = x.lowerBound(c.syms), ly = y.lowerBound(c.syms);
          if (xc && ly && *xc < *ly && (op == E::Equal || op == E::Less || op == E::LessOrEqual ||
                                        op == E::Greater || op == E::GreaterOrEqual)) {
            bool v = op == E::Less || op == E::LessOrEqual;  // const < dim
            out.emplace_back(op == E::Equal ? 0 : v ? 1 : 0);
            break;
          }
          if (yc && lx && *yc < *lx) {
            bool v = op == E::Greater || op == E::GreaterOrEqual;  // dim > const
            out.emplace_back(op == E::Equal ? 0 : v ? 1 : 0);
            break;
          }
          return std::nullopt;
        }
        bool v = op == E::Equal ? *xc == *yc : op == E::Less ? *xc < *yc
                 : op == E::Greater ? *xc > *yc : op == E::LessOrEqual ? *xc <= *yc : *xc >= *yc;
        out.emplace_back(v ? 1 : 0);
        break;
      }
      case E::Pow: case E::Mod: case E::And: case E::Or:
        return std::nullopt;  // no symbolic rule
      // Not binary: never here.
      case E::Where: case E::Not: case E::Neg: case E::Abs: case E::Sign: case E::Sqrt: case E::Reciprocal:
      case E::Exp: case E::Log: case E::Erf: case E::Tanh: case E::Sigmoid: case E::Relu: case E::Floor:
      case E::Ceil: case E::IsNaN: case E::IsInf: case E::Gelu: case E::Clip: case E::Cast: case E::Identity:
        BERTC_INTERNAL_ASSERT(false, "symBinary: not a binary op");
    }
  }
  return out;
}

bool isComparison(ElementwiseOp op) {
  return op == E::Equal || op == E::Less || op == E::Greater || op == E::LessOrEqual || op == E::GreaterOrEqual;
}

}  // namespace

NodeTypes infer(const Ctx& c, ElementwiseOp op) {
  const Node& n = c.n;
  switch (op) {
    case E::Add: case E::Sub: case E::Mul: case E::Div: case E::Mod:
    case E::Equal: case E::Less: case E::Greater: case E::LessOrEqual:
    case E::GreaterOrEqual: case E::And: case E::Or: case E::Max: case E::Min:
    case E::Pow: {
      std::vector<const Shape*> shapes;
      DType dt = c.type(0).dtype;
      for (size_t i = 0; i < n.operands.size(); ++i) {
        shapes.push_back(&c.type(i).shape);
        if (op != E::Pow && c.type(i).dtype != dt)
          c.fail("operands have different element types: " + c.str(c.type(0)) + " and " + c.str(c.type(i)));
      }
      if ((op == E::And || op == E::Or) && dt != DType::Bool) c.fail("operands must be bool");
      Type t{isComparison(op) || op == E::And || op == E::Or ? DType::Bool : dt, broadcast(c, shapes)};
      std::optional<std::vector<SymExpr>> s;
      if (n.operands.size() == 2 && t.rank() <= 1) s = symBinary(c, op);
      return one(std::move(t), std::move(s));
    }
    case E::Where: {
      if (c.type(0).dtype != DType::Bool) c.fail("condition must be bool, got " + c.str(c.type(0)));
      if (c.type(1).dtype != c.type(2).dtype)
        c.fail("branches have different element types: " + c.str(c.type(1)) + " and " + c.str(c.type(2)));
      Type t{c.type(1).dtype, broadcast(c, {&c.type(0).shape, &c.type(1).shape, &c.type(2).shape})};
      std::optional<std::vector<SymExpr>> s;
      if (t.rank() <= 1 && c.sym(0) && c.sym(1) && c.sym(2)) {
        auto cond = c.constInts(0);
        const auto &x = *c.sym(1), &y = *c.sym(2);
        size_t len = std::max({cond ? cond->size() : 0, x.size(), y.size()});
        if (cond && (cond->size() == len || cond->size() == 1) && (x.size() == len || x.size() == 1) &&
            (y.size() == len || y.size() == 1)) {
          std::vector<SymExpr> out;
          for (size_t i = 0; i < len; ++i)
            out.push_back((*cond)[cond->size() == 1 ? 0 : i] ? x[x.size() == 1 ? 0 : i] : y[y.size() == 1 ? 0 : i]);
          s = std::move(out);
        }
      }
      return one(std::move(t), std::move(s));
    }
    case E::Not:
      if (c.type(0).dtype != DType::Bool) c.fail("operand must be bool");
      return one(c.type(0));
    case E::IsNaN: case E::IsInf:
      if (!isFloat(c.type(0).dtype)) c.fail("operand must be a float tensor");
      return one(Type{DType::Bool, c.type(0).shape});
    case E::Sqrt: case E::Reciprocal: case E::Exp: case E::Log: case E::Erf:
    case E::Tanh: case E::Sigmoid: case E::Gelu: case E::Floor: case E::Ceil:
      if (!isFloat(c.type(0).dtype)) c.fail("operand must be a float tensor, got " + c.str(c.type(0)));
      if (op == E::Gelu) {
        std::string approx = n.getString("approximate", "none");
        if (approx != "none" && approx != "tanh") c.fail("approximate must be 'none' or 'tanh', got '" + approx + "'");
      }
      return one(c.type(0));
    case E::Neg: case E::Abs: case E::Sign: case E::Relu: case E::Identity: {
      std::optional<std::vector<SymExpr>> s;
      if (op == E::Identity) s = c.sym(0);
      if (op == E::Neg && c.sym(0)) {
        s.emplace();
        for (const auto& e : *c.sym(0)) s->push_back(-e);
      }
      return one(c.type(0), std::move(s));
    }
    case E::Clip:
      for (size_t i = 1; i < 3; ++i) {
        if (!c.has(i)) continue;
        if (c.type(i).dtype != c.type(0).dtype) c.fail("min/max must have the input's element type");
        if (c.type(i).rank() != 0 && c.type(i).numel() != SymExpr(1)) c.fail("min/max must be scalars");
      }
      return one(c.type(0));
    case E::Cast: {
      auto to = dtypeFromOnnx(static_cast<int32_t>(n.getInt("to", 0)));
      if (!to) c.fail("unsupported target type code " + std::to_string(n.getInt("to", 0)));
      std::optional<std::vector<SymExpr>> s;
      if (isInteger(*to) && isInteger(c.type(0).dtype)) s = c.sym(0);
      return one(Type{*to, c.type(0).shape}, std::move(s));
    }
  }
  BERTC_INTERNAL_ASSERT(false, "infer: not an elementwise op");
}

NodeTypes infer(const Ctx& c, LinalgOp op) {
  const Node& n = c.n;
  switch (op) {
    case L::MatMul: {
      const Type &a = c.type(0), &b = c.type(1);
      if (a.dtype != b.dtype) c.fail("operands have different element types: " + c.str(a) + " and " + c.str(b));
      if (a.rank() == 0 || b.rank() == 0) c.fail("operands must have rank >= 1");
      Shape sa = a.shape, sb = b.shape;
      bool vecA = sa.size() == 1, vecB = sb.size() == 1;
      if (vecA) sa.insert(sa.begin(), SymExpr(1));
      if (vecB) sb.push_back(SymExpr(1));
      const SymExpr &k1 = sa[sa.size() - 1], &k2 = sb[sb.size() - 2];
      if (k1 != k2) {
        auto x = k1.constValue(), y = k2.constValue();
        if (x && y) c.fail("inner dims differ: " + c.str(a) + " x " + c.str(b));
      }
      Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
      Shape out = broadcast(c, {&ba, &bb});
      if (!vecA) out.push_back(sa[sa.size() - 2]);
      if (!vecB) out.push_back(sb[sb.size() - 1]);
      return one(Type{a.dtype, out});
    }
    case L::Gemm: {
      const Type &a = c.type(0), &b = c.type(1);
      if (a.rank() != 2 || b.rank() != 2) c.fail("A and B must be 2-D, got " + c.str(a) + " and " + c.str(b));
      if (a.dtype != b.dtype) c.fail("operands have different element types");
      bool ta = n.getInt("transA", 0) != 0, tb = n.getInt("transB", 0) != 0;
      SymExpr m = a.shape[ta ? 1 : 0], ka = a.shape[ta ? 0 : 1];
      SymExpr kb = b.shape[tb ? 1 : 0], nn = b.shape[tb ? 0 : 1];
      if (ka != kb && ka.isConst() && kb.isConst()) c.fail("inner dims differ: " + c.str(a) + " x " + c.str(b));
      Shape out{m, nn};
      if (c.has(2)) {
        if (c.type(2).dtype != a.dtype) c.fail("C has a different element type");
        Shape bc = broadcast(c, {&out, &c.type(2).shape});
        if (bc != out) c.fail("C " + c.str(c.type(2)) + " does not broadcast to the result");
      }
      return one(Type{a.dtype, out});
    }
    case L::Softmax:
      if (!isFloat(c.type(0).dtype)) c.fail("operand must be a float tensor");
      normAxis(c, n.getInt("axis", -1), c.type(0).rank());
      return one(c.type(0));
    case L::LayerNorm: {
      const Type& x = c.type(0);
      if (!isFloat(x.dtype)) c.fail("operand must be a float tensor");
      size_t axis = normAxis(c, n.getInt("axis", -1), x.rank());
      Shape norm(x.shape.begin() + static_cast<std::ptrdiff_t>(axis), x.shape.end());
      for (size_t i = 1; i < 3; ++i) {
        if (!c.has(i)) continue;
        if (c.type(i).dtype != x.dtype) c.fail("scale/bias element type differs from the input");
        Shape bc = broadcast(c, {&norm, &c.type(i).shape});
        if (bc != norm) c.fail("scale/bias " + c.str(c.type(i)) + " does not broadcast to the normalised dims");
      }
      return one(x);
    }
    case L::ReduceMean: case L::ReduceSum: case L::ReduceMax: {
      const Type& x = c.type(0);
      std::vector<int64_t> axes = n.getInts("axes");
      bool keep = n.getInt("keepdims", 1) != 0;
      std::vector<bool> reduced(x.rank(), false);
      if (axes.empty()) {
        if (n.getInt("noop_with_empty_axes", 0) != 0) return one(x, c.sym(0));
        std::fill(reduced.begin(), reduced.end(), true);
      }
      for (int64_t a : axes) reduced[normAxis(c, a, x.rank())] = true;
      Shape out;
      for (size_t i = 0; i < x.rank(); ++i) {
        if (!reduced[i]) out.push_back(x.shape[i]);
        else if (keep) out.push_back(SymExpr(1));
      }
      return one(Type{x.dtype, out});
    }
    case L::CumSum: {
      if (c.type(1).rank() > 1 || c.type(1).numel() != SymExpr(1)) c.fail("axis must be a scalar");
      if (auto ax = c.constInts(1)) normAxis(c, (*ax)[0], c.type(0).rank());
      return one(c.type(0));
    }
  }
  BERTC_INTERNAL_ASSERT(false, "infer: not a linear-algebra op");
}

}  // namespace rules

NodeTypes inferNodeUnchecked(const Node& n, SymbolTable& syms);

NodeTypes inferNode(const Node& n, SymbolTable& syms) {
  try {
    return inferNodeUnchecked(n, syms);
  } catch (const UserError& e) {
    // Errors from shared helpers (SymExpr's overflow checks) do not know the node.
    std::string msg = e.what();
    if (msg.rfind("node '", 0) == 0) throw;
    throw UserError(n.describe() + ": " + msg);
  }
}

NodeTypes inferNodeUnchecked(const Node& n, SymbolTable& syms) {
  rules::Ctx c{n, syms};
  const OpInfo& info = opInfo(n.op);
  auto count = static_cast<int>(n.operands.size());
  if (count < info.minOperands || (info.maxOperands >= 0 && count > info.maxOperands))
    c.fail("has " + std::to_string(count) + " operands, expected " + std::to_string(info.minOperands) +
           (info.maxOperands < 0 ? " or more" : info.maxOperands == info.minOperands ? "" : " to " + std::to_string(info.maxOperands)));
  for (int i = 0; i < info.minOperands; ++i)
    if (!n.operands[static_cast<size_t>(i)]) c.fail("required operand " + std::to_string(i) + " is missing");
  NodeTypes r = visitOp(n.op, [&](auto op) { return rules::infer(c, op); });
  if (r.types.size() != n.results.size() && !(info.results < 0 && r.types.size() == n.results.size()))
    c.fail("has " + std::to_string(n.results.size()) + " results, expected " + std::to_string(r.types.size()));
  return r;
}

Status inferShapes(Graph& g) {
  return catchUserError([&]() -> Status {
    for (const auto& n : g.nodes()) {
      NodeTypes r = inferNode(*n, g.symbols());
      for (size_t i = 0; i < n->results.size(); ++i) {
        n->results[i]->type = std::move(r.types[i]);
        n->results[i]->symbolic = std::move(r.symbolic[i]);
      }
    }
    return Status();
  });
}

}  // namespace bertc::ir
