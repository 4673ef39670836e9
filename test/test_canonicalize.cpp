// Tests of canonicalize (passes/canonicalize.cpp) from inputs the fuzzers
// found (fuzz/regressions/fuzz_pipeline/): the IR must verify after it.
#include <catch2/catch.hpp>

#include "ir/shape_infer.h"
#include "ir/verify.h"
#include "passes/canonicalize.h"

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
