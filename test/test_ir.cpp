// Unit tests of the IR core: symbolic dims, shape inference, printer, verifier.
#include <catch2/catch.hpp>

#include "ir/graph.h"
#include "ir/npy.h"
#include "ir/printer.h"
#include "ir/shape_infer.h"
#include "ir/verify.h"

using namespace bertc::ir;
using bertc::Status;

namespace {

Type f32(Shape s) { return Type{DType::F32, std::move(s)}; }

Value* i64Const(Graph& g, const std::string& name, std::vector<int64_t> vals, bool scalar = false) {
  std::vector<int64_t> shape = scalar ? std::vector<int64_t>{} : std::vector<int64_t>{static_cast<int64_t>(vals.size())};
  return g.addConstant(name, Tensor::fromVector(DType::I64, shape, vals));
}

}  // namespace

TEST_CASE("SymExpr polynomial algebra", "[ir]") {
  SymbolTable syms;
  SymExpr b = SymExpr::symbol(syms.intern("batch")), s = SymExpr::symbol(syms.intern("seq"));
  SymExpr e = b * s * 64;
  CHECK(e.str(syms) == "64*batch*seq");
  CHECK(e.divExact(b * s * 4) == SymExpr(16));
  CHECK_FALSE(e.divExact(SymExpr(3)).has_value());
  CHECK_FALSE((b + 1).divExact(b).has_value());
  CHECK((s + s - s * 2) == SymExpr(0));
  CHECK((b * s) == (s * b));
  CHECK((s + 3).str(syms) == "seq + 3");
  CHECK((SymExpr(2) - s).str(syms) == "-seq + 2");
  CHECK((b * s + 1).eval({2, 7}) == 15);
  CHECK_FALSE(b.eval({-1, 7}).has_value());
  CHECK(SymExpr(5).constValue() == 5);
  CHECK(s.asSymbol() == syms.find("seq"));
}

TEST_CASE("shape inference resolves the exporters' Shape/Gather/Concat/Reshape chain", "[ir]") {
  Graph g;
  SymExpr b = SymExpr::symbol(g.symbols().intern("batch")), s = SymExpr::symbol(g.symbols().intern("seq"));
  Value* x = g.addInput("x", f32({b, s, 64}));
  Value* shp = g.addNode(OpKind::Shape, "shape", {x}, {"shp"})->result();
  Value* d0 = g.addNode(OpKind::Gather, "g0", {shp, i64Const(g, "zero", {0}, true)}, {"d0"})->result();
  Value* d1 = g.addNode(OpKind::Gather, "g1", {shp, i64Const(g, "one", {1}, true)}, {"d1"})->result();
  Value* u0 = g.addNode(OpKind::Unsqueeze, "u0", {d0}, {"u0"}, {{"axes", std::vector<int64_t>{0}}})->result();
  Value* u1 = g.addNode(OpKind::Unsqueeze, "u1", {d1}, {"u1"}, {{"axes", std::vector<int64_t>{0}}})->result();
  Value* cat = g.addNode(OpKind::Concat, "cat", {u0, u1, i64Const(g, "heads", {4, 16})}, {"cat"},
                         {{"axis", int64_t{0}}})->result();
  Value* r = g.addNode(OpKind::Reshape, "split_heads", {x, cat}, {"r"})->result();
  Value* t = g.addNode(OpKind::Transpose, "tr", {r}, {"t"}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}})->result();
  Value* kt = g.addNode(OpKind::Transpose, "trk", {r}, {"kt"}, {{"perm", std::vector<int64_t>{0, 2, 3, 1}}})->result();
  Value* qk = g.addNode(OpKind::MatMul, "qk", {t, kt}, {"qk"})->result();
  Value* flat = g.addNode(OpKind::Reshape, "flat", {x, i64Const(g, "m1", {-1, 64})}, {"flat"})->result();
  Value* back = g.addNode(OpKind::Reshape, "back", {flat, i64Const(g, "z", {0, -1})}, {"back"})->result();
  g.addOutput(qk);
  g.addOutput(back);

  REQUIRE(inferShapes(g).ok());
  CHECK(cat->symbolic == std::vector<SymExpr>{b, s, 4, 16});
  CHECK(r->type == f32({b, s, 4, 16}));
  CHECK(qk->type == f32({b, 4, s, s}));
  CHECK(flat->type == f32({b * s, 64}));
  CHECK(back->type == f32({b * s, 64}));
  CHECK(verify(g).ok());
}

TEST_CASE("broadcasting and slicing with symbolic dims", "[ir]") {
  Graph g;
  SymExpr b = SymExpr::symbol(g.symbols().intern("batch")), s = SymExpr::symbol(g.symbols().intern("seq"));
  Value* scores = g.addInput("scores", f32({b, 4, s, s}));
  Value* mask = g.addInput("mask", f32({b, 1, 1, s}));
  Value* sum = g.addNode(OpKind::Add, "add", {scores, mask}, {"sum"})->result();
  Value* pos = g.addConstant("pos", Tensor::allocate(DType::I64, {1, 40}));
  Value* seqLen = g.addNode(OpKind::Gather, "g", {g.addNode(OpKind::Shape, "sh", {mask}, {"sh"})->result(),
                                                  i64Const(g, "three", {3})}, {"len"})->result();
  Value* sl = g.addNode(OpKind::Slice, "slice", {pos, i64Const(g, "st", {0}), seqLen, i64Const(g, "ax", {1})},
                        {"sl"})->result();
  Value* last = g.addNode(OpKind::Slice, "last", {scores, i64Const(g, "m1", {-1}), i64Const(g, "big", {INT64_MAX}),
                                                  i64Const(g, "ax3", {3})}, {"last"})->result();
  g.addOutput(sum);
  g.addOutput(sl);
  g.addOutput(last);
  REQUIRE(inferShapes(g).ok());
  CHECK(sum->type == f32({b, 4, s, s}));
  CHECK(sl->type == Type{DType::I64, {1, s}});
  CHECK(last->type == f32({b, 4, s, 1}));
}

TEST_CASE("shape inference errors name the node and op", "[ir]") {
  Graph g;
  Value* a = g.addInput("a", f32({2, 3}));
  Value* i = g.addInput("i", Type{DType::I64, {2, 3}});
  g.addOutput(g.addNode(OpKind::Add, "bad_add", {a, i}, {"sum"})->result());
  Status st = inferShapes(g);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.message(), Catch::Contains("node 'bad_add' (Add)") && Catch::Contains("f32[2, 3]") &&
                               Catch::Contains("i64[2, 3]"));

  Graph h;
  Value* x = h.addInput("x", f32({2, 3}));
  h.addOutput(h.addNode(OpKind::Reshape, "rs", {x, i64Const(h, "shape", {4, 2})}, {"y"})->result());
  st = inferShapes(h);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.message(), Catch::Contains("node 'rs' (Reshape)") && Catch::Contains("6 != 8"));
}

TEST_CASE("verifier catches wrong types and use before definition", "[ir]") {
  Graph g;
  Value* x = g.addInput("x", f32({2, 3}));
  Node* n = g.addNode(OpKind::Relu, "relu", {x}, {"y"});
  g.addOutput(n->result());
  REQUIRE(inferShapes(g).ok());
  REQUIRE(verify(g).ok());
  n->result()->type = f32({3, 2});
  Status st = verify(g);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.message(), Catch::Contains("node 'relu' (Relu)") && Catch::Contains("f32[3, 2]"));

  Graph h;
  Value* a = h.addInput("a", f32({2}));
  Node* first = h.addNode(OpKind::Neg, "first", {a}, {"b"});
  Node* second = h.addNode(OpKind::Neg, "second", {first->result()}, {"c"});
  first->operands[0] = second->result();  // a cycle: c used before it is defined
  h.addOutput(second->result());
  REQUIRE(inferShapes(h).ok() == false);  // c has no type yet either
  st = verify(h);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.message(), Catch::Contains("node 'first' (Neg)"));
}

TEST_CASE("printer output is stable and readable", "[ir]") {
  Graph g;
  SymExpr b = SymExpr::symbol(g.symbols().intern("batch"));
  Value* x = g.addInput("x", f32({b, 8}));
  Value* w = g.addConstant("w", Tensor::allocate(DType::F32, {8, 4}));
  Value* y = g.addNode(OpKind::MatMul, "mm", {x, w}, {"y"})->result();
  Value* z = g.addNode(OpKind::Softmax, "sm", {y}, {"weird name"}, {{"axis", int64_t{-1}}})->result();
  g.addOutput(z);
  REQUIRE(inferShapes(g).ok());
  CHECK(printGraph(g) ==
        "graph {\n"
        "  symbols batch\n"
        "  input %x : f32[batch, 8]\n"
        "  const %w : f32[8, 4]\n"
        "  %y = MatMul(%x, %w) : f32[batch, 4]\n"
        "  %\"weird name\" = Softmax(%y) {axis=-1} : f32[batch, 4]\n"
        "  return %\"weird name\"\n"
        "}\n");
}

TEST_CASE("op table is consistent", "[ir]") {
  CHECK(numOps() > 50);
  CHECK(opFromName("LayerNorm") == OpKind::LayerNorm);
  CHECK_FALSE(opFromName("NoSuchOp").has_value());
  for (size_t i = 0; i < numOps(); ++i) CHECK(opFromName(opName(static_cast<OpKind>(i))) == static_cast<OpKind>(i));
}

TEST_CASE("half and bfloat16 conversions round to nearest even", "[ir]") {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.33325195f})
    CHECK(halfToFloat(floatToHalf(f)) == f);
  CHECK(floatToHalf(1.0f + 1.0f / 2048) == floatToHalf(1.0f));  // tie rounds to even
  CHECK(halfToFloat(floatToHalf(1e6f)) == std::numeric_limits<float>::infinity());
  CHECK(bf16ToFloat(floatToBf16(1.5f)) == 1.5f);
}

TEST_CASE("npy round trip", "[ir]") {
  Tensor t = Tensor::fromVector<float>(DType::F32, {2, 3}, {1, 2, 3, 4, 5, 6});
  std::string path = std::string(BERTC_BINARY_DIR) + "/rt.npy";
  REQUIRE(writeNpy(path, t).ok());
  auto r = readNpy(path);
  REQUIRE(r.ok());
  CHECK(r->shape() == std::vector<int64_t>{2, 3});
  CHECK(r->getDouble(5) == 6.0);
  CHECK_FALSE(readNpy(std::string(BERTC_SOURCE_DIR) + "/CMakeLists.txt").ok());
}
