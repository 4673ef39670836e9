/// Symbolic element-wise evaluation of attention mask paths; see
/// attention_mask.h for what it proves and why it is written this way.
///
/// Soundness rests on three rules: an index expression is an affine form in
/// the scores' position variables (b, n, q, k) whose coefficients are
/// polynomials in the graph's symbolic dims; a comparison or a division is
/// only resolved when the interval arithmetic over the variables' ranges
/// [0, extent) decides it for every value; anything else (a non-affine
/// index, a float that depends on a position, an op not listed here) fails
/// the proof. Shapes come from shape inference, which every pass trusts.
#include "passes/attention_mask.h"

#include <array>
#include <cmath>
#include <map>

#include "ir/status.h"
#include "ir/tensor.h"

namespace bertc::passes {
namespace {

using ir::DType;
using ir::Node;
using ir::OpKind;
using ir::SymExpr;
using ir::Value;

/// The scores' position variables.
constexpr size_t kVars = 4;
constexpr const char* kVarNames[kVars] = {"batch", "head", "query", "key"};
constexpr size_t kBatch = 0, kKey = 3;

/// Thrown inside the evaluator when the proof fails; caught at the entry point.
struct Miss {
  std::string why;
};

[[noreturn]] void miss(const Node& n, const std::string& why) { throw Miss{n.describe() + ": " + why}; }

/// c + sum coef[i] * var_i, with polynomial (symbolic-dim) coefficients.
struct Affine {
  SymExpr c;
  std::array<SymExpr, kVars> coef{};

  static Affine var(size_t i) {
    Affine a;
    a.coef[i] = SymExpr(1);
    return a;
  }
  bool isConst() const {
    for (const auto& k : coef)
      if (k != SymExpr(0)) return false;
    return true;
  }
  bool isVar(size_t i) const {
    if (c != SymExpr(0)) return false;
    for (size_t j = 0; j < kVars; ++j)
      if (coef[j] != SymExpr(j == i ? 1 : 0)) return false;
    return true;
  }
  friend Affine operator+(Affine a, const Affine& b) {
    a.c = a.c + b.c;
    for (size_t i = 0; i < kVars; ++i) a.coef[i] = a.coef[i] + b.coef[i];
    return a;
  }
  friend Affine operator*(Affine a, const SymExpr& k) {
    a.c = a.c * k;
    for (auto& x : a.coef) x = x * k;
    return a;
  }
  Affine operator-() const { return *this * SymExpr(-1); }
  friend Affine operator-(const Affine& a, const Affine& b) { return a + (-b); }
};

/// One element: integers and bools (0/1) are affine; floats are constants,
/// because a float that depends on a position is never a padding mask.
struct Elem {
  bool isFloat = false;
  Affine i;
  double f = 0;
  static Elem ofInt(SymExpr c) {
    Elem e;
    e.i.c = std::move(c);
    return e;
  }
  static Elem ofFloat(double f) {
    Elem e;
    e.isFloat = true;
    e.f = f;
    return e;
  }
};

double roundTo(DType t, double x) { return t == DType::F64 ? x : static_cast<double>(static_cast<float>(x)); }

class Evaluator {
 public:
  Evaluator(const ir::Graph& g, const ir::Shape& scores, double m) : syms_(g.symbols()), m_(m) {
    for (size_t i = 0; i < kVars; ++i) extent_[i] = scores[i];
  }

  const Value* maskInput = nullptr;

  /// v's element at index `idx` (one affine form per dim of v).
  Elem at(const Value* v, const std::vector<Affine>& idx) {
    if (--budget_ < 0) throw Miss{"the mask path is too large to evaluate"};
    if (v->isConstant()) return constantAt(*v, idx);
    if (v->isInput) return inputAt(*v, idx);
    if (v->symbolic && ir::isInteger(v->type.dtype) && v->type.rank() <= 1) {
      size_t k = 0;
      if (!idx.empty()) k = static_cast<size_t>(constIndex(idx[0], nullptr, "a shape vector index"));
      if (k < v->symbolic->size()) return Elem::ofInt((*v->symbolic)[k]);
    }
    BERTC_INTERNAL_ASSERT(v->producer, "a value with no producer that is neither input nor constant");
    return nodeAt(*v->producer, *v, idx);
  }

  /// Decides a >= 0 for every value of the variables; nullopt if undecided.
  std::optional<bool> decideNonNegative(const Affine& a) const {
    if (provablyNonNegative(a)) return true;
    if (provablyNonNegative(-a - one())) return false;
    return std::nullopt;
  }

 private:
  static Affine one() { return Affine{SymExpr(1), {}}; }

  /// The sign of a polynomial over the symbols' bounds: +1, -1, 0, or nullopt.
  std::optional<int> sign(const SymExpr& k) const {
    if (k == SymExpr(0)) return 0;
    if (auto lb = k.lowerBound(syms_); lb && *lb >= 0) return 1;
    if (auto lb = (-k).lowerBound(syms_); lb && *lb >= 0) return -1;
    return std::nullopt;
  }

  /// True if a >= 0 at every point of the variables' box [0, extent - 1].
  bool provablyNonNegative(const Affine& a) const {
    SymExpr lo = a.c;
    for (size_t i = 0; i < kVars; ++i) {
      auto s = sign(a.coef[i]);
      if (!s) return false;
      if (*s < 0) lo = lo + a.coef[i] * (extent_[i] - SymExpr(1));
    }
    auto lb = lo.lowerBound(syms_);
    return lb && *lb >= 0;
  }

  /// a as a constant integer (an index into a constant or a shape vector).
  int64_t constIndex(const Affine& a, const Node* n, const char* what) const {
    auto c = a.isConst() ? a.c.constValue() : std::nullopt;
    if (!c) {
      if (n) miss(*n, std::string(what) + " depends on the position");
      throw Miss{std::string(what) + " depends on the position"};
    }
    return *c;
  }

  /// Floor division and remainder by a positive dim d, when the remainder is
  /// provably in [0, d) (what reshapes and flattened gathers need).
  std::pair<Affine, Affine> divMod(const Node& n, const Affine& a, const SymExpr& d) const {
    if (d == SymExpr(1)) return {a, Affine{}};
    if (auto dc = d.constValue(); dc && *dc <= 0) miss(n, "index arithmetic over a dim of size " + std::to_string(*dc));
    Affine q, r;
    auto split = [&](const SymExpr& k, SymExpr& qk, SymExpr& rk) {
      if (auto e = k.divExact(d)) {
        qk = *e;
      } else if (k.constValue() && d.constValue()) {
        int64_t kk = *k.constValue(), dd = *d.constValue(), fq = kk / dd - ((kk % dd) < 0);
        qk = SymExpr(fq), rk = SymExpr(kk - fq * dd);
      } else {
        rk = k;
      }
    };
    split(a.c, q.c, r.c);
    for (size_t i = 0; i < kVars; ++i) split(a.coef[i], q.coef[i], r.coef[i]);
    Affine dMinus1{d - SymExpr(1), {}};
    if (!provablyNonNegative(r) || !provablyNonNegative(dMinus1 - r))
      miss(n, "index arithmetic that is not a plain reshape");
    return {q, r};
  }

  /// idx over `to`'s dims, mapped onto `from`'s dims by numpy broadcasting.
  std::vector<Affine> broadcast(const Node& n, const ir::Shape& from, const ir::Shape& to,
                                const std::vector<Affine>& idx) const {
    if (from.size() > to.size()) miss(n, "an operand has a higher rank than the result");
    std::vector<Affine> out;
    size_t off = to.size() - from.size();
    for (size_t j = 0; j < from.size(); ++j) {
      if (from[j] == to[off + j]) out.push_back(idx[off + j]);
      else if (from[j] == SymExpr(1)) out.push_back(Affine{});
      else miss(n, "operand dims that do not broadcast statically");
    }
    return out;
  }

  /// Row-major reindexing: idx over `outDims` as an index over `inDims`.
  std::vector<Affine> reshape(const Node& n, const ir::Shape& outDims, const std::vector<Affine>& idx,
                              const ir::Shape& inDims) const {
    Affine linear;
    SymExpr stride(1);
    for (size_t i = outDims.size(); i-- > 0;) {
      linear = linear + idx[i] * stride;
      stride = stride * outDims[i];
    }
    std::vector<Affine> out(inDims.size());
    for (size_t j = inDims.size(); j-- > 0;) {
      auto [q, r] = divMod(n, linear, inDims[j]);
      out[j] = r;
      linear = q;
    }
    return out;
  }

  Elem constantAt(const Value& v, const std::vector<Affine>& idx) const {
    const ir::Tensor& t = *v.constant;
    size_t flat = 0;
    bool splat = true;
    for (int64_t i = 1; i < t.numel() && splat; ++i) splat = t.getDouble(static_cast<size_t>(i)) == t.getDouble(0);
    if (!splat) {
      for (size_t d = 0; d < idx.size(); ++d) {
        int64_t k = constIndex(idx[d], nullptr, ("an index into constant '" + v.name + "'").c_str());
        if (k < 0 || k >= t.shape()[d]) throw Miss{"an index into constant '" + v.name + "' is out of range"};
        flat = flat * static_cast<size_t>(t.shape()[d]) + static_cast<size_t>(k);
      }
    }
    if (t.numel() == 0) throw Miss{"constant '" + v.name + "' is empty"};
    if (ir::isFloat(t.dtype())) return Elem::ofFloat(t.getDouble(flat));
    return Elem::ofInt(SymExpr(t.getInt(flat)));
  }

  Elem inputAt(const Value& v, const std::vector<Affine>& idx) {
    bool isMask = v.type.rank() == 2 && v.type.shape[0] == extent_[kBatch] && v.type.shape[1] == extent_[kKey];
    if (!isMask) throw Miss{"the path reads graph input '" + v.name + "', which is not a [batch, keys] mask"};
    // Along an axis of extent 1 (a model fixed at batch 1) broadcasting
    // reads index 0, which is the same element as the variable.
    auto along = [&](const Affine& a, size_t var) {
      return a.isVar(var) || (extent_[var] == SymExpr(1) && a.isConst() && a.c == SymExpr(0));
    };
    if (!along(idx[0], kBatch) || !along(idx[1], kKey))
      throw Miss{"the path reads mask '" + v.name + "' somewhere other than [batch, key] (a per-query mask?)"};
    if (maskInput && maskInput != &v) throw Miss{"the path reads two mask inputs"};
    maskInput = &v;
    return ir::isFloat(v.type.dtype) ? Elem::ofFloat(m_) : Elem::ofInt(SymExpr(static_cast<int64_t>(m_)));
  }

  double asFloat(const Node& n, const Elem& e) const {
    if (e.isFloat) return e.f;
    return static_cast<double>(constIndex(e.i, &n, "an integer converted to float"));
  }
  bool asBool(const Node& n, const Elem& e) const {
    if (e.isFloat) return e.f != 0;
    auto nz = decideNonNegative(e.i - one());   // e >= 1
    auto neg = decideNonNegative(-e.i - one());  // e <= -1
    if (nz == true || neg == true) return true;
    if (nz == false && neg == false) return false;
    miss(n, "a condition that depends on the position");
  }
  Elem ofBool(bool b) const { return Elem::ofInt(SymExpr(b ? 1 : 0)); }

  /// Names the variables a - b depends on, for the message when a comparison is undecided.
  std::string dependence(const Affine& d) const {
    std::string s;
    for (size_t i = 0; i < kVars; ++i)
      if (d.coef[i] != SymExpr(0)) s += (s.empty() ? "" : " and ") + std::string(kVarNames[i]);
    return s.empty() ? "the sequence length" : s + " position";
  }

  Elem compare(const Node& n, const Elem& a, const Elem& b) const {
    if (a.isFloat || b.isFloat) {
      double x = asFloat(n, a), y = asFloat(n, b);
      switch (n.op) {
        case OpKind::Equal: return ofBool(x == y);
        case OpKind::Less: return ofBool(x < y);
        case OpKind::LessOrEqual: return ofBool(x <= y);
        case OpKind::Greater: return ofBool(x > y);
        default: return ofBool(x >= y);
      }
    }
    // Everything as `d >= 0` for a suitable d; Equal as two of them.
    Affine d = a.i - b.i;
    std::optional<bool> r;
    switch (n.op) {
      case OpKind::GreaterOrEqual: r = decideNonNegative(d); break;
      case OpKind::Greater: r = decideNonNegative(d - one()); break;
      case OpKind::LessOrEqual: r = decideNonNegative(-d); break;
      case OpKind::Less: r = decideNonNegative(-d - one()); break;
      default: {
        auto ge = decideNonNegative(d), le = decideNonNegative(-d);
        if (ge == false || le == false) r = false;
        else if (ge == true && le == true) r = true;
      }
    }
    if (!r) miss(n, "a comparison that depends on the " + dependence(d) + " (a causal or windowed mask?)");
    return ofBool(*r);
  }

  Elem arith(const Node& n, const Elem& a, const Elem& b, DType out) const {
    if (ir::isFloat(out)) {
      double x = asFloat(n, a), y = asFloat(n, b), r = 0;
      switch (n.op) {
        case OpKind::Add: r = x + y; break;
        case OpKind::Sub: r = x - y; break;
        case OpKind::Mul: r = x * y; break;
        case OpKind::Div: r = x / y; break;
        case OpKind::Max: r = std::max(x, y); break;
        default: r = std::min(x, y); break;
      }
      return Elem::ofFloat(roundTo(out, r));
    }
    switch (n.op) {
      case OpKind::Add: return Elem{false, a.i + b.i, 0};
      case OpKind::Sub: return Elem{false, a.i - b.i, 0};
      case OpKind::Mul:
        if (b.i.isConst()) return Elem{false, a.i * b.i.c, 0};
        if (a.i.isConst()) return Elem{false, b.i * a.i.c, 0};
        miss(n, "a product of two positions");
      case OpKind::Max: case OpKind::Min: {
        auto ge = decideNonNegative(a.i - b.i);
        if (!ge) miss(n, "a maximum or minimum that depends on the position");
        return (*ge == (n.op == OpKind::Max)) ? a : b;
      }
      default: {  // Div: non-negative integers only, where truncation is floor
        auto k = b.i.isConst() ? b.i.c.constValue() : std::nullopt;
        if (!k || *k <= 0 || decideNonNegative(a.i) != true) miss(n, "an integer division by a non-constant");
        return Elem{false, divMod(n, a.i, SymExpr(*k)).first, 0};
      }
    }
  }

  Elem cast(const Node& n, const Elem& e, DType to) const {
    if (to == DType::Bool) return ofBool(asBool(n, e));
    if (ir::isFloat(to)) return Elem::ofFloat(roundTo(to, asFloat(n, e)));
    if (e.isFloat) return Elem::ofInt(SymExpr(static_cast<int64_t>(std::trunc(e.f))));
    return e;
  }

  /// Normalises an index for Gather/GatherND: negative constants wrap, and
  /// the index must be provably within [0, dim).
  Affine checkedIndex(const Node& n, Affine i, const SymExpr& dim) const {
    if (decideNonNegative(i) != true) {
      if (!i.isConst() || !i.c.constValue() || *i.c.constValue() >= 0) miss(n, "an index that may be negative");
      i.c = i.c + dim;
    }
    Affine last{dim - SymExpr(1), {}};
    if (decideNonNegative(last - i) != true) miss(n, "an index that may be out of range");
    return i;
  }

  Elem nodeAt(const Node& n, const Value& v, const std::vector<Affine>& idx) {
    const ir::Shape& out = v.type.shape;
    auto operandAt = [&](size_t k) { return at(n.operand(k), broadcast(n, n.operand(k)->type.shape, out, idx)); };
    switch (n.op) {
      case OpKind::Identity: return at(n.operand(0), idx);
      case OpKind::Cast: return cast(n, at(n.operand(0), idx), static_cast<DType>(n.getInt("to", 0)));
      case OpKind::Add: case OpKind::Sub: case OpKind::Mul: case OpKind::Div: case OpKind::Max: case OpKind::Min:
        if (n.operands.size() != 2) miss(n, "not a binary op");
        return arith(n, operandAt(0), operandAt(1), v.type.dtype);
      case OpKind::Equal: case OpKind::Less: case OpKind::LessOrEqual: case OpKind::Greater:
      case OpKind::GreaterOrEqual:
        return compare(n, operandAt(0), operandAt(1));
      case OpKind::And: return ofBool(asBool(n, operandAt(0)) && asBool(n, operandAt(1)));
      case OpKind::Or: return ofBool(asBool(n, operandAt(0)) || asBool(n, operandAt(1)));
      case OpKind::Not: return ofBool(!asBool(n, operandAt(0)));
      case OpKind::Neg: {
        Elem e = operandAt(0);
        return e.isFloat ? Elem::ofFloat(-e.f) : Elem{false, -e.i, 0};
      }
      case OpKind::IsNaN: return ofBool(std::isnan(asFloat(n, operandAt(0))));
      case OpKind::Where: return asBool(n, operandAt(0)) ? operandAt(1) : operandAt(2);
      case OpKind::Expand: return at(n.operand(0), broadcast(n, n.operand(0)->type.shape, out, idx));
      case OpKind::Reshape: case OpKind::Flatten:
        return at(n.operand(0), reshape(n, out, idx, n.operand(0)->type.shape));
      case OpKind::Unsqueeze: {
        auto r = static_cast<int64_t>(out.size());
        std::vector<bool> inserted(out.size(), false);
        for (int64_t a : n.getInts("axes")) inserted[static_cast<size_t>(a < 0 ? a + r : a)] = true;
        std::vector<Affine> in;
        for (size_t i = 0; i < out.size(); ++i)
          if (!inserted[i]) in.push_back(idx[i]);
        return at(n.operand(0), in);
      }
      case OpKind::Squeeze: {
        // Squeeze drops size-1 dims: the input index is the output's with zeros where they were.
        const ir::Shape& inShape = n.operand(0)->type.shape;
        auto r = static_cast<int64_t>(inShape.size());
        std::vector<bool> dropped(inShape.size(), false);
        std::vector<int64_t> axes = n.getInts("axes");
        for (int64_t a : axes) dropped[static_cast<size_t>(a < 0 ? a + r : a)] = true;
        if (axes.empty())
          for (size_t i = 0; i < inShape.size(); ++i) dropped[i] = inShape[i] == SymExpr(1);
        std::vector<Affine> in;
        size_t k = 0;
        for (size_t i = 0; i < inShape.size(); ++i) in.push_back(dropped[i] ? Affine{} : idx.at(k++));
        return at(n.operand(0), in);
      }
      case OpKind::Transpose: {
        std::vector<int64_t> perm = n.getInts("perm");
        if (perm.empty())
          for (size_t i = out.size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
        std::vector<Affine> in(out.size());
        for (size_t i = 0; i < out.size(); ++i) in[static_cast<size_t>(perm[i])] = idx[i];
        return at(n.operand(0), in);
      }
      case OpKind::Gather: {
        const Value* data = n.operand(0);
        const Value* ind = n.operand(1);
        auto r = static_cast<int64_t>(data->type.rank());
        auto axis = static_cast<size_t>(n.getInt("axis", 0) < 0 ? n.getInt("axis", 0) + r : n.getInt("axis", 0));
        size_t q = ind->type.rank();
        std::vector<Affine> indIdx(idx.begin() + static_cast<std::ptrdiff_t>(axis),
                                   idx.begin() + static_cast<std::ptrdiff_t>(axis + q));
        Elem i = at(ind, indIdx);
        if (i.isFloat) miss(n, "float indices");
        std::vector<Affine> in(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(axis));
        in.push_back(checkedIndex(n, i.i, data->type.shape[axis]));
        in.insert(in.end(), idx.begin() + static_cast<std::ptrdiff_t>(axis + q), idx.end());
        return at(data, in);
      }
      case OpKind::GatherND: {
        const Value* data = n.operand(0);
        const Value* ind = n.operand(1);
        size_t q = ind->type.rank();
        auto width = q > 0 ? ind->type.shape[q - 1].constValue() : std::nullopt;
        if (n.getInt("batch_dims", 0) != 0 || !width) miss(n, "batch_dims or a symbolic index width");
        std::vector<Affine> in;
        for (int64_t j = 0; j < width.value_or(0); ++j) {
          std::vector<Affine> t(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(q - 1));
          t.push_back(Affine{SymExpr(j), {}});
          Elem e = at(ind, t);
          if (e.isFloat) miss(n, "float indices");
          in.push_back(checkedIndex(n, e.i, data->type.shape[static_cast<size_t>(j)]));
        }
        in.insert(in.end(), idx.begin() + static_cast<std::ptrdiff_t>(q - 1), idx.end());
        return at(data, in);
      }
      case OpKind::Concat: {
        auto r = static_cast<int64_t>(out.size());
        auto axis = static_cast<size_t>(n.getInt("axis", 0) < 0 ? n.getInt("axis", 0) + r : n.getInt("axis", 0));
        int64_t c = constIndex(idx[axis], &n, "the position along the concatenated axis");
        for (const Value* o : n.operands) {
          auto len = o->type.shape[axis].constValue();
          if (!len) miss(n, "a concatenation of symbolic lengths");
          if (c < *len) {
            std::vector<Affine> in = idx;
            in[axis] = Affine{SymExpr(c), {}};
            return at(o, in);
          }
          c -= *len;
        }
        miss(n, "a position past the concatenation");
      }
      case OpKind::Range: {
        Elem start = at(n.operand(0), {}), delta = at(n.operand(2), {});
        if (start.isFloat || delta.isFloat || !delta.i.isConst()) miss(n, "a float or symbolic-step range");
        return Elem{false, start.i + idx[0] * delta.i.c, 0};
      }
      case OpKind::ConstantOfShape: {
        const ir::Tensor* t = n.getTensor("value");
        if (!t) return Elem::ofFloat(0);
        return ir::isFloat(t->dtype()) ? Elem::ofFloat(t->getDouble(0)) : Elem::ofInt(SymExpr(t->getInt(0)));
      }
      default:
        miss(n, "an op the mask analysis does not model");
    }
  }

  const ir::SymbolTable& syms_;
  std::array<SymExpr, kVars> extent_;
  double m_;
  int budget_ = 100000;
};

}  // namespace

std::variant<MaskElement, std::string> evaluateMaskElement(const ir::Graph& g, const Value* v,
                                                          const ir::Shape& scores) {
  if (scores.size() != kVars) return std::string("the scores are not [batch, heads, queries, keys]");
  if (v->type.rank() > kVars) return std::string("the mask has a higher rank than the scores");
  MaskElement out;
  for (int m = 0; m < 2; ++m) {
    Evaluator ev(g, scores, m);
    // v broadcast against the scores: its dims align right.
    std::vector<Affine> idx;
    size_t off = kVars - v->type.rank();
    for (size_t j = 0; j < v->type.rank(); ++j) {
      if (v->type.shape[j] == scores[off + j]) idx.push_back(Affine::var(off + j));
      else if (v->type.shape[j] == SymExpr(1)) idx.push_back(Affine{});
      else return std::string("the mask's shape does not broadcast to the scores'");
    }
    try {
      Elem e = ev.at(v, idx);
      if (e.isFloat) {
        out.at[m] = e.f;
      } else if (auto c = e.i.isConst() ? e.i.c.constValue() : std::nullopt) {
        out.at[m] = static_cast<double>(*c);
      } else {
        return std::string("the mask value depends on the position");
      }
    } catch (const Miss& x) {
      return x.why;
    }
    if (ev.maskInput) {
      if (out.mask && out.mask != ev.maskInput) return std::string("the path reads two mask inputs");
      out.mask = ev.maskInput;
    }
  }
  return out;
}

}  // namespace bertc::passes
