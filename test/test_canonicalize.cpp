// Tests of canonicalize (passes/canonicalize.cpp): golden IR text for each
// rewrite in its doc comment (test/golden/canonicalize_*.in.ir -> .ir), with
// the same outputs on the reference interpreter before and after; and inputs
// the fuzzers found (fuzz/regressions/fuzz_pipeline/), after which the IR
// must verify.
#include <catch2/catch.hpp>

#include "ir/shape_infer.h"
#include "ir/verify.h"
#include "passes/canonicalize.h"
#include "test/fusion_graphs.h"
#include "test/golden.h"

using namespace bertc;
using ir::DType;
using ir::OpKind;
using ir::Value;

TEST_CASE("CSE leaves two Reshapes whose -1 dims are different symbols, keeping the IR valid", "[optimize]") {
  // fuzz/regressions/fuzz_pipeline/cse-reshape-infers-fresh-symbols.onnx in
  // small: two identical Reshape(X, [0, 0, -1, 16]) nodes. Each -1 is a
  // symbol of its own node (d1, d2), and the Transpose after the second is
  // typed with d2; merging the Reshapes left it typed with a symbol its
  // operand no longer had.
  ir::Graph g;
  ir::SymExpr batch = ir::SymExpr::symbol(g.symbols().intern("batch"));
  ir::SymExpr seq = ir::SymExpr::symbol(g.symbols().intern("seq"));
  ir::SymExpr width = ir::SymExpr::symbol(g.symbols().intern("width"));  // width / 16 has no name: a -1 gets one
  Value* x = g.addInput("x", ir::Type{DType::F32, {batch, seq, width}});
  Value* shape = g.addConstant("shape", ir::Tensor::fromVector<int64_t>(DType::I64, {4}, {0, 0, -1, 16}));
  auto add = [&](OpKind op, const std::string& name, std::vector<Value*> operands, std::map<std::string, ir::Attr> attrs = {}) {
    return g.addNode(op, name, std::move(operands), {name}, std::move(attrs))->result();
  };
  Value* q = add(OpKind::Reshape, "q", {x, shape});
  Value* k = add(OpKind::Reshape, "k", {x, shape});
  g.addOutput(add(OpKind::Transpose, "qt", {q}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}}));
  g.addOutput(add(OpKind::Transpose, "kt", {k}, {{"perm", std::vector<int64_t>{0, 2, 3, 1}}}));
  REQUIRE(ir::inferShapes(g).ok());
  REQUIRE(ir::verify(g).ok());
  REQUIRE(q->type != k->type);  // the premise: d1 and d2

  passes::PassContext ctx;
  passes::canonicalize(g, ctx);
  auto st = ir::verify(g);
  INFO(st.message());
  CHECK(st.ok());
}

TEST_CASE("canonicalize golden: Identity, a Cast to the same type and a one-operand Concat are bypassed", "[optimize]") {
  auto run = test::checkPassGolden("canonicalize_identity", passes::canonicalize, {OpKind::Identity, OpKind::Concat});
  CHECK(test::countOps(*run.after, OpKind::Cast) == 1);  // the one that converts
  CHECK(test::fusedVsUnfusedError(*run.before, *run.after) == 0);
}

TEST_CASE("canonicalize golden: constants, static shape arithmetic and Div by a constant fold", "[optimize]") {
  auto run = test::checkPassGolden("canonicalize_fold", passes::canonicalize,
                                   {OpKind::Shape, OpKind::Gather, OpKind::Unsqueeze, OpKind::Concat, OpKind::Sqrt,
                                    OpKind::Div});
  CHECK(test::countOps(*run.after, OpKind::Reshape) == 1);
  CHECK(test::countOps(*run.after, OpKind::Mul) == 1);
  CHECK(test::fusedVsUnfusedError(*run.before, *run.after) <= 1e-6);
}

TEST_CASE("canonicalize golden: a Gemm with a constant B becomes MatMul and Add", "[optimize]") {
  auto run = test::checkPassGolden("canonicalize_gemm", passes::canonicalize, {OpKind::Gemm});
  CHECK(test::countOps(*run.after, OpKind::MatMul) == 2);
  CHECK(test::countOps(*run.after, OpKind::Add) == 2);
  CHECK(test::fusedVsUnfusedError(*run.before, *run.after) <= 1e-6);
}

TEST_CASE("canonicalize golden: equal nodes merge, dead nodes and constants go", "[optimize]") {
  auto run = test::checkPassGolden("canonicalize_cse", passes::canonicalize, {OpKind::Exp});
  CHECK(test::countOps(*run.after, OpKind::Transpose) == 2);
  CHECK(test::countOps(*run.after, OpKind::Softmax) == 2);
  CHECK(run.after->constants().empty());
  CHECK(test::fusedVsUnfusedError(*run.before, *run.after) == 0);
}

TEST_CASE("canonicalize golden: what it must leave alone", "[optimize]") {
  auto run = test::checkPassGolden("canonicalize_keeps", passes::canonicalize, {OpKind::MatMul});
  CHECK(run.changes == 0);
  CHECK(ir::printGraph(*run.after) == ir::printGraph(*run.before));
}
