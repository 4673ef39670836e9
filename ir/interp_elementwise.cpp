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

bool isComparison(OpKind op) {
  return op == OpKind::Equal || op == OpKind::Less || op == OpKind::LessOrEqual || op == OpKind::Greater ||
         op == OpKind::GreaterOrEqual;
}

/// The dtypes each binary op accepts for its first operand.
unsigned binaryTypes(OpKind op) {
  switch (op) {
    case OpKind::And:
    case OpKind::Or: return kBool;
    case OpKind::Equal: return kAny;
    default: return kNumeric;
  }
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

void binaryFloat(const KernelCtx& ctx, Tensor& r, const Tensor& a, const Tensor& b) {
  switch (ctx.op()) {
    case OpKind::Add: return mapF(r, a, b, [](double x, double y) { return x + y; });
    case OpKind::Sub: return mapF(r, a, b, [](double x, double y) { return x - y; });
    case OpKind::Mul: return mapF(r, a, b, [](double x, double y) { return x * y; });
    case OpKind::Div: return mapF(r, a, b, [](double x, double y) { return x / y; });
    case OpKind::Pow: return mapF(r, a, b, [](double x, double y) { return std::pow(x, y); });
    case OpKind::Mod:
      // ONNX requires fmod=1 for floating types (the sign-of-divisor form is integer-only).
      if (ctx.node.getInt("fmod", 0) != 1) fail("Mod of floating-point operands requires attribute fmod=1");
      return mapF(r, a, b, [](double x, double y) { return std::fmod(x, y); });
    case OpKind::Equal: return mapF(r, a, b, [](double x, double y) { return x == y; });
    case OpKind::Less: return mapF(r, a, b, [](double x, double y) { return x < y; });
    case OpKind::LessOrEqual: return mapF(r, a, b, [](double x, double y) { return x <= y; });
    case OpKind::Greater: return mapF(r, a, b, [](double x, double y) { return x > y; });
    case OpKind::GreaterOrEqual: return mapF(r, a, b, [](double x, double y) { return x >= y; });
    default: break;
  }
  BERTC_INTERNAL_ASSERT(false, "binaryFloat: unexpected op");
}

void binaryInt(const KernelCtx& ctx, Tensor& r, const Tensor& a, const Tensor& b) {
  switch (ctx.op()) {
    case OpKind::Add: return mapI(r, a, b, wrapAdd);
    case OpKind::Sub: return mapI(r, a, b, wrapSub);
    case OpKind::Mul: return mapI(r, a, b, wrapMul);
    case OpKind::Div: return mapI(r, a, b, intDiv);
    case OpKind::Mod: {
      bool fmod = ctx.node.getInt("fmod", 0) != 0;
      return mapI(r, a, b, [fmod](int64_t x, int64_t y) { return intMod(x, y, fmod); });
    }
    case OpKind::Equal: return mapI(r, a, b, [](int64_t x, int64_t y) { return x == y; });
    case OpKind::Less: return mapI(r, a, b, [](int64_t x, int64_t y) { return x < y; });
    case OpKind::LessOrEqual: return mapI(r, a, b, [](int64_t x, int64_t y) { return x <= y; });
    case OpKind::Greater: return mapI(r, a, b, [](int64_t x, int64_t y) { return x > y; });
    case OpKind::GreaterOrEqual: return mapI(r, a, b, [](int64_t x, int64_t y) { return x >= y; });
    case OpKind::And: return mapI(r, a, b, [](int64_t x, int64_t y) { return x && y; });
    case OpKind::Or: return mapI(r, a, b, [](int64_t x, int64_t y) { return x || y; });
    default: break;
  }
  BERTC_INTERNAL_ASSERT(false, "binaryInt: unexpected op");
}

}  // namespace

Tensor evalBinary(const KernelCtx& ctx) {
  const Tensor& a = ctx.operand(0, "A");
  const Tensor& b = ctx.operand(1, "B");
  OpKind op = ctx.op();
  requireType(a, binaryTypes(op), "A");
  if (op == OpKind::Pow) {
    // Pow alone lets the exponent's dtype differ from the base's.
    requireType(b, kNumeric, "B");
  } else {
    requireSameType(a, b, "A", "B");
  }
  DType outType = (isComparison(op)) ? DType::Bool : a.dtype();
  Tensor r = newTensor(outType, broadcastShapes({a.shape(), b.shape()}));

  if (op == OpKind::Pow && isInt(a.dtype())) {
    if (isInt(b.dtype()))
      mapI(r, a, b, intPow);
    else  // integer base, real exponent: the real power truncated, as std::pow then a cast
      mapF(r, a, b, [](double x, double y) { return static_cast<double>(doubleToInt(std::pow(x, y))); });
  } else if (isFloating(a.dtype())) {
    binaryFloat(ctx, r, a, b);
  } else {
    binaryInt(ctx, r, a, b);
  }
  return r;
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

double gelu(double x, bool tanhApprox) {
  if (tanhApprox) {
    const double k = std::sqrt(2.0 / M_PI);
    return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
  }
  return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
}

namespace {

double sign(double x) {
  if (std::isnan(x)) return x;
  return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0);
}

/// The dtypes each unary op accepts.
unsigned unaryTypes(OpKind op) {
  switch (op) {
    case OpKind::Not: return kBool;
    case OpKind::Neg:
    case OpKind::Relu: return kFloat | kSignedInt;
    case OpKind::Abs:
    case OpKind::Sign: return kNumeric;
    default: return kFloat;
  }
}

/// f(x) for the unary ops defined on integers; the caller has checked the dtype.
int64_t unaryInt(OpKind op, int64_t x) {
  switch (op) {
    case OpKind::Not: return x == 0;
    case OpKind::Neg: return wrapSub(0, x);
    case OpKind::Abs: return x < 0 ? wrapSub(0, x) : x;
    case OpKind::Sign: return (x > 0) - (x < 0);
    case OpKind::Relu: return x < 0 ? 0 : x;
    default: break;
  }
  BERTC_INTERNAL_ASSERT(false, "unaryInt: unexpected op");
}

}  // namespace

Tensor evalUnary(const KernelCtx& ctx) {
  const Tensor& x = ctx.operand(0, "X");
  OpKind op = ctx.op();
  requireType(x, unaryTypes(op), "X");
  bool toBool = op == OpKind::IsNaN || op == OpKind::IsInf;
  Tensor r = newTensor(toBool ? DType::Bool : x.dtype(), x.shape());
  int64_t n = x.numel();

  if (!isFloating(x.dtype())) {
    for (int64_t i = 0; i < n; ++i) storeI(r, i, unaryInt(op, loadI(x, i)));
    return r;
  }

  bool tanhApprox = false;
  if (op == OpKind::Gelu) {
    std::string approx = ctx.node.getString("approximate", "none");
    if (approx != "none" && approx != "tanh") fail("attribute approximate must be none or tanh, got '" + approx + "'");
    tanhApprox = approx == "tanh";
  }
  bool detectPos = ctx.node.getInt("detect_positive", 1) != 0;
  bool detectNeg = ctx.node.getInt("detect_negative", 1) != 0;

  for (int64_t i = 0; i < n; ++i) {
    double v = loadF(x, i);
    double y = 0;
    switch (op) {
      case OpKind::Neg: y = -v; break;
      case OpKind::Abs: y = std::fabs(v); break;
      case OpKind::Sign: y = sign(v); break;
      case OpKind::Sqrt: y = std::sqrt(v); break;
      case OpKind::Reciprocal: y = 1.0 / v; break;
      case OpKind::Exp: y = std::exp(v); break;
      case OpKind::Log: y = std::log(v); break;
      case OpKind::Erf: y = std::erf(v); break;
      case OpKind::Tanh: y = std::tanh(v); break;
      case OpKind::Sigmoid: y = 1.0 / (1.0 + std::exp(-v)); break;
      case OpKind::Relu: y = v < 0 ? 0.0 : v; break;  // NaN stays NaN
      case OpKind::Floor: y = std::floor(v); break;
      case OpKind::Ceil: y = std::ceil(v); break;
      case OpKind::IsNaN: y = std::isnan(v); break;
      case OpKind::IsInf: y = std::isinf(v) && ((v > 0 && detectPos) || (v < 0 && detectNeg)); break;
      case OpKind::Gelu: y = gelu(v, tanhApprox); break;
      default: BERTC_INTERNAL_ASSERT(false, "evalUnary: unexpected op");
    }
    storeF(r, i, y);
  }
  return r;
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

}  // namespace bertc::ir::interp
