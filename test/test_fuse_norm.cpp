// Tests of the normalisation and activation fusions (passes/fuse_layernorm.cpp,
// fuse_gelu.cpp, fuse_skip_layernorm.cpp). Each exporter variant is built by
// hand (or, for some, written as IR text: test/golden/<name>.in.ir), fused,
// and checked three ways (STYLE.md §13): golden IR text
// (test/golden/*.ir), the old op kinds gone, and the reference interpreter
// agreeing before and after on seeded random inputs within 1e-5 (normalised
// max error). Near misses must not fuse, and --explain must say why. The
// fixture test runs the default pipeline on every committed model and checks
// the per-model op counts and outputs the same way.
#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <random>

#include "frontend/onnx_import.h"
#include "ir/interp.h"
#include "ir/shape_infer.h"
#include "ir/verify.h"
#include "passes/canonicalize.h"
#include "passes/fusions.h"
#include "passes/pipeline.h"
#include "test/golden.h"
#include "test/model_fixtures.h"

using namespace bertc;
using ir::OpKind;
using ir::Value;
using Catch::Matchers::Contains;

namespace {

constexpr int64_t kHidden = 16;  // > 8, so the printer leaves vectors' values out of the goldens
constexpr double kTolerance = 1e-5;

/// A graph under construction: activations are f32[batch, seq, H]; every
/// node's result is named after the node, so the goldens read like the code.
struct Builder {
  ir::Graph g;
  ir::SymExpr batch = ir::SymExpr::symbol(g.symbols().intern("batch"));
  ir::SymExpr seq = ir::SymExpr::symbol(g.symbols().intern("seq"));
  std::mt19937 rng{20240601};

  /// Uniform in [lo, hi), the same on every standard library.
  double uniform(double lo, double hi) { return lo + (hi - lo) * (static_cast<double>(rng()) / 4294967296.0); }

  Value* input(const std::string& name, int64_t h = kHidden) {
    return g.addInput(name, ir::Type{ir::DType::F32, {batch, seq, h}});
  }
  Value* scalar(const std::string& name, double v) { return g.addConstant(name, ir::Tensor::scalar(ir::DType::F32, v)); }
  Value* random(const std::string& name, std::vector<int64_t> shape, double lo, double hi) {
    ir::Tensor t = ir::Tensor::allocate(ir::DType::F32, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i) t.setDouble(static_cast<size_t>(i), uniform(lo, hi));
    return g.addConstant(name, std::move(t));
  }
  Value* op(OpKind op, const std::string& name, std::vector<Value*> operands, std::map<std::string, ir::Attr> attrs = {}) {
    return g.addNode(op, name, std::move(operands), {name}, std::move(attrs))->result();
  }
  Value* meanLast(const std::string& name, Value* x) { return op(OpKind::ReduceMean, name, {x}, {{"axes", std::vector<int64_t>{-1}}}); }
  void output(Value* v) { g.addOutput(v); }
  void finish() {
    auto st = ir::inferShapes(g);
    INFO(st.message());
    REQUIRE(st.ok());
    REQUIRE(ir::verify(g).ok());
  }
};

/// Seeded random inputs for g, batch = 2 and seq = 3; integer inputs are
/// indices in [0, `indexRange`).
std::vector<ir::Tensor> randomInputs(const ir::Graph& g, int64_t indexRange = 2) {
  std::mt19937 rng(7);
  std::vector<int64_t> env{2, 3};
  std::vector<ir::Tensor> out;
  for (const Value* in : g.inputs()) {
    std::vector<int64_t> shape;
    for (const auto& d : in->type.shape) shape.push_back(*d.eval(env));
    ir::Tensor t = ir::Tensor::allocate(in->type.dtype, shape);
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (ir::isFloat(in->type.dtype)) t.setDouble(static_cast<size_t>(i), -2.0 + 4.0 * (rng() / 4294967296.0));
      else t.setInt(static_cast<size_t>(i), static_cast<int64_t>(rng() % static_cast<uint32_t>(indexRange)));
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<ir::Tensor> run(const ir::Graph& g, const std::vector<ir::Tensor>& inputs) {
  auto r = ir::interpret(g, inputs);
  INFO((r.ok() ? std::string() : r.message()));
  REQUIRE(r.ok());
  return std::move(*r);
}

/// Runs `passes` on b's graph and checks it: `changes` rewrites, a valid
/// graph, the golden text (when `golden` is given), none of `gone` left, and
/// the interpreter's outputs unchanged within kTolerance.
passes::PassContext fuseAndCheck(Builder& b, std::vector<passes::PassFn> passes, size_t changes, const std::string& golden,
                                 std::vector<OpKind> gone) {
  b.finish();
  auto inputs = randomInputs(b.g);
  auto before = run(b.g, inputs);
  passes::PassContext ctx;
  ctx.explain = true;
  size_t made = 0;
  for (auto pass : passes) made += pass(b.g, ctx);
  for (const auto& note : ctx.notes) UNSCOPED_INFO("explain: " << note);
  CHECK(made == changes);
  auto st = ir::verify(b.g);
  INFO(st.message());
  REQUIRE(st.ok());
  if (!golden.empty()) test::checkGolden(b.g, golden);
  for (OpKind op : gone) {
    INFO("op " << ir::opName(op) << " left after fusion");
    CHECK(test::countOps(b.g, op) == 0);
  }
  auto after = run(b.g, inputs);
  REQUIRE(after.size() == before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    double err = test::normalizedMaxError(after[i], before[i]);
    INFO("output " << b.g.outputs()[i]->name << ": normalised max error " << err);
    CHECK(err <= kTolerance);
  }
  return ctx;
}

/// fuseAndCheck for a graph read from test/golden/<name>.in.ir: the golden
/// text and the ops gone (checkPassGolden), `changes` rewrites, and the
/// interpreter's outputs unchanged within kTolerance.
test::PassGoldenRun fuseTextAndCheck(const std::string& name, passes::PassFn pass, size_t changes,
                                     const std::vector<OpKind>& gone) {
  auto golden = test::checkPassGolden(name, pass, gone);
  CHECK(golden.changes == changes);
  auto inputs = randomInputs(*golden.before);
  auto before = run(*golden.before, inputs);
  auto after = run(*golden.after, inputs);
  REQUIRE(after.size() == before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    double err = test::normalizedMaxError(after[i], before[i]);
    INFO("output " << golden.after->outputs()[i]->name << ": normalised max error " << err);
    CHECK(err <= kTolerance);
  }
  return golden;
}

/// The notes joined, for Contains().
std::string notes(const passes::PassContext& ctx) {
  std::string s;
  for (const auto& n : ctx.notes) s += n + "\n";
  return s;
}

// ---- LayerNorm --------------------------------------------------------------

/// PyTorch TorchScript at opset <= 16: the LayerNorm written out op by op.
Value* torchLayerNorm(Builder& b, Value* x, const std::string& p) {
  Value* mean = b.meanLast(p + "mean", x);
  Value* d = b.op(OpKind::Sub, p + "sub", {x, mean});
  Value* sq = b.op(OpKind::Pow, p + "pow", {d, b.scalar(p + "two", 2)});
  Value* var = b.meanLast(p + "var", sq);
  Value* ve = b.op(OpKind::Add, p + "add_eps", {var, b.scalar(p + "eps", 1e-12)});
  Value* sd = b.op(OpKind::Sqrt, p + "sqrt", {ve});
  Value* n = b.op(OpKind::Div, p + "div", {d, sd});
  Value* s = b.op(OpKind::Mul, p + "mul_gamma", {n, b.random(p + "gamma", {kHidden}, 0.5, 1.5)});
  return b.op(OpKind::Add, p + "add_beta", {s, b.random(p + "beta", {kHidden}, -0.5, 0.5)});
}

const std::vector<OpKind> kLayerNormParts{OpKind::ReduceMean, OpKind::Sub, OpKind::Pow, OpKind::Sqrt,
                                          OpKind::Div,        OpKind::Mul, OpKind::Add, OpKind::Reciprocal};

TEST_CASE("fuse-layernorm: PyTorch TorchScript opset-14 chain", "[fusion]") {
  Builder b;
  Value* x = b.input("x");
  b.output(b.op(OpKind::Relu, "y", {torchLayerNorm(b, x, "ln/")}));
  fuseAndCheck(b, {passes::fuseLayerNorm}, 1, "fuse_layernorm_ts14", kLayerNormParts);
  CHECK(test::countOps(b.g, OpKind::LayerNorm) == 1);
}

TEST_CASE("fuse-layernorm: the chain's end is a graph output and keeps its name", "[fusion]") {
  Builder b;
  Value* y = torchLayerNorm(b, b.input("x"), "ln/");
  b.output(y);
  fuseAndCheck(b, {passes::fuseLayerNorm}, 1, "", kLayerNormParts);
  REQUIRE(b.g.outputs().size() == 1);
  CHECK(b.g.outputs()[0]->name == "ln/add_beta");
  CHECK(b.g.outputs()[0]->producer->op == OpKind::LayerNorm);
}

TEST_CASE("fuse-layernorm: TF/Keras rsqrt form, (X-mean)^2 as a Mul, [1,1,H] gamma, operands swapped", "[fusion]") {
  fuseTextAndCheck("fuse_layernorm_tf", passes::fuseLayerNorm, 1, kLayerNormParts);
}

TEST_CASE("fuse-layernorm: tf2onnx/Keras form with the scale folded into gamma", "[fusion]") {
  // s = Reciprocal(Sqrt(var + eps)) * gamma;  X * s + (beta - mean * s)
  Builder b;
  Value* x = b.input("x");
  Value* mean = b.meanLast("mean", x);
  Value* d = b.op(OpKind::Sub, "sub", {x, mean});
  Value* var = b.meanLast("var", b.op(OpKind::Mul, "square", {d, d}));
  Value* rstd = b.op(OpKind::Reciprocal, "rsqrt",
                     {b.op(OpKind::Sqrt, "sqrt", {b.op(OpKind::Add, "add_eps", {var, b.scalar("eps", 1e-12)})})});
  Value* s = b.op(OpKind::Mul, "scale", {rstd, b.random("gamma", {kHidden}, 0.5, 1.5)});
  Value* shift = b.op(OpKind::Sub, "shift", {b.random("beta", {kHidden}, -0.5, 0.5), b.op(OpKind::Mul, "mean_s", {mean, s})});
  b.output(b.op(OpKind::Add, "y", {b.op(OpKind::Mul, "x_s", {s, x}), shift}));
  fuseAndCheck(b, {passes::fuseLayerNorm}, 1, "fuse_layernorm_keras", kLayerNormParts);
}

TEST_CASE("fuse-layernorm: rsqrt as Pow(-0.5), no gamma or beta", "[fusion]") {
  Builder b;
  Value* x = b.input("x");
  Value* d = b.op(OpKind::Sub, "sub", {x, b.meanLast("mean", x)});
  Value* var = b.meanLast("var", b.op(OpKind::Pow, "pow", {d, b.scalar("two", 2)}));
  Value* rstd = b.op(OpKind::Pow, "rsqrt", {b.op(OpKind::Add, "add_eps", {var, b.scalar("eps", 1e-5)}), b.scalar("mhalf", -0.5)});
  b.output(b.op(OpKind::Mul, "normalize", {d, rstd}));
  fuseAndCheck(b, {passes::fuseLayerNorm}, 1, "fuse_layernorm_rsqrt_pow", kLayerNormParts);
}

TEST_CASE("fuse-layernorm: a reduction over a non-last axis does not fuse", "[fusion]") {
  Builder b;
  Value* x = b.input("x");
  auto axis1 = std::map<std::string, ir::Attr>{{"axes", std::vector<int64_t>{1}}};
  Value* mean = b.op(OpKind::ReduceMean, "mean", {x}, axis1);
  Value* d = b.op(OpKind::Sub, "sub", {x, mean});
  Value* var = b.op(OpKind::ReduceMean, "var", {b.op(OpKind::Pow, "pow", {d, b.scalar("two", 2)})}, axis1);
  Value* sd = b.op(OpKind::Sqrt, "sqrt", {b.op(OpKind::Add, "add_eps", {var, b.scalar("eps", 1e-5)})});
  b.output(b.op(OpKind::Div, "div", {d, sd}));
  auto ctx = fuseAndCheck(b, {passes::fuseLayerNorm}, 0, "", {OpKind::LayerNorm});
  CHECK_THAT(notes(ctx), Contains("node 'mean' (ReduceMean)") && Contains("reduces axes [1], not the last axis only"));
}

TEST_CASE("fuse-layernorm: a shared X - mean does not fuse", "[fusion]") {
  Builder b;
  Value* x = b.input("x");
  Value* y = torchLayerNorm(b, x, "ln/");
  b.output(y);
  b.output(b.op(OpKind::Abs, "also_uses_sub", {b.g.nodes()[1]->result()}));  // ln/sub
  auto ctx = fuseAndCheck(b, {passes::fuseLayerNorm}, 0, "", {OpKind::LayerNorm});
  CHECK_THAT(notes(ctx), Contains("node 'ln/mean' (ReduceMean)") && Contains("X - mean has 3 users") &&
                             Contains("an intermediate is shared"));
}

TEST_CASE("fuse-layernorm: a gamma that is not an [H] vector stays a Mul after the LayerNorm", "[fusion]") {
  Builder b;
  Value* x = b.input("x");
  Value* d = b.op(OpKind::Sub, "sub", {x, b.meanLast("mean", x)});
  Value* var = b.meanLast("var", b.op(OpKind::Pow, "pow", {d, b.scalar("two", 2)}));
  Value* n = b.op(OpKind::Div, "div", {d, b.op(OpKind::Sqrt, "sqrt", {b.op(OpKind::Add, "add_eps", {var, b.scalar("eps", 1e-5)})})});
  b.output(b.op(OpKind::Mul, "mul_scale", {n, b.scalar("scale", 3)}));
  fuseAndCheck(b, {passes::fuseLayerNorm}, 1, "", {OpKind::ReduceMean, OpKind::Sqrt, OpKind::Div});
  CHECK(test::countOps(b.g, OpKind::Mul) == 1);
}

// ---- GELU --------------------------------------------------------------------

/// An exporter's spelling of GELU (or an approximation of it) around x.
using GeluForm = Value* (*)(Builder&, Value* x);

/// HF BertIntermediate / TorchScript: (x * (1 + erf(x / 1.4142135))) * 0.5.
Value* geluTorchScript(Builder& b, Value* x) {
  Value* e = b.op(OpKind::Erf, "erf", {b.op(OpKind::Div, "div", {x, b.scalar("sqrt2", 1.4142135)})});
  Value* a = b.op(OpKind::Add, "add_one", {e, b.scalar("one", 1)});
  return b.op(OpKind::Mul, "mul_half", {b.op(OpKind::Mul, "mul_x", {x, a}), b.scalar("half", 0.5)});
}
/// TF / Keras: (x * 0.5) * (1 + erf(0.70710678 * x)).
Value* geluTf(Builder& b, Value* x) {
  Value* e = b.op(OpKind::Erf, "erf", {b.op(OpKind::Mul, "mul_rsqrt2", {b.scalar("rsqrt2", 0.70710678), x})});
  Value* a = b.op(OpKind::Add, "add_one", {b.scalar("one", 1), e});
  return b.op(OpKind::Mul, "mul", {b.op(OpKind::Mul, "mul_half", {x, b.scalar("half", 0.5)}), a});
}
/// x * (0.5 * (1 + erf(x * 0.7071068))).
Value* geluHalfInside(Builder& b, Value* x) {
  Value* e = b.op(OpKind::Erf, "erf", {b.op(OpKind::Mul, "mul_rsqrt2", {x, b.scalar("rsqrt2", 0.7071068)})});
  Value* a = b.op(OpKind::Add, "add_one", {e, b.scalar("one", 1)});
  return b.op(OpKind::Mul, "mul", {x, b.op(OpKind::Mul, "mul_half", {b.scalar("half", 0.5), a})});
}
/// (0.5 * x) * (1 + erf(x / sqrt(2))), 0.5 first.
Value* geluHalfFirst(Builder& b, Value* x) {
  Value* e = b.op(OpKind::Erf, "erf", {b.op(OpKind::Mul, "mul_rsqrt2", {x, b.scalar("rsqrt2", 0.70710678)})});
  Value* a = b.op(OpKind::Add, "add_one", {e, b.scalar("one", 1)});
  return b.op(OpKind::Mul, "mul", {b.op(OpKind::Mul, "mul_half", {b.scalar("half", 0.5), x}), a});
}
/// x * Phi(x) with Phi = 0.5 + 0.5 * erf(x / sqrt(2)).
Value* geluPhi(Builder& b, Value* x) {
  Value* e = b.op(OpKind::Erf, "erf", {b.op(OpKind::Div, "div", {x, b.scalar("sqrt2", 1.41421356)})});
  Value* phi = b.op(OpKind::Add, "phi", {b.op(OpKind::Mul, "half_erf", {e, b.scalar("half", 0.5)}), b.scalar("half2", 0.5)});
  return b.op(OpKind::Mul, "mul", {phi, x});
}
/// HF gelu_new (ALBERT): 0.5 * x * (1 + tanh(0.7978845608 * (x + 0.044715 * x^3))).
Value* geluNew(Builder& b, Value* x) {
  Value* half = b.op(OpKind::Mul, "mul_half", {x, b.scalar("half", 0.5)});
  Value* cube = b.op(OpKind::Pow, "pow", {x, b.scalar("three", 3)});
  Value* inner = b.op(OpKind::Add, "add", {x, b.op(OpKind::Mul, "mul_c", {cube, b.scalar("c", 0.044715)})});
  Value* t = b.op(OpKind::Tanh, "tanh", {b.op(OpKind::Mul, "mul_k", {inner, b.scalar("k", 0.7978845608)})});
  return b.op(OpKind::Mul, "mul", {half, b.op(OpKind::Add, "add_one", {t, b.scalar("one", 1)})});
}
/// The same with x^3 as x * x * x and the products reassociated.
Value* geluNewCubeByMul(Builder& b, Value* x) {
  Value* cube = b.op(OpKind::Mul, "cube", {x, b.op(OpKind::Mul, "square", {x, x})});
  Value* inner = b.op(OpKind::Add, "add", {b.op(OpKind::Mul, "mul_c", {b.scalar("c", 0.044715), cube}), x});
  Value* t = b.op(OpKind::Tanh, "tanh", {b.op(OpKind::Mul, "mul_k", {b.scalar("k", 0.79788456), inner})});
  Value* a = b.op(OpKind::Add, "add_one", {b.scalar("one", 1), t});
  return b.op(OpKind::Mul, "mul_half", {b.op(OpKind::Mul, "mul", {x, a}), b.scalar("half", 0.5)});
}
/// Megatron / OpenAI: tanh(0.79788456 * x * (1 + 0.044715 * x * x)).
Value* geluMegatron(Builder& b, Value* x) {
  Value* xx = b.op(OpKind::Mul, "xx", {b.op(OpKind::Mul, "cx", {b.scalar("c", 0.044715), x}), x});
  Value* poly = b.op(OpKind::Mul, "poly", {b.op(OpKind::Mul, "kx", {b.scalar("k", 0.79788456), x}),
                                           b.op(OpKind::Add, "one_plus", {b.scalar("one", 1), xx})});
  Value* t = b.op(OpKind::Tanh, "tanh", {poly});
  return b.op(OpKind::Mul, "mul", {b.op(OpKind::Mul, "mul_half", {x, b.scalar("half", 0.5)}),
                                   b.op(OpKind::Add, "add_one", {t, b.scalar("one2", 1)})});
}

TEST_CASE("fuse-gelu: every erf arrangement becomes Gelu", "[fusion]") {
  struct Variant {
    const char* name;
    GeluForm form;
    const char* golden;
  };
  for (const Variant& v : {Variant{"torchscript", geluTorchScript, "fuse_gelu_torchscript"},
                           Variant{"tf", geluTf, "fuse_gelu_tf"}, Variant{"half-inside", geluHalfInside, ""},
                           Variant{"half-first", geluHalfFirst, ""}, Variant{"phi", geluPhi, ""}}) {
    DYNAMIC_SECTION(v.name) {
      Builder b;
      Value* x = b.input("x");
      b.output(b.op(OpKind::Relu, "y", {v.form(b, x)}));
      fuseAndCheck(b, {passes::fuseGelu}, 1, v.golden, {OpKind::Erf, OpKind::Mul, OpKind::Add, OpKind::Div});
      REQUIRE(test::countOps(b.g, OpKind::Gelu) == 1);
      CHECK(b.g.nodes()[0]->getString("approximate", "") == "none");
    }
  }
}

TEST_CASE("fuse-gelu: every tanh arrangement becomes FastGelu", "[fusion]") {
  struct Variant {
    const char* name;
    GeluForm form;
    const char* golden;
  };
  for (const Variant& v : {Variant{"gelu_new", geluNew, "fuse_fastgelu_gelu_new"},
                           Variant{"cube-by-mul", geluNewCubeByMul, ""}, Variant{"megatron", geluMegatron, ""}}) {
    DYNAMIC_SECTION(v.name) {
      Builder b;
      Value* x = b.input("x");
      b.output(v.form(b, x));
      fuseAndCheck(b, {passes::fuseGelu}, 1, v.golden, {OpKind::Tanh, OpKind::Pow, OpKind::Mul, OpKind::Add});
      CHECK(test::countOps(b.g, OpKind::FastGelu) == 1);
    }
  }
}

TEST_CASE("fuse-gelu: Gelu {approximate=tanh} becomes FastGelu", "[fusion]") {
  Builder b;
  b.output(b.op(OpKind::Gelu, "gelu", {b.input("x")}, {{"approximate", std::string("tanh")}}));
  fuseAndCheck(b, {passes::fuseGelu}, 1, "", {OpKind::Gelu});
  CHECK(test::countOps(b.g, OpKind::FastGelu) == 1);
}

TEST_CASE("fuse-gelu: near misses do not fuse and say why", "[fusion]") {
  SECTION("a scale that is not 1/sqrt(2)") {
    Builder b;
    Value* x = b.input("x");
    Value* e = b.op(OpKind::Erf, "erf", {b.op(OpKind::Mul, "mul_c", {x, b.scalar("c", 0.75)})});
    b.output(b.op(OpKind::Mul, "mul", {b.op(OpKind::Mul, "mul_half", {x, b.scalar("half", 0.5)}),
                                       b.op(OpKind::Add, "add_one", {e, b.scalar("one", 1)})}));
    auto ctx = fuseAndCheck(b, {passes::fuseGelu}, 0, "", {OpKind::Gelu});
    CHECK_THAT(notes(ctx), Contains("node 'erf' (Erf)") && Contains("the argument is 0.75*X, not X / sqrt(2)"));
  }
  SECTION("1 + 2 erf is not GELU") {
    Builder b;
    Value* x = b.input("x");
    Value* e = b.op(OpKind::Erf, "erf", {b.op(OpKind::Mul, "mul_c", {x, b.scalar("c", 0.70710678)})});
    Value* e2 = b.op(OpKind::Mul, "twice", {e, b.scalar("two", 2)});
    b.output(b.op(OpKind::Mul, "mul", {b.op(OpKind::Mul, "mul_half", {x, b.scalar("half", 0.5)}),
                                       b.op(OpKind::Add, "add_one", {e2, b.scalar("one", 1)})}));
    auto ctx = fuseAndCheck(b, {passes::fuseGelu}, 0, "", {OpKind::Gelu});
    CHECK_THAT(notes(ctx), Contains("no one-use product around Erf computes 0.5 * X * (1 + t)"));
  }
  SECTION("an intermediate used elsewhere") {
    Builder b;
    Value* x = b.input("x");
    Value* y = geluTorchScript(b, x);
    b.output(y);
    b.output(b.op(OpKind::Neg, "also_uses_add", {b.g.nodes()[2]->result()}));  // add_one
    auto ctx = fuseAndCheck(b, {passes::fuseGelu}, 0, "", {OpKind::Gelu});
    CHECK_THAT(notes(ctx), Contains("node 'erf' (Erf)") && Contains("no one-use product"));
  }
  SECTION("the pooler's Tanh") {
    Builder b;
    Value* x = b.input("x");
    Value* h = b.op(OpKind::MatMul, "dense", {x, b.random("w", {kHidden, kHidden}, -0.3, 0.3)});
    b.output(b.op(OpKind::Tanh, "pooler", {b.op(OpKind::Add, "bias", {h, b.random("b", {kHidden}, -0.1, 0.1)})}));
    auto ctx = fuseAndCheck(b, {passes::fuseGelu}, 0, "", {OpKind::FastGelu});
    CHECK_THAT(notes(ctx), Contains("so this is a plain Tanh"));
  }
}

/// MatMul(x, W) + bias, the FFN's first linear layer, with H -> 2H.
Value* ffnIn(Builder& b, Value* x, bool biasFirst) {
  Value* h = b.op(OpKind::MatMul, "ffn_in", {x, b.random("w_in", {kHidden, 2 * kHidden}, -0.3, 0.3)});
  Value* bias = b.random("b_in", {2 * kHidden}, -0.2, 0.2);
  return b.op(OpKind::Add, "ffn_bias", biasFirst ? std::vector<Value*>{bias, h} : std::vector<Value*>{h, bias});
}

TEST_CASE("fuse-bias-gelu: Gelu(Add(B, X)) -> BiasGelu(X, B)", "[fusion]") {
  auto golden = fuseTextAndCheck("fuse_bias_gelu", passes::fuseBiasGelu, 1, {OpKind::Gelu, OpKind::Add});
  CHECK(test::countOps(*golden.after, OpKind::BiasGelu) == 1);
}

TEST_CASE("fuse-gelu then fuse-bias-gelu: decomposed erf GELU after a biased MatMul -> BiasGelu", "[fusion]") {
  Builder b;
  b.output(geluTorchScript(b, ffnIn(b, b.input("x"), false)));
  fuseAndCheck(b, {passes::fuseGelu, passes::fuseBiasGelu}, 2, "", {OpKind::Gelu, OpKind::Erf, OpKind::Add});
  CHECK(test::countOps(b.g, OpKind::BiasGelu) == 1);
}

TEST_CASE("fuse-gelu then fuse-bias-gelu: gelu_new after a biased MatMul -> FastGelu(X, B)", "[fusion]") {
  Builder b;
  b.output(geluNew(b, ffnIn(b, b.input("x"), true)));
  fuseAndCheck(b, {passes::fuseGelu, passes::fuseBiasGelu}, 2, "fuse_bias_fastgelu", {OpKind::Tanh, OpKind::Add});
  REQUIRE(test::countOps(b.g, OpKind::FastGelu) == 1);
}

TEST_CASE("fuse-bias-gelu: a bias Add with another use does not fold", "[fusion]") {
  Builder b;
  Value* a = ffnIn(b, b.input("x"), true);
  b.output(b.op(OpKind::Gelu, "gelu", {a}, {{"approximate", std::string("none")}}));
  b.output(a);
  auto ctx = fuseAndCheck(b, {passes::fuseBiasGelu}, 0, "", {OpKind::BiasGelu});
  CHECK_THAT(notes(ctx), Contains("node 'gelu' (Gelu)") && Contains("the biased value has other uses"));
}

// ---- SkipLayerNorm -------------------------------------------------------------

Value* layerNorm(Builder& b, Value* x, const std::string& name) {
  return b.op(OpKind::LayerNorm, name,
              {x, b.random(name + ".gamma", {kHidden}, 0.5, 1.5), b.random(name + ".beta", {kHidden}, -0.5, 0.5)},
              {{"axis", int64_t{-1}}, {"epsilon", 1e-12}});
}

/// The sublayer: MatMul(x, W).
Value* dense(Builder& b, Value* x) { return b.op(OpKind::MatMul, "dense", {x, b.random("w", {kHidden, kHidden}, -0.3, 0.3)}); }

TEST_CASE("fuse-skip-layernorm: LayerNorm(Add(Add(MatMul, bias), residual)) folds the bias", "[fusion]") {
  Builder b;
  Value* residual = b.input("residual");
  Value* h = b.op(OpKind::Add, "dense_bias", {b.random("bias", {kHidden}, -0.2, 0.2), dense(b, b.input("x"))});
  b.output(layerNorm(b, b.op(OpKind::Add, "residual_add", {h, residual}), "ln"));
  fuseAndCheck(b, {passes::fuseSkipLayerNorm}, 1, "fuse_skip_layernorm_bias", {OpKind::LayerNorm, OpKind::Add});
  CHECK(test::countOps(b.g, OpKind::SkipLayerNorm) == 1);
}

TEST_CASE("fuse-skip-layernorm: LayerNorm(Add(residual, MatMul)) puts the MatMul first", "[fusion]") {
  Builder b;
  Value* residual = b.input("residual");
  b.output(layerNorm(b, b.op(OpKind::Add, "residual_add", {residual, dense(b, b.input("x"))}), "ln"));
  fuseAndCheck(b, {passes::fuseSkipLayerNorm}, 1, "fuse_skip_layernorm_plain", {OpKind::LayerNorm, OpKind::Add});
  const ir::Node& n = *b.g.nodes().back();
  REQUIRE(n.op == OpKind::SkipLayerNorm);
  CHECK(n.operand(0)->producer->op == OpKind::MatMul);
  CHECK(n.operand(1)->name == "residual");
  CHECK(n.getFloat("epsilon", 0) == 1e-12);
}

TEST_CASE("fuse-skip-layernorm: the bias on either side, or after the residual Add", "[fusion]") {
  for (int form = 0; form < 3; ++form) {
    DYNAMIC_SECTION("form " << form) {
      Builder b;
      Value* residual = b.input("residual");
      Value* h = dense(b, b.input("x"));
      Value* bias = b.random("bias", {1, kHidden}, -0.2, 0.2);
      Value* sum = nullptr;
      if (form == 0) sum = b.op(OpKind::Add, "sum", {residual, b.op(OpKind::Add, "biased", {h, bias})});
      if (form == 1) sum = b.op(OpKind::Add, "sum", {b.op(OpKind::Add, "res_biased", {residual, bias}), h});
      if (form == 2) sum = b.op(OpKind::Add, "sum", {bias, b.op(OpKind::Add, "plain", {h, residual})});
      b.output(layerNorm(b, sum, "ln"));
      fuseAndCheck(b, {passes::fuseSkipLayerNorm}, 1, "", {OpKind::LayerNorm, OpKind::Add});
      const ir::Node& n = *b.g.nodes().back();
      REQUIRE(n.op == OpKind::SkipLayerNorm);
      CHECK(n.operands.size() == 5);
      CHECK(n.operand(0) == h);
      CHECK(n.operand(1) == residual);
    }
  }
}

TEST_CASE("fuse-layernorm then fuse-skip-layernorm: a decomposed post-LN residual", "[fusion]") {
  Builder b;
  Value* residual = b.input("residual");
  Value* h = b.op(OpKind::Add, "dense_bias", {b.random("bias", {kHidden}, -0.2, 0.2), dense(b, b.input("x"))});
  b.output(torchLayerNorm(b, b.op(OpKind::Add, "residual_add", {h, residual}), "ln/"));
  auto parts = kLayerNormParts;
  parts.push_back(OpKind::LayerNorm);
  fuseAndCheck(b, {passes::fuseLayerNorm, passes::fuseSkipLayerNorm}, 2, "", parts);
  CHECK(test::countOps(b.g, OpKind::SkipLayerNorm) == 1);
}

TEST_CASE("fuse-skip-layernorm: near misses do not fuse and say why", "[fusion]") {
  SECTION("the embedding sum of Gathers") {
    Builder b;
    auto ids = [&](const char* name) { return b.g.addInput(name, ir::Type{ir::DType::I64, {b.batch, b.seq}}); };
    Value* word = b.op(OpKind::Gather, "word", {b.random("word_table", {30, kHidden}, -1, 1), ids("input_ids")});
    Value* type = b.op(OpKind::Gather, "type", {b.random("type_table", {2, kHidden}, -1, 1), ids("token_type_ids")});
    Value* pos = b.op(OpKind::Gather, "pos", {b.random("pos_table", {16, kHidden}, -1, 1), ids("position_ids")});
    Value* sum = b.op(OpKind::Add, "sum", {b.op(OpKind::Add, "word_type", {word, type}), pos});
    b.output(layerNorm(b, sum, "ln"));
    auto ctx = fuseAndCheck(b, {passes::fuseSkipLayerNorm}, 0, "", {OpKind::SkipLayerNorm});
    CHECK_THAT(notes(ctx), Contains("node 'ln' (LayerNorm)") && Contains("left to the embedding fusion"));
  }
  SECTION("the residual sum is used elsewhere") {
    Builder b;
    Value* sum = b.op(OpKind::Add, "sum", {dense(b, b.input("x")), b.input("residual")});
    b.output(layerNorm(b, sum, "ln"));
    b.output(sum);
    auto ctx = fuseAndCheck(b, {passes::fuseSkipLayerNorm}, 0, "", {OpKind::SkipLayerNorm});
    CHECK_THAT(notes(ctx), Contains("the residual sum has uses besides the LayerNorm"));
  }
  SECTION("a skip broadcast from [1, seq, H]") {
    Builder b;
    Value* skip = b.g.addInput("skip", ir::Type{ir::DType::F32, {1, b.seq, kHidden}});
    b.output(layerNorm(b, b.op(OpKind::Add, "sum", {dense(b, b.input("x")), skip}), "ln"));
    auto ctx = fuseAndCheck(b, {passes::fuseSkipLayerNorm}, 0, "", {OpKind::SkipLayerNorm});
    CHECK_THAT(notes(ctx), Contains("the Add is not X + Skip"));
  }
  SECTION("a LayerNorm over the last two axes") {
    Builder b;
    Value* sum = b.op(OpKind::Add, "sum", {dense(b, b.input("x")), b.input("residual")});
    b.output(b.op(OpKind::LayerNorm, "ln", {sum}, {{"axis", int64_t{1}}}));
    auto ctx = fuseAndCheck(b, {passes::fuseSkipLayerNorm}, 0, "", {OpKind::SkipLayerNorm});
    CHECK_THAT(notes(ctx), Contains("normalises from axis 1, not the last axis only"));
  }
}

// ---- every fixture through the default pipeline ---------------------------------

/// Encoder layers: Attention ops, or before attention fusion the 4-D Softmaxes.
int countLayers(const ir::Graph& g) {
  int n = test::countOps(g, OpKind::Attention);
  for (const auto& node : g.nodes()) n += node->op == OpKind::Softmax && node->result()->type.rank() == 4;
  return n;
}

}  // namespace

TEST_CASE("fixtures: the default pipeline fuses every LayerNorm and GELU and keeps the outputs", "[fusion]") {
  auto dirs = test::fixtureDirs();
  REQUIRE(dirs.size() >= 36);
  for (const auto& dir : dirs) {
    DYNAMIC_SECTION(dir.filename().string()) {
      auto g = frontend::importOnnxFile((dir / "model.onnx").string());
      REQUIRE(g.ok());
      ir::Graph& graph = **g;
      int layers = countLayers(graph);
      REQUIRE(layers > 0);
      auto inputs = test::loadInputs(graph, dir);
      auto before = run(graph, inputs);
      passes::PipelineOptions opts;
      opts.verifyEach = true;
      auto r = passes::runPipeline(graph, opts);
      INFO((r.ok() ? std::string() : r.message()));
      REQUIRE(r.ok());
      for (OpKind op : {OpKind::ReduceMean, OpKind::Erf, OpKind::Pow, OpKind::Sqrt, OpKind::Div, OpKind::Gelu}) {
        INFO(ir::opName(op) << " left");
        CHECK(test::countOps(graph, op) == 0);
      }
      CHECK(test::countOps(graph, OpKind::Tanh) <= 1);  // the pooler's, where there is one
      CHECK(countLayers(graph) == layers);
      CHECK(test::countOps(graph, OpKind::SkipLayerNorm) == 2 * layers);
      CHECK(test::countOps(graph, OpKind::BiasGelu) + test::countOps(graph, OpKind::FastGelu) == layers);
      CHECK(test::countOps(graph, OpKind::LayerNorm) + test::countOps(graph, OpKind::EmbedLayerNorm) == 1);
      auto after = run(graph, inputs);
      REQUIRE(after.size() == before.size());
      for (size_t i = 0; i < after.size(); ++i) {
        double err = test::normalizedMaxError(after[i], before[i]);
        fmt::print("{:<26} {:<18} SkipLayerNorm {} BiasGelu {} FastGelu {}  error vs unfused {:.3g}\n",
                   dir.filename().string(), graph.outputs()[i]->name, test::countOps(graph, OpKind::SkipLayerNorm),
                   test::countOps(graph, OpKind::BiasGelu), test::countOps(graph, OpKind::FastGelu), err);
        INFO("output " << graph.outputs()[i]->name << ": normalised max error " << err);
        CHECK(err <= kTolerance);
      }
    }
  }
}
