// Unit tests of the reference interpreter (ir/interp.h): every check compares
// against values worked out by hand or by a tiny independent formula here, with
// the tolerance stated at the check.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <string>

#include "ir/graph.h"
#include "ir/interp.h"

using namespace bertc::ir;

namespace {

using Dims = std::vector<int64_t>;

/// A tensor holding `v` (zero-filled when v is empty or short).
template <class T>
Tensor make(DType dt, Dims shape, const std::vector<T>& v) {
  Tensor t = Tensor::allocate(dt, std::move(shape));
  if (!v.empty()) std::memcpy(t.mutableData(), v.data(), std::min(t.nbytes(), v.size() * sizeof(T)));
  return t;
}
Tensor f32(Dims shape, std::vector<float> v) { return make(DType::F32, std::move(shape), v); }
Tensor f64(Dims shape, std::vector<double> v) { return make(DType::F64, std::move(shape), v); }
Tensor i64(Dims shape, std::vector<int64_t> v) { return make(DType::I64, std::move(shape), v); }
Tensor i32(Dims shape, std::vector<int32_t> v) { return make(DType::I32, std::move(shape), v); }
Tensor u8(Dims shape, std::vector<uint8_t> v) { return make(DType::U8, std::move(shape), v); }
Tensor boolean(Dims shape, std::vector<uint8_t> v) { return make(DType::Bool, std::move(shape), v); }
Tensor i64s(std::vector<int64_t> v) { return i64({static_cast<int64_t>(v.size())}, v); }

/// 0, 1, 2, ... as f32 of the given shape.
Tensor iota(Dims shape) {
  Tensor t = Tensor::allocate(DType::F32, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.setDouble(i, static_cast<double>(i));
  return t;
}

std::vector<double> values(const Tensor& t) {
  std::vector<double> v(t.numel());
  for (size_t i = 0; i < v.size(); ++i) v[i] = t.getDouble(i);
  return v;
}

/// Checks each element within rel * |want| + abs.
void checkClose(const std::vector<double>& got, const std::vector<double>& want, double rel, double abs = 0) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(want[i]).epsilon(rel).margin(abs));
  }
}

/// A small graph built by hand; inputs get the exact type of the tensor fed.
struct Net {
  Graph g;
  std::vector<Tensor> feeds;
  int count = 0;

  Value* input(Tensor t, const std::string& name = "") {
    Shape s(t.shape().begin(), t.shape().end());
    Value* v = g.addInput(name.empty() ? "in" + std::to_string(feeds.size()) : name, Type{t.dtype(), s});
    feeds.push_back(std::move(t));
    return v;
  }
  Value* constant(Tensor t) { return g.addConstant("c" + std::to_string(count++), std::move(t)); }
  Node* node(OpKind op, std::vector<Value*> operands, std::map<std::string, Attr> attrs = {}, int results = 1) {
    std::string name = "n" + std::to_string(count++);
    std::vector<std::string> names;
    for (int i = 0; i < results; ++i) names.push_back(name + "_out" + std::to_string(i));
    return g.addNode(op, name, std::move(operands), names, std::move(attrs));
  }
  Value* op(OpKind op, std::vector<Value*> operands, std::map<std::string, Attr> attrs = {}) {
    return node(op, std::move(operands), std::move(attrs))->result();
  }
  std::vector<Tensor> run(const InterpOptions& opts = {}) {
    auto r = interpret(g, feeds, opts);
    INFO((r.ok() ? std::string() : r.message()));
    REQUIRE(r.ok());
    return r.value();
  }
  std::string error() {
    auto r = interpret(g, feeds);
    REQUIRE_FALSE(r.ok());
    return r.message();
  }
};

/// Runs one node on the given inputs (fed as graph inputs) and returns its first result.
Tensor runOne(OpKind op, std::vector<Tensor> ins, std::map<std::string, Attr> attrs = {}) {
  Net n;
  std::vector<Value*> vs;
  for (Tensor& t : ins) vs.push_back(n.input(std::move(t)));
  n.g.addOutput(n.op(op, vs, std::move(attrs)));
  return n.run()[0];
}

/// The error message of one node on the given inputs.
std::string errorOne(OpKind op, std::vector<Tensor> ins, std::map<std::string, Attr> attrs = {}) {
  Net n;
  std::vector<Value*> vs;
  for (Tensor& t : ins) vs.push_back(n.input(std::move(t)));
  n.g.addOutput(n.op(op, vs, std::move(attrs)));
  return n.error();
}

using Catch::Matchers::Contains;

}  // namespace

TEST_CASE("elementwise arithmetic broadcasts like numpy", "[interp]") {
  // [2,3] + [3] and [2,1] * [1,3]: exact in f32.
  Tensor s = runOne(OpKind::Add, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({3}, {10, 20, 30})});
  CHECK(s.shape() == Dims{2, 3});
  CHECK(values(s) == std::vector<double>{11, 22, 33, 14, 25, 36});
  Tensor p = runOne(OpKind::Mul, {f32({2, 1}, {2, 3}), f32({1, 3}, {1, 10, 100})});
  CHECK(p.shape() == Dims{2, 3});
  CHECK(values(p) == std::vector<double>{2, 20, 200, 3, 30, 300});
  // A scalar against a rank-3 tensor.
  Tensor d = runOne(OpKind::Sub, {f32({}, {1}), f32({1, 2, 1}, {5, 7})});
  CHECK(d.shape() == Dims{1, 2, 1});
  CHECK(values(d) == std::vector<double>{-4, -6});
  // f64 keeps double precision.
  Tensor f = runOne(OpKind::Div, {f64({1}, {1}), f64({1}, {3})});
  CHECK(f.dtype() == DType::F64);
  CHECK(f.getDouble(0) == 1.0 / 3.0);
  // Incompatible shapes name the shapes.
  CHECK_THAT(errorOne(OpKind::Add, {f32({2, 3}, {}), f32({2}, {})}), Contains("[2, 3] and [2] do not broadcast"));
  CHECK_THAT(errorOne(OpKind::Add, {f32({2}, {}), i64({2}, {})}), Contains("same dtype"));
}

TEST_CASE("integer division truncates, Mod follows fmod, zero divisors are errors", "[interp]") {
  Tensor q = runOne(OpKind::Div, {i64({4}, {7, -7, 7, -7}), i64({4}, {2, 2, -2, -2})});
  CHECK(q.dtype() == DType::I64);
  CHECK(q.toInts() == std::vector<int64_t>{3, -3, -3, 3});
  Tensor m0 = runOne(OpKind::Mod, {i64({4}, {7, -7, 7, -7}), i64({4}, {3, 3, -3, -3})});
  CHECK(m0.toInts() == std::vector<int64_t>{1, 2, -2, -1});  // sign of the divisor
  Tensor m1 = runOne(OpKind::Mod, {i64({4}, {7, -7, 7, -7}), i64({4}, {3, 3, -3, -3})}, {{"fmod", int64_t{1}}});
  CHECK(m1.toInts() == std::vector<int64_t>{1, -1, 1, -1});  // sign of the dividend
  Tensor fm = runOne(OpKind::Mod, {f32({2}, {5.5f, -5.5f}), f32({2}, {2, 2})}, {{"fmod", int64_t{1}}});
  CHECK(values(fm) == std::vector<double>{1.5, -1.5});
  CHECK_THAT(errorOne(OpKind::Div, {i32({2}, {1, 2}), i32({2}, {1, 0})}), Contains("integer division by zero"));
  CHECK_THAT(errorOne(OpKind::Mod, {f32({1}, {1}), f32({1}, {2})}), Contains("fmod=1"));
  // i32 wraps like the hardware; u8 subtraction wraps modulo 256.
  Tensor w = runOne(OpKind::Add, {i32({1}, {2147483647}), i32({1}, {1})});
  CHECK(w.toInts() == std::vector<int64_t>{-2147483648LL});
  Tensor u = runOne(OpKind::Sub, {u8({1}, {3}), u8({1}, {5})});
  CHECK(u.toInts() == std::vector<int64_t>{254});
}

TEST_CASE("Pow with float and integer exponents", "[interp]") {
  Tensor a = runOne(OpKind::Pow, {f32({3}, {2, 9, -2}), f32({3}, {3, 0.5f, 2})});
  checkClose(values(a), {8, 3, 4}, 1e-7);
  Tensor b = runOne(OpKind::Pow, {f32({2}, {1.5f, 2}), i64({2}, {2, -1})});  // exponent of another dtype
  CHECK(b.dtype() == DType::F32);
  checkClose(values(b), {2.25, 0.5}, 1e-7);
  Tensor c = runOne(OpKind::Pow, {i64({3}, {3, -2, 10}), i64({3}, {4, 3, 0})});
  CHECK(c.toInts() == std::vector<int64_t>{81, -8, 1});
}

TEST_CASE("comparisons give bool; And, Or, Not on bool", "[interp]") {
  Tensor lt = runOne(OpKind::Less, {f32({3}, {1, 2, 3}), f32({}, {2})});
  CHECK(lt.dtype() == DType::Bool);
  CHECK(lt.toInts() == std::vector<int64_t>{1, 0, 0});
  CHECK(runOne(OpKind::GreaterOrEqual, {i64({3}, {1, 2, 3}), i64({}, {2})}).toInts() == std::vector<int64_t>{0, 1, 1});
  CHECK(runOne(OpKind::Equal, {i64({3}, {1, 2, 3}), i64({3}, {1, 0, 3})}).toInts() == std::vector<int64_t>{1, 0, 1});
  Tensor a = boolean({4}, {0, 0, 1, 1}), b = boolean({4}, {0, 1, 0, 1});
  CHECK(runOne(OpKind::And, {a, b}).toInts() == std::vector<int64_t>{0, 0, 0, 1});
  CHECK(runOne(OpKind::Or, {a, b}).toInts() == std::vector<int64_t>{0, 1, 1, 1});
  CHECK(runOne(OpKind::Not, {a}).toInts() == std::vector<int64_t>{1, 1, 0, 0});
  CHECK_THAT(errorOne(OpKind::And, {f32({1}, {1}), f32({1}, {1})}), Contains("unsupported dtype f32"));
}

TEST_CASE("unary math, IsNaN, IsInf, Clip, Max, Min", "[interp]") {
  Tensor x = f32({4}, {-2, -0.5f, 0.25f, 3});
  // Against the same formulas in double, rounded to f32: within 1e-6 relative.
  checkClose(values(runOne(OpKind::Exp, {x})), {std::exp(-2.0), std::exp(-0.5), std::exp(0.25), std::exp(3.0)}, 1e-6);
  checkClose(values(runOne(OpKind::Erf, {x})), {std::erf(-2.0), std::erf(-0.5), std::erf(0.25), std::erf(3.0)}, 1e-6);
  checkClose(values(runOne(OpKind::Sigmoid, {x})),
             {1 / (1 + std::exp(2.0)), 1 / (1 + std::exp(0.5)), 1 / (1 + std::exp(-0.25)), 1 / (1 + std::exp(-3.0))},
             1e-6);
  CHECK(values(runOne(OpKind::Relu, {x})) == std::vector<double>{0, 0, 0.25, 3});
  CHECK(values(runOne(OpKind::Sign, {x})) == std::vector<double>{-1, -1, 1, 1});
  CHECK(values(runOne(OpKind::Floor, {x})) == std::vector<double>{-2, -1, 0, 3});
  CHECK(runOne(OpKind::Neg, {i64({2}, {5, -3})}).toInts() == std::vector<int64_t>{-5, 3});
  CHECK(runOne(OpKind::Abs, {i32({2}, {5, -3})}).toInts() == std::vector<int64_t>{5, 3});
  CHECK_THAT(errorOne(OpKind::Exp, {i64({1}, {1})}), Contains("X has unsupported dtype i64"));

  float inf = INFINITY, nan = NAN;
  Tensor special = f32({4}, {1, inf, -inf, nan});
  CHECK(runOne(OpKind::IsNaN, {special}).toInts() == std::vector<int64_t>{0, 0, 0, 1});
  CHECK(runOne(OpKind::IsInf, {special}).toInts() == std::vector<int64_t>{0, 1, 1, 0});
  CHECK(runOne(OpKind::IsInf, {special}, {{"detect_negative", int64_t{0}}}).toInts() ==
        std::vector<int64_t>{0, 1, 0, 0});

  // Clip with both bounds, with only a max (the min operand absent), on ints.
  CHECK(values(runOne(OpKind::Clip, {x, f32({}, {-1}), f32({}, {1})})) == std::vector<double>{-1, -0.5, 0.25, 1});
  {
    Net n;
    Value* in = n.input(x);
    n.g.addOutput(n.op(OpKind::Clip, {in, nullptr, n.constant(f32({}, {0}))}));
    CHECK(values(n.run()[0]) == std::vector<double>{-2, -0.5, 0, 0});
  }
  CHECK(runOne(OpKind::Clip, {i64({3}, {-5, 0, 5}), i64({}, {-1}), i64({}, {2})}).toInts() ==
        std::vector<int64_t>{-1, 0, 2});

  // Variadic Max/Min broadcast over every operand.
  Tensor mx = runOne(OpKind::Max, {f32({2, 1}, {1, 5}), f32({3}, {0, 2, 4}), f32({}, {3})});
  CHECK(mx.shape() == Dims{2, 3});
  CHECK(values(mx) == std::vector<double>{3, 3, 4, 5, 5, 5});
  CHECK(values(runOne(OpKind::Min, {f32({2}, {1, 5}), f32({2}, {3, 2})})) == std::vector<double>{1, 2});
}

TEST_CASE("Gelu, exact and tanh forms", "[interp]") {
  std::vector<float> xs = {-3, -1, -0.1f, 0, 0.5f, 2};
  std::vector<double> exact, approx;
  for (double v : xs) {
    exact.push_back(v * 0.5 * std::erfc(-v / std::sqrt(2.0)));  // Phi via erfc: an independent form
    approx.push_back(0.5 * v * (1 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))));
  }
  // f32 results within 1e-6 relative (plus 1e-7 absolute near 0).
  checkClose(values(runOne(OpKind::Gelu, {f32({6}, xs)})), exact, 1e-6, 1e-7);
  checkClose(values(runOne(OpKind::Gelu, {f32({6}, xs)}, {{"approximate", std::string("tanh")}})), approx, 1e-6, 1e-7);
  CHECK_THAT(errorOne(OpKind::Gelu, {f32({1}, {1})}, {{"approximate", std::string("fast")}}), Contains("approximate"));
}

TEST_CASE("Cast: to f16 and back, float to int truncates, to bool", "[interp]") {
  Net n;
  Value* x = n.input(f32({5}, {1.0f, 0.1f, 65504.0f, 1e5f, -2.75f}));
  Value* h = n.op(OpKind::Cast, {x}, {{"to", int64_t{10}}});
  n.g.addOutput(h);
  n.g.addOutput(n.op(OpKind::Cast, {h}, {{"to", int64_t{1}}}));
  n.g.addOutput(n.op(OpKind::Cast, {x}, {{"to", int64_t{7}}}));
  n.g.addOutput(n.op(OpKind::Cast, {x}, {{"to", int64_t{9}}}));
  auto out = n.run();
  CHECK(out[0].dtype() == DType::F16);
  CHECK(out[0].load<uint16_t>(0) == 0x3c00);  // 1.0
  CHECK(out[0].load<uint16_t>(1) == 0x2e66);  // 0.1 rounds to 0.0999755859375
  // Back to f32: exact values of the halves; 1e5 overflows f16 to inf.
  CHECK(values(out[1]) == std::vector<double>{1.0, 0.0999755859375, 65504.0, INFINITY, -2.75});
  CHECK(out[2].toInts() == std::vector<int64_t>{1, 0, 65504, 100000, -2});
  CHECK(out[3].toInts() == std::vector<int64_t>{1, 1, 1, 1, 1});
  // i64 -> f32 rounds once; bool -> i32.
  CHECK(values(runOne(OpKind::Cast, {i64({1}, {16777217})}, {{"to", int64_t{1}}})) == std::vector<double>{16777216});
  CHECK(runOne(OpKind::Cast, {boolean({2}, {1, 0})}, {{"to", int64_t{6}}}).toInts() == std::vector<int64_t>{1, 0});
  CHECK_THAT(errorOne(OpKind::Cast, {f32({1}, {1})}, {{"to", int64_t{8}}}), Contains("type code 8"));
}

TEST_CASE("MatMul broadcasts batch dims and handles 1-D operands", "[interp]") {
  // A [2,1,2,3] x B [4,3,2] -> [2,4,2,2]; reference by the definition.
  Tensor a = iota({2, 1, 2, 3}), b = iota({4, 3, 2});
  Tensor c = runOne(OpKind::MatMul, {a, b});
  REQUIRE(c.shape() == Dims{2, 4, 2, 2});
  std::vector<double> want;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int m = 0; m < 2; ++m)
        for (int n = 0; n < 2; ++n) {
          double s = 0;
          for (int k = 0; k < 3; ++k) s += a.getDouble(i * 6 + m * 3 + k) * b.getDouble(j * 6 + k * 2 + n);
          want.push_back(s);
        }
  CHECK(values(c) == want);  // small integers: exact

  Tensor v = f32({3}, {1, 2, 3}), m = f32({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor vm = runOne(OpKind::MatMul, {v, m});
  CHECK(vm.shape() == Dims{2});
  CHECK(values(vm) == std::vector<double>{22, 28});
  Tensor mv = runOne(OpKind::MatMul, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), v});
  CHECK(mv.shape() == Dims{2});
  CHECK(values(mv) == std::vector<double>{14, 32});
  Tensor vv = runOne(OpKind::MatMul, {v, v});
  CHECK(vv.shape().empty());
  CHECK(values(vv) == std::vector<double>{14});
  CHECK_THAT(errorOne(OpKind::MatMul, {iota({2, 3}), iota({2, 3})}), Contains("inner dimensions differ"));

  // Float accumulation gives nearly the same result (within 1e-6 relative here).
  Net n;
  n.g.addOutput(n.op(OpKind::MatMul, {n.input(f32({1, 3}, {0.1f, 0.2f, 0.3f})), n.input(f32({3, 1}, {3, 2, 1}))}));
  checkClose(values(n.run({.accumulateInDouble = false})[0]), {1.0}, 1e-6);
}

TEST_CASE("Gemm with transposes, alpha, beta and a broadcast C", "[interp]") {
  // A is stored as [K=3, M=2] (transA), B as [N=2, K=3] (transB).
  Tensor a = f32({3, 2}, {1, 4, 2, 5, 3, 6});  // op(A) = [[1,2,3],[4,5,6]]
  Tensor b = f32({2, 3}, {1, 0, 1, 0, 1, 0});  // op(B) = [[1,0],[0,1],[1,0]]
  // op(A) * op(B) = [[4,2],[10,5]]; y = 2 * that + 0.5 * C with C [2] = [10, 20] broadcast over rows.
  Tensor y = runOne(OpKind::Gemm, {a, b, f32({2}, {10, 20})},
                    {{"transA", int64_t{1}}, {"transB", int64_t{1}}, {"alpha", 2.0}, {"beta", 0.5}});
  CHECK(y.shape() == Dims{2, 2});
  CHECK(values(y) == std::vector<double>{13, 14, 25, 20});
  // No transposes, C as a column [M, 1], no alpha/beta.
  Tensor z =
      runOne(OpKind::Gemm, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({3, 2}, {1, 0, 0, 1, 1, 0}), f32({2, 1}, {100, 200})});
  CHECK(values(z) == std::vector<double>{104, 102, 210, 205});
  CHECK_THAT(errorOne(OpKind::Gemm, {iota({2, 3}), iota({3, 2}), iota({3})}), Contains("does not broadcast"));
}

TEST_CASE("Softmax along any axis is stable for large inputs", "[interp]") {
  // [2,3,2] along axis 1.
  Tensor x = f32({2, 3, 2}, {1, 2, 3, 4, 5, 6, -1, 0, 1000, 1, 1001, 2});
  Tensor s = runOne(OpKind::Softmax, {x}, {{"axis", int64_t{1}}});
  std::vector<double> want(12);
  for (int o = 0; o < 2; ++o)
    for (int in = 0; in < 2; ++in) {
      double e[3], sum = 0, mx = -INFINITY;
      for (int k = 0; k < 3; ++k) mx = std::max(mx, x.getDouble(o * 6 + k * 2 + in));
      for (int k = 0; k < 3; ++k) sum += e[k] = std::exp(x.getDouble(o * 6 + k * 2 + in) - mx);
      for (int k = 0; k < 3; ++k) want[o * 6 + k * 2 + in] = e[k] / sum;
    }
  checkClose(values(s), want, 1e-6, 1e-30);
  CHECK(s.getDouble(8) == Approx(1 / (1 + std::exp(1.0) + 0)).epsilon(1e-3));  // no inf/nan from exp(1000)
  // Default axis -1: each row of [2,2] sums to 1.
  Tensor d = runOne(OpKind::Softmax, {f32({2, 2}, {0, 0, 0, std::log(3.0f)})});
  checkClose(values(d), {0.5, 0.5, 0.25, 0.75}, 1e-6);
}

TEST_CASE("LayerNorm over [axis, rank) with optional Scale and B", "[interp]") {
  Tensor x = f32({2, 4}, {1, 2, 3, 4, -1, 0, 0, 5});
  Tensor g = f32({4}, {1, 2, 0.5f, -1}), b = f32({4}, {0, 1, 0, 10});
  double eps = 1e-3;
  auto reference = [&](int axis, bool scale, bool bias) {
    std::vector<double> want(8);
    int groups = axis == 0 ? 1 : 2, len = 8 / groups;
    for (int o = 0; o < groups; ++o) {
      double mean = 0, var = 0;
      for (int k = 0; k < len; ++k) mean += x.getDouble(o * len + k) / len;
      for (int k = 0; k < len; ++k) var += std::pow(x.getDouble(o * len + k) - mean, 2) / len;
      for (int k = 0; k < len; ++k) {
        double y = (x.getDouble(o * len + k) - mean) / std::sqrt(var + eps);
        want[o * len + k] = y * (scale ? g.getDouble(k % 4) : 1) + (bias ? b.getDouble(k % 4) : 0);
      }
    }
    return want;
  };
  // Within 1e-6 relative (plus 1e-6 absolute for values near 0).
  checkClose(values(runOne(OpKind::LayerNorm, {x, g, b}, {{"epsilon", eps}})), reference(1, true, true), 1e-6, 1e-6);
  {
    Net n;  // Scale only; B absent.
    n.g.addOutput(n.op(OpKind::LayerNorm, {n.input(x), n.constant(g)}, {{"epsilon", eps}, {"axis", int64_t{-1}}}));
    checkClose(values(n.run()[0]), reference(1, true, false), 1e-6, 1e-6);
  }
  // axis 0: one group over everything, no Scale/B.
  checkClose(values(runOne(OpKind::LayerNorm, {x}, {{"epsilon", eps}, {"axis", int64_t{0}}})),
             reference(0, false, false), 1e-6, 1e-6);
  CHECK_THAT(errorOne(OpKind::LayerNorm, {x, f32({3}, {1, 1, 1})}), Contains("does not broadcast"));
}

TEST_CASE("reductions and CumSum", "[interp]") {
  Tensor x = iota({2, 3});  // [[0,1,2],[3,4,5]]
  Tensor s = runOne(OpKind::ReduceSum, {x}, {{"axes", std::vector<int64_t>{1}}});
  CHECK(s.shape() == Dims{2, 1});
  CHECK(values(s) == std::vector<double>{3, 12});
  Tensor m = runOne(OpKind::ReduceMean, {x}, {{"axes", std::vector<int64_t>{0}}, {"keepdims", int64_t{0}}});
  CHECK(m.shape() == Dims{3});
  CHECK(values(m) == std::vector<double>{1.5, 2.5, 3.5});
  Tensor all = runOne(OpKind::ReduceMax, {x}, {{"keepdims", int64_t{0}}});
  CHECK(all.shape().empty());
  CHECK(values(all) == std::vector<double>{5});
  Tensor noop = runOne(OpKind::ReduceSum, {x}, {{"noop_with_empty_axes", int64_t{1}}});
  CHECK(values(noop) == values(x));
  CHECK(runOne(OpKind::ReduceSum, {i64({3}, {1, 2, 3})}).toInts() == std::vector<int64_t>{6});

  Tensor v = f32({4}, {1, 2, 3, 4});
  auto cumsum = [&](int64_t exclusive, int64_t reverse) {
    return values(runOne(OpKind::CumSum, {v, i64({}, {0})}, {{"exclusive", exclusive}, {"reverse", reverse}}));
  };
  CHECK(cumsum(0, 0) == std::vector<double>{1, 3, 6, 10});
  CHECK(cumsum(1, 0) == std::vector<double>{0, 1, 3, 6});
  CHECK(cumsum(0, 1) == std::vector<double>{10, 9, 7, 4});
  CHECK(cumsum(1, 1) == std::vector<double>{9, 7, 4, 0});
  // Along axis -1 of an i64 [2,2] (the position-id idiom).
  CHECK(runOne(OpKind::CumSum, {i64({2, 2}, {1, 1, 0, 1}), i32({1}, {-1})}).toInts() ==
        std::vector<int64_t>{1, 2, 0, 1});
}

TEST_CASE("Reshape with 0, -1 and allowzero; Flatten, Unsqueeze, Squeeze, Transpose", "[interp]") {
  Tensor x = iota({2, 3, 4});
  Tensor r = runOne(OpKind::Reshape, {x, i64s({0, -1})});
  CHECK(r.shape() == Dims{2, 12});
  CHECK(values(r) == values(x));
  CHECK(runOne(OpKind::Reshape, {x, i64s({-1, 0, 2})}).shape() == Dims{4, 3, 2});
  // allowzero: 0 is a real zero dim.
  CHECK(runOne(OpKind::Reshape, {f32({0, 3}, {}), i64s({3, 0})}, {{"allowzero", int64_t{1}}}).shape() == Dims{3, 0});
  CHECK_THAT(errorOne(OpKind::Reshape, {x, i64s({-1, -1})}), Contains("more than one -1"));
  CHECK_THAT(errorOne(OpKind::Reshape, {x, i64s({5, -1})}), Contains("cannot reshape"));

  CHECK(runOne(OpKind::Flatten, {x}, {{"axis", int64_t{2}}}).shape() == Dims{6, 4});
  CHECK(runOne(OpKind::Flatten, {x}, {{"axis", int64_t{0}}}).shape() == Dims{1, 24});
  Tensor u = runOne(OpKind::Unsqueeze, {x}, {{"axes", std::vector<int64_t>{0, -1}}});
  CHECK(u.shape() == Dims{1, 2, 3, 4, 1});
  CHECK(runOne(OpKind::Squeeze, {u}).shape() == Dims{2, 3, 4});
  CHECK(runOne(OpKind::Squeeze, {u}, {{"axes", std::vector<int64_t>{-1}}}).shape() == Dims{1, 2, 3, 4});
  CHECK_THAT(errorOne(OpKind::Squeeze, {x}, {{"axes", std::vector<int64_t>{1}}}), Contains("cannot squeeze dim 1"));

  Tensor t = runOne(OpKind::Transpose, {x}, {{"perm", std::vector<int64_t>{2, 0, 1}}});
  REQUIRE(t.shape() == Dims{4, 2, 3});
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) CHECK(t.getDouble(k * 6 + i * 3 + j) == x.getDouble(i * 12 + j * 4 + k));
  CHECK(runOne(OpKind::Transpose, {x}).shape() == Dims{4, 3, 2});  // default: reversed
}

TEST_CASE("Slice with negative, clamped and backward ranges", "[interp]") {
  Tensor x = iota({10});
  auto slice = [&](std::vector<int64_t> st, std::vector<int64_t> en, std::vector<int64_t> steps) {
    return values(runOne(OpKind::Slice, {x, i64s(st), i64s(en), i64s({0}), i64s(steps)}));
  };
  CHECK(slice({-3}, {100}, {1}) == std::vector<double>{7, 8, 9});
  CHECK(slice({-1}, {-100}, {-2}) == std::vector<double>{9, 7, 5, 3, 1});
  CHECK(slice({8}, {2}, {-3}) == std::vector<double>{8, 5});
  CHECK(slice({100}, {INT64_MIN}, {-4}) == std::vector<double>{9, 5, 1});  // start clamps to dim - 1
  CHECK(slice({2}, {INT64_MAX}, {3}) == std::vector<double>{2, 5, 8});
  CHECK(slice({5}, {5}, {1}).empty());
  CHECK(slice({0}, {10}, {INT64_MAX}) == std::vector<double>{0});

  // 2-D, on axis -1 only (axes given, steps absent).
  Tensor m = iota({2, 4});
  Net n;
  Value* in = n.input(m);
  n.g.addOutput(n.op(OpKind::Slice, {in, n.constant(i64s({-1})), n.constant(i64s({0})), n.constant(i64s({-1})),
                                     n.constant(i64s({-1}))}));
  Tensor s = n.run()[0];
  CHECK(s.shape() == Dims{2, 3});
  CHECK(values(s) == std::vector<double>{3, 2, 1, 7, 6, 5});
  CHECK_THAT(errorOne(OpKind::Slice, {x, i64s({0}), i64s({1}), i64s({0}), i64s({0})}), Contains("nonzero"));
}

TEST_CASE("Gather wraps negative indices and rejects out-of-range ones", "[interp]") {
  Tensor table = iota({4, 2});  // row r = [2r, 2r+1]
  Tensor g = runOne(OpKind::Gather, {table, i64({2, 2}, {0, -1, 2, -4})});
  CHECK(g.shape() == Dims{2, 2, 2});
  CHECK(values(g) == std::vector<double>{0, 1, 6, 7, 4, 5, 0, 1});
  Tensor cols = runOne(OpKind::Gather, {table, i32({}, {-1})}, {{"axis", int64_t{1}}});
  CHECK(cols.shape() == Dims{4});
  CHECK(values(cols) == std::vector<double>{1, 3, 5, 7});

  Net n;
  Value* ids = n.input(i64({3}, {1, 4, 0}), "input_ids");
  n.g.addOutput(n.g.addNode(OpKind::Gather, "word_embeddings", {n.constant(table), ids}, {"emb"})->result());
  std::string msg = n.error();
  CHECK_THAT(msg, Contains("node 'word_embeddings' (Gather): index 4 is out of range for axis 0 of size 4"));
  n.feeds[0] = i64({3}, {0, -5, 1});
  CHECK_THAT(n.error(), Contains("index -5 is out of range"));
}

TEST_CASE("GatherND picks index tuples, with batch dims", "[interp]") {
  Tensor x = iota({2, 2, 2});
  Tensor a = runOne(OpKind::GatherND, {x, i64({2, 2}, {0, 1, 1, -1})});
  CHECK(a.shape() == Dims{2, 2});
  CHECK(values(a) == std::vector<double>{2, 3, 6, 7});
  Tensor b = runOne(OpKind::GatherND, {x, i64({2, 1}, {1, 0})}, {{"batch_dims", int64_t{1}}});
  CHECK(b.shape() == Dims{2, 2});
  CHECK(values(b) == std::vector<double>{2, 3, 4, 5});
  CHECK_THAT(errorOne(OpKind::GatherND, {x, i64({1, 3}, {0, 0, 2})}), Contains("out of range"));
}

TEST_CASE("Where broadcasts its three operands", "[interp]") {
  Tensor w = runOne(OpKind::Where, {boolean({2, 1}, {1, 0}), f32({3}, {1, 2, 3}), f32({}, {-1})});
  CHECK(w.shape() == Dims{2, 3});
  CHECK(values(w) == std::vector<double>{1, 2, 3, -1, -1, -1});
  CHECK_THAT(errorOne(OpKind::Where, {f32({1}, {1}), f32({1}, {1}), f32({1}, {1})}), Contains("condition"));
}

TEST_CASE("Split by sizes, by num_outputs, and evenly", "[interp]") {
  Tensor x = iota({2, 5});
  Net n;
  Value* in = n.input(x);
  Node* s = n.node(OpKind::Split, {in}, {{"axis", int64_t{1}}, {"split", std::vector<int64_t>{2, 3}}}, 2);
  Node* t = n.node(OpKind::Split, {in}, {{"axis", int64_t{-1}}, {"num_outputs", int64_t{3}}}, 3);
  Node* u = n.node(OpKind::Split, {in}, {}, 2);  // axis 0, equal parts
  for (Node* k : {s, t, u})
    for (Value* r : k->results) n.g.addOutput(r);
  auto out = n.run();
  REQUIRE(out.size() == 7);
  CHECK(out[0].shape() == Dims{2, 2});
  CHECK(values(out[0]) == std::vector<double>{0, 1, 5, 6});
  CHECK(values(out[1]) == std::vector<double>{2, 3, 4, 7, 8, 9});
  // 5 into 3: ceil(5/3) = 2, 2, then the rest.
  CHECK(out[2].shape() == Dims{2, 2});
  CHECK(out[4].shape() == Dims{2, 1});
  CHECK(values(out[4]) == std::vector<double>{4, 9});
  CHECK(values(out[5]) == std::vector<double>{0, 1, 2, 3, 4});
  CHECK(values(out[6]) == std::vector<double>{5, 6, 7, 8, 9});
  Net bad;
  Node* b = bad.node(OpKind::Split, {bad.input(x)}, {{"axis", int64_t{1}}, {"split", std::vector<int64_t>{2, 2}}}, 2);
  bad.g.addOutput(b->result(0));
  CHECK_THAT(bad.error(), Contains("split [2, 2] sums to 4, not dim 1 of [2, 5]"));
}

TEST_CASE("Concat, Expand, Tile", "[interp]") {
  Tensor c =
      runOne(OpKind::Concat, {iota({2, 1}), f32({2, 2}, {10, 11, 12, 13}), f32({2, 0}, {})}, {{"axis", int64_t{-1}}});
  CHECK(c.shape() == Dims{2, 3});
  CHECK(values(c) == std::vector<double>{0, 10, 11, 1, 12, 13});
  CHECK(runOne(OpKind::Concat, {i64s({1}), i64s({2, 3})}, {{"axis", int64_t{0}}}).toInts() ==
        std::vector<int64_t>{1, 2, 3});
  CHECK_THAT(errorOne(OpKind::Concat, {iota({2, 1}), iota({3, 1})}, {{"axis", int64_t{1}}}),
             Contains("does not match"));

  // Expand is bidirectional: [3,1] to [2,1,4] gives [2,3,4].
  Tensor e = runOne(OpKind::Expand, {f32({3, 1}, {1, 2, 3}), i64s({2, 1, 4})});
  CHECK(e.shape() == Dims{2, 3, 4});
  for (int i = 0; i < 24; ++i) CHECK(e.getDouble(i) == 1 + (i / 4) % 3);
  CHECK_THAT(errorOne(OpKind::Expand, {iota({3}), i64s({2})}), Contains("do not broadcast"));

  Tensor t = runOne(OpKind::Tile, {f32({1, 2}, {1, 2}), i64s({2, 2})});
  CHECK(t.shape() == Dims{2, 4});
  CHECK(values(t) == std::vector<double>{1, 2, 1, 2, 1, 2, 1, 2});
}

TEST_CASE("Range, Trilu, ConstantOfShape, Shape", "[interp]") {
  CHECK(runOne(OpKind::Range, {i64({}, {2}), i64({}, {9}), i64({}, {3})}).toInts() == std::vector<int64_t>{2, 5, 8});
  CHECK(runOne(OpKind::Range, {i64({}, {5}), i64({}, {1}), i64({}, {-2})}).toInts() == std::vector<int64_t>{5, 3});
  CHECK(runOne(OpKind::Range, {i64({}, {5}), i64({}, {1}), i64({}, {2})}).numel() == 0);
  Tensor fr = runOne(OpKind::Range, {f32({}, {0}), f32({}, {1}), f32({}, {0.25f})});
  CHECK(values(fr) == std::vector<double>{0, 0.25, 0.5, 0.75});
  CHECK_THAT(errorOne(OpKind::Range, {i64({}, {0}), i64({}, {1}), i64({}, {0})}), Contains("nonzero"));

  Tensor x = iota({3, 3});
  CHECK(values(runOne(OpKind::Trilu, {x})) == std::vector<double>{0, 1, 2, 0, 4, 5, 0, 0, 8});
  CHECK(values(runOne(OpKind::Trilu, {x, i64({}, {1})})) == std::vector<double>{0, 1, 2, 0, 0, 5, 0, 0, 0});
  CHECK(values(runOne(OpKind::Trilu, {x}, {{"upper", int64_t{0}}})) == std::vector<double>{0, 0, 0, 3, 4, 0, 6, 7, 8});
  CHECK(values(runOne(OpKind::Trilu, {x, i64({}, {-1})}, {{"upper", int64_t{0}}})) ==
        std::vector<double>{0, 0, 0, 3, 0, 0, 6, 7, 0});

  Tensor z = runOne(OpKind::ConstantOfShape, {i64s({2, 3})});
  CHECK(z.dtype() == DType::F32);
  CHECK(values(z) == std::vector<double>(6, 0.0));
  Tensor ones = runOne(OpKind::ConstantOfShape, {i64s({2})}, {{"value", i64({1}, {7})}});
  CHECK(ones.dtype() == DType::I64);
  CHECK(ones.toInts() == std::vector<int64_t>{7, 7});

  Tensor s = runOne(OpKind::Shape, {iota({2, 3, 4})});
  CHECK(s.dtype() == DType::I64);
  CHECK(s.toInts() == std::vector<int64_t>{2, 3, 4});
  CHECK(runOne(OpKind::Shape, {iota({2, 3, 4})}, {{"start", int64_t{-2}}}).toInts() == std::vector<int64_t>{3, 4});
  CHECK(runOne(OpKind::Shape, {iota({2, 3, 4})}, {{"start", int64_t{1}}, {"end", int64_t{-1}}}).toInts() ==
        std::vector<int64_t>{3});
}

TEST_CASE("graph inputs are checked against their declared types", "[interp]") {
  Graph g;
  SymExpr batch = SymExpr::symbol(g.symbols().intern("batch")), seq = SymExpr::symbol(g.symbols().intern("seq"));
  Value* ids = g.addInput("input_ids", Type{DType::I64, {batch, seq}});
  Value* mask = g.addInput("attention_mask", Type{DType::I64, {batch, seq}});
  Value* feat = g.addInput("features", Type{DType::F32, {batch, 4}});
  Node* add = g.addNode(OpKind::Add, "add", {ids, mask}, {"sum"});
  g.addOutput(add->result());
  g.addOutput(feat);

  Tensor ok2x3 = i64({2, 3}, {1, 2, 3, 4, 5, 6});
  auto run = [&](std::vector<Tensor> in) { return interpret(g, in); };
  {
    auto r = run({ok2x3, ok2x3, iota({2, 4})});
    REQUIRE(r.ok());
    CHECK(r.value()[0].toInts() == std::vector<int64_t>{2, 4, 6, 8, 10, 12});
    CHECK(values(r.value()[1]) == values(iota({2, 4})));  // an input returned as an output
  }
  CHECK(run({ok2x3, ok2x3}).message() == "expected 3 inputs, got 2");
  CHECK(run({iota({2, 3, 1}), ok2x3, iota({2, 4})}).message() ==
        "input 'input_ids': expected i64 rank 2, got f32 rank 3");
  CHECK(run({ok2x3, ok2x3, iota({2, 5})}).message() == "input 'features': dim 1 is 5, expected 4 (shape [2, 5])");
  // Symbolic dims are free, but one symbol has one value across the inputs.
  CHECK(run({i64({1, 2}, {1, 2}), i64({1, 2}, {1, 2}), iota({1, 4})}).ok());
  CHECK(run({ok2x3, i64({2, 2}, {1, 2, 3, 4}), iota({2, 4})}).message() ==
        "input 'attention_mask': dim 1 (seq) is 2, but input 'input_ids' has seq = 3");

  // A dim written as an expression of bound symbols must match its value.
  Graph h;
  SymExpr s = SymExpr::symbol(h.symbols().intern("seq"));
  Value* a = h.addInput("a", Type{DType::F32, {s}});
  Value* b = h.addInput("b", Type{DType::F32, {s * 2}});
  h.addOutput(a);
  h.addOutput(b);
  CHECK(interpret(h, {iota({3}), iota({6})}).ok());
  CHECK(interpret(h, {iota({3}), iota({5})}).message() == "input 'b': dim 0 is 5, expected 2*seq = 6");
}

TEST_CASE("intermediates are freed, outputs kept, errors name the node", "[interp]") {
  // x -> a = x + 1 (also an output) -> b = a * a -> c = b - a; outputs a, c and a constant.
  Net n;
  Value* x = n.input(f32({2}, {1, 2}));
  Value* a = n.op(OpKind::Add, {x, n.constant(f32({}, {1}))});
  Value* b = n.op(OpKind::Mul, {a, a});
  Value* c = n.op(OpKind::Sub, {b, a});
  Value* k = n.constant(i64s({4, 5}));
  n.op(OpKind::Neg, {c});  // a dead node: computed and dropped
  n.g.addOutput(a);
  n.g.addOutput(c);
  n.g.addOutput(k);
  auto out = n.run();
  CHECK(values(out[0]) == std::vector<double>{2, 3});
  CHECK(values(out[1]) == std::vector<double>{2, 6});
  CHECK(out[2].toInts() == std::vector<int64_t>{4, 5});

  // An operand used before it is defined (not topological).
  Graph g;
  Value* in = g.addInput("x", Type{DType::F32, {2}});
  Node* first = g.addNode(OpKind::Neg, "first", {in}, {"y"});
  Node* second = g.addNode(OpKind::Neg, "second", {in}, {"z"});
  first->operands[0] = second->result();
  g.addOutput(first->result());
  auto r = interpret(g, {f32({2}, {1, 2})});
  REQUIRE_FALSE(r.ok());
  CHECK(r.message() == "node 'first' (Neg): operand 'z' is not defined before its use");
}
