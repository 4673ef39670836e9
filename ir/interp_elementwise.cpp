/// Reference semantics of the elementwise ops: binary arithmetic and
/// comparisons with numpy broadcasting, variadic Max/Min, Where, the unary
/// math functions, Gelu, Clip, Cast and Identity.
///
/// Floating values are computed in double and rounded once to the result
/// dtype; for + - * / that is exactly the float result ONNX Runtime computes,
/// and for the transcendental functions it is within an ulp of it. Integer
/// arithmetic wraps like two's complement hardware, and a zero divisor is an
/// error rather than a trap.
#include <cmath>
#include <limits>

#include "ir/interp_kernels.h"

namespace bertc::ir::interp {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Wrapping integer arithmetic: signed overflow is undefined in C++, unsigned is not.
int64_t wrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
int64_t wrapSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
int64_t wrapMul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

/// Integer division truncating toward zero (C and ONNX Runtime).
int64_t intDiv(int64_t a, int64_t b) {
  if (b == 0) fail("integer division by zero");
  if (b == -1) return wrapSub(0, a);  // INT64_MIN / -1 wraps instead of trapping
  return a / b;
}

/// Integer remainder: fmod=1 takes the sign of the dividend (C's %), fmod=0
/// the sign of the divisor (Python's %).
int64_t intMod(int64_t a, int64_t b, bool fmod) {
  if (b == 0) fail("integer modulo by zero");
  if (b == -1) return 0;
  int64_t r = a % b;
  if (!fmod && r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

/// a^b for integers by repeated squaring, wrapping; a negative exponent
/// gives the truncated real result (0 unless |a| == 1), as std::pow then a
/// cast does.
int64_t intPow(int64_t a, int64_t b) {
  if (b < 0) {
    if (a == 1) return 1;
    if (a == -1) return (b % 2 == 0) ? 1 : -1;
    if (a == 0) fail("0 raised to a negative integer power");
    return 0;
  }
  int64_t r = 1;
  while (b > 0) {
    if (b & 1) r = wrapMul(r, a);
    a = wrapMul(a, a);
    b >>= 1;
  }
  return r;
}

using E = ElementwiseOp;

bool isComparison(ElementwiseOp op) {
  return op == E::Equal || op == E::Less || op == E::LessOrEqual || op == E::Greater || op == E::GreaterOrEqual;
}

/// Writes fn(a[i], b[i]) for every element of the broadcast result, with
/// `load` reading an element in the op's value domain; fn's result type
/// (bool, int64 or double) picks how it is stored.
template <class Load, class Fn>
void mapBinary(Tensor& r, const Tensor& a, const Tensor& b, Load load, Fn fn) {
  BroadcastMap ma(a.shape(), r.shape()), mb(b.shape(), r.shape());
  int64_t n = r.numel();
  for (int64_t i = 0; i < n; ++i) {
    auto v = fn(load(a, ma(i)), load(b, mb(i)));
    if constexpr (std::is_same_v<decltype(v), double>)
      storeF(r, i, v);
    else
      storeI(r, i, static_cast<int64_t>(v));
  }
}

template <class Fn>
void mapF(Tensor& r, const Tensor& a, const Tensor& b, Fn fn) {
  mapBinary(r, a, b, loadF, fn);
}
template <class Fn>
void mapI(Tensor& r, const Tensor& a, const Tensor& b, Fn fn) {
  mapBinary(r, a, b, loadI, fn);
}
/// fn (generic) in a's value domain: double for floating a, int64 otherwise.
template <class Fn>
void mapFI(Tensor& r, const Tensor& a, const Tensor& b, Fn fn) {
  if (isFloating(a.dtype())) mapF(r, a, b, fn);
  else mapI(r, a, b, fn);
}

/// The broadcasting binary ops (Add..Or); `types` are the dtypes A may have.
/// Floating operands are computed in double, integers and bools in int64.
Tensor evalBinary(const KernelCtx& ctx, ElementwiseOp op, unsigned types) {
  const Tensor& a = ctx.operand(0, "A");
  const Tensor& b = ctx.operand(1, "B");
  requireType(a, types, "A");
  if (op == E::Pow) {
    // Pow alone lets the exponent's dtype differ from the base's.
    requireType(b, kNumeric, "B");
  } else {
    requireSameType(a, b, "A", "B");
  }
  DType outType = (isComparison(op)) ? DType::Bool : a.dtype();
  Tensor r = newTensor(outType, broadcastShapes({a.shape(), b.shape()}));
  const bool fp = isFloating(a.dtype());

  switch (op) {
    case E::Add:
      if (fp) mapF(r, a, b, [](double x, double y) { return x + y; });
      else mapI(r, a, b, wrapAdd);
      return r;
    case E::Sub:
      if (fp) mapF(r, a, b, [](double x, double y) { return x - y; });
      else mapI(r, a, b, wrapSub);
      return r;
    case E::Mul:
      if (fp) mapF(r, a, b, [](double x, double y) { return x * y; });
      else mapI(r, a, b, wrapMul);
      return r;
    case E::Div:
      if (fp) mapF(r, a, b, [](double x, double y) { return x / y; });
      else mapI(r, a, b, intDiv);
      return r;
    case E::Pow:
      if (fp) mapF(r, a, b, [](double x, double y) { return std::pow(x, y); });
      else if (isInt(b.dtype())) mapI(r, a, b, intPow);
      else  // integer base, real exponent: the real power truncated, as std::pow then a cast
        mapF(r, a, b, [](double x, double y) { return static_cast<double>(doubleToInt(std::pow(x, y))); });
      return r;
    case E::Mod:
      if (fp) {
        // ONNX requires fmod=1 for floating types (the sign-of-divisor form is integer-only).
        if (ctx.node.getInt("fmod", 0) != 1) fail("Mod of floating-point operands requires attribute fmod=1");
        mapF(r, a, b, [](double x, double y) { return std::fmod(x, y); });
      } else {
        bool fmod = ctx.node.getInt("fmod", 0) != 0;
        mapI(r, a, b, [fmod](int64_t x, int64_t y) { return intMod(x, y, fmod); });
      }
      return r;
    case E::Equal: mapFI(r, a, b, [](auto x, auto y) { return x == y; }); return r;
    case E::Less: mapFI(r, a, b, [](auto x, auto y) { return x < y; }); return r;
    case E::LessOrEqual: mapFI(r, a, b, [](auto x, auto y) { return x <= y; }); return r;
    case E::Greater: mapFI(r, a, b, [](auto x, auto y) { return x > y; }); return r;
    case E::GreaterOrEqual: mapFI(r, a, b, [](auto x, auto y) { return x >= y; }); return r;
    case E::And: mapI(r, a, b, [](int64_t x, int64_t y) { return x && y; }); return r;  // bools only
    case E::Or: mapI(r, a, b, [](int64_t x, int64_t y) { return x || y; }); return r;
    // Not broadcasting binary ops: evalOp never sends them here.
    case E::Max: case E::Min: case E::Where: case E::Not: case E::Neg: case E::Abs: case E::Sign: case E::Sqrt:
    case E::Reciprocal: case E::Exp: case E::Log: case E::Erf: case E::Tanh: case E::Sigmoid: case E::Relu:
    case E::Floor: case E::Ceil: case E::IsNaN: case E::IsInf: case E::Gelu: case E::Clip: case E::Cast:
    case E::Identity: break;
  }
  BERTC_INTERNAL_ASSERT(false, "evalBinary: not a binary op");
}

Tensor evalMinMax(const KernelCtx& ctx) {
  bool isMax = ctx.op() == OpKind::Max;
  std::vector<Dims> shapes;
  for (size_t i = 0; i < ctx.in.size(); ++i) {
    const Tensor& t = ctx.operand(i, "data_0");
    requireType(t, kNumeric, "operand");
    requireSameType(*ctx.in[0], t, "operand 0", "every other operand");
    shapes.push_back(t.shape());
  }
  Tensor r = newTensor(ctx.in[0]->dtype(), broadcastShapes(shapes));
  int64_t n = r.numel();
  std::vector<BroadcastMap> maps;
  for (const Dims& s : shapes) maps.emplace_back(s, r.shape());
  if (isFloating(r.dtype())) {
    for (int64_t i = 0; i < n; ++i) {
      double v = loadF(*ctx.in[0], maps[0](i));
      for (size_t k = 1; k < ctx.in.size(); ++k) {
        double x = loadF(*ctx.in[k], maps[k](i));
        if (std::isnan(x) || std::isnan(v))
          v = kNaN;  // NaN propagates, as numpy's maximum does
        else
          v = isMax ? std::max(v, x) : std::min(v, x);
      }
      storeF(r, i, v);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = loadI(*ctx.in[0], maps[0](i));
      for (size_t k = 1; k < ctx.in.size(); ++k) {
        int64_t x = loadI(*ctx.in[k], maps[k](i));
        v = isMax ? std::max(v, x) : std::min(v, x);
      }
      storeI(r, i, v);
    }
  }
  return r;
}

Tensor evalWhere(const KernelCtx& ctx) {
  const Tensor& c = ctx.operand(0, "condition");
  const Tensor& x = ctx.operand(1, "X");
  const Tensor& y = ctx.operand(2, "Y");
  requireType(c, kBool, "condition");
  requireType(x, kAny, "X");
  requireSameType(x, y, "X", "Y");
  Tensor r = newTensor(x.dtype(), broadcastShapes({c.shape(), x.shape(), y.shape()}));
  BroadcastMap mc(c.shape(), r.shape()), mx(x.shape(), r.shape()), my(y.shape(), r.shape());
  for (int64_t i = 0, n = r.numel(); i < n; ++i) {
    if (loadI(c, mc(i)))
      copyElems(r, i, x, mx(i), 1);
    else
      copyElems(r, i, y, my(i), 1);
  }
  return r;
}

double sign(double x) {
  if (std::isnan(x)) return x;
  return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0);
}

/// r[i] = f(x[i]) in double (x floating) or g(x[i]) in int64 (x integer or bool).
template <class F>
void mapUnaryF(Tensor& r, const Tensor& x, F f) {
  BERTC_INTERNAL_ASSERT(isFloating(x.dtype()), "mapUnaryF: not a floating tensor");
  for (int64_t i = 0, n = x.numel(); i < n; ++i) storeF(r, i, f(loadF(x, i)));
}
template <class G>
void mapUnaryI(Tensor& r, const Tensor& x, G g) {
  BERTC_INTERNAL_ASSERT(!isFloating(x.dtype()), "mapUnaryI: a floating tensor");
  for (int64_t i = 0, n = x.numel(); i < n; ++i) storeI(r, i, g(loadI(x, i)));
}
template <class F, class G>
void mapUnary(Tensor& r, const Tensor& x, F f, G g) {
  if (isFloating(x.dtype())) mapUnaryF(r, x, f);
  else mapUnaryI(r, x, g);
}

/// The unary ops (Not..Gelu); `types` are the dtypes X may have, and only
/// the ops that allow integers have an integer form.
Tensor evalUnary(const KernelCtx& ctx, ElementwiseOp op, unsigned types) {
  const Tensor& x = ctx.operand(0, "X");
  requireType(x, types, "X");
  bool toBool = op == E::IsNaN || op == E::IsInf;
  Tensor r = newTensor(toBool ? DType::Bool : x.dtype(), x.shape());

  bool tanhApprox = false, detectPos = true, detectNeg = true;
  if (isFloating(x.dtype())) {
    if (op == E::Gelu) {
      std::string approx = ctx.node.getString("approximate", "none");
      if (approx != "none" && approx != "tanh")
        fail("attribute approximate must be none or tanh, got '" + approx + "'");
      tanhApprox = approx == "tanh";
    }
    detectPos = ctx.node.getInt("detect_positive", 1) != 0;
    detectNeg = ctx.node.getInt("detect_negative", 1) != 0;
  }

  switch (op) {
    case E::Not: mapUnaryI(r, x, [](int64_t v) -> int64_t { return v == 0; }); return r;  // bools only
    case E::Neg: mapUnary(r, x, [](double v) { return -v; }, [](int64_t v) { return wrapSub(0, v); }); return r;
    case E::Abs:
      mapUnary(r, x, [](double v) { return std::fabs(v); }, [](int64_t v) { return v < 0 ? wrapSub(0, v) : v; });
      return r;
    case E::Sign: mapUnary(r, x, sign, [](int64_t v) -> int64_t { return (v > 0) - (v < 0); }); return r;
    case E::Relu:  // NaN stays NaN
      mapUnary(r, x, [](double v) { return v < 0 ? 0.0 : v; }, [](int64_t v) { return v < 0 ? 0 : v; });
      return r;
    case E::Sqrt: mapUnaryF(r, x, [](double v) { return std::sqrt(v); }); return r;
    case E::Reciprocal: mapUnaryF(r, x, [](double v) { return 1.0 / v; }); return r;
    case E::Exp: mapUnaryF(r, x, [](double v) { return std::exp(v); }); return r;
    case E::Log: mapUnaryF(r, x, [](double v) { return std::log(v); }); return r;
    case E::Erf: mapUnaryF(r, x, [](double v) { return std::erf(v); }); return r;
    case E::Tanh: mapUnaryF(r, x, [](double v) { return std::tanh(v); }); return r;
    case E::Sigmoid: mapUnaryF(r, x, [](double v) { return 1.0 / (1.0 + std::exp(-v)); }); return r;
    case E::Floor: mapUnaryF(r, x, [](double v) { return std::floor(v); }); return r;
    case E::Ceil: mapUnaryF(r, x, [](double v) { return std::ceil(v); }); return r;
    case E::IsNaN: mapUnaryF(r, x, [](double v) -> double { return std::isnan(v); }); return r;
    case E::IsInf:
      mapUnaryF(r, x, [&](double v) -> double {
        return std::isinf(v) && ((v > 0 && detectPos) || (v < 0 && detectNeg));
      });
      return r;
    case E::Gelu: mapUnaryF(r, x, [&](double v) { return gelu(v, tanhApprox); }); return r;
    // Not unary: evalOp never sends them here.
    case E::Add: case E::Sub: case E::Mul: case E::Div: case E::Pow: case E::Max: case E::Min: case E::Mod:
    case E::Equal: case E::Less: case E::LessOrEqual: case E::Greater: case E::GreaterOrEqual: case E::And:
    case E::Or: case E::Where: case E::Clip: case E::Cast: case E::Identity: break;
  }
  BERTC_INTERNAL_ASSERT(false, "evalUnary: not a unary op");
}

Tensor evalClip(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "input");
  requireType(x, kNumeric, "input");
  const Tensor* lo = ctx.optional(1);
  const Tensor* hi = ctx.optional(2);
  for (const Tensor* b : {lo, hi}) {
    if (!b) continue;
    requireSameType(x, *b, "input", b == lo ? "min" : "max");
    if (b->numel() != 1)
      fail(std::string(b == lo ? "min" : "max") + " must be a scalar, got shape " + dimsStr(b->shape()));
  }
  Tensor r = newTensor(x.dtype(), x.shape());
  int64_t n = x.numel();
  if (isFloating(x.dtype())) {
    double l = lo ? loadF(*lo, 0) : -std::numeric_limits<double>::infinity();
    double h = hi ? loadF(*hi, 0) : std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < n; ++i) {
      double v = loadF(x, i);
      // min(max(v, lo), hi): lo > hi gives hi everywhere, as ONNX says; NaN stays NaN.
      if (v < l) v = l;
      if (v > h) v = h;
      storeF(r, i, v);
    }
  } else {
    int64_t l = lo ? loadI(*lo, 0) : std::numeric_limits<int64_t>::min();
    int64_t h = hi ? loadI(*hi, 0) : std::numeric_limits<int64_t>::max();
    for (int64_t i = 0; i < n; ++i) storeI(r, i, std::min(std::max(loadI(x, i), l), h));
  }
  return r;
}

Tensor evalCast(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "input");
  requireType(x, kAny, "input");
  if (!ctx.node.has("to")) fail("missing attribute to");
  int64_t code = ctx.node.getInt("to", 0);
  std::optional<DType> to = code == static_cast<int64_t>(static_cast<int32_t>(code))
                                ? dtypeFromOnnx(static_cast<int32_t>(code))
                                : std::nullopt;
  if (!to || !(isFloating(*to) || isInt(*to) || *to == DType::Bool))
    fail("cannot cast to ONNX type code " + std::to_string(code));
  Tensor r = newTensor(*to, x.shape());
  int64_t n = x.numel();
  // Read in the source's domain so that int64 -> float rounds once and
  // float -> int truncates toward zero.
  if (isFloating(x.dtype())) {
    for (int64_t i = 0; i < n; ++i) storeF(r, i, loadF(x, i));
  } else {
    for (int64_t i = 0; i < n; ++i) storeI(r, i, loadI(x, i));
  }
  return r;
}

Tensor evalIdentity(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "input");
  requireType(x, kAny, "input");
  Tensor r = newTensor(x.dtype(), x.shape());
  copyElems(r, 0, x, 0, x.numel());
  return r;
}

}  // namespace

/// Each op's kernel and, for the binary and unary ones, the dtypes its first
/// operand may have.
std::vector<Tensor> evalOp(const KernelCtx& ctx, ElementwiseOp op) {
  switch (op) {
    case E::Add:
    case E::Sub:
    case E::Mul:
    case E::Div:
    case E::Pow:
    case E::Mod:
    case E::Less:
    case E::LessOrEqual:
    case E::Greater:
    case E::GreaterOrEqual: return {evalBinary(ctx, op, kNumeric)};
    case E::Equal: return {evalBinary(ctx, op, kAny)};
    case E::And:
    case E::Or: return {evalBinary(ctx, op, kBool)};
    case E::Max:
    case E::Min: return {evalMinMax(ctx)};
    case E::Where: return {evalWhere(ctx)};
    case E::Not: return {evalUnary(ctx, op, kBool)};
    case E::Neg:
    case E::Relu: return {evalUnary(ctx, op, kFloat | kSignedInt)};
    case E::Abs:
    case E::Sign: return {evalUnary(ctx, op, kNumeric)};
    case E::Sqrt:
    case E::Reciprocal:
    case E::Exp:
    case E::Log:
    case E::Erf:
    case E::Tanh:
    case E::Sigmoid:
    case E::Floor:
    case E::Ceil:
    case E::IsNaN:
    case E::IsInf:
    case E::Gelu: return {evalUnary(ctx, op, kFloat)};
    case E::Clip: return {evalClip(ctx)};
    case E::Cast: return {evalCast(ctx)};
    case E::Identity: return {evalIdentity(ctx)};
  }
  BERTC_INTERNAL_ASSERT(false, "evalOp: not an elementwise op");
}

double gelu(double x, bool tanhApprox) {
  if (tanhApprox) {
    const double k = std::sqrt(2.0 / M_PI);
    return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
  }
  return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
}

}  // namespace bertc::ir::interp
