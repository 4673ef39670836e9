// Tests of the IR text parser (ir/parser.cpp) and the printer it reads: the
// round trip parse(print(g)) printed again is print(g), for every committed
// golden file, every fixture model after the default pipeline, and a graph
// with every kind of value and attribute; constants come back bit for bit;
// bad text is one error line naming file:line:col.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "frontend/onnx_import.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/shape_infer.h"
#include "passes/pipeline.h"
#include "test/golden.h"
#include "test/model_fixtures.h"

using namespace bertc;
using namespace bertc::ir;

namespace {

std::unique_ptr<Graph> parseOk(const std::string& text, const std::string& file = "test.ir") {
  auto g = parseGraph(text, file);
  INFO((g.ok() ? std::string() : g.message()));
  REQUIRE(g.ok());
  return std::move(*g);
}

/// print(g) == print(parse(print(g))); returns the parsed graph.
std::unique_ptr<Graph> checkRoundTrip(const Graph& g, const std::string& label) {
  std::string text = printGraph(g);
  auto back = parseOk(text, label);
  INFO(label);
  CHECK(printGraph(*back) == text);
  return back;
}

/// The error for `text`, checked to be one line starting `bad.ir:line:col: `.
std::string parseError(const std::string& text, int line, int col) {
  auto g = parseGraph(text, "bad.ir");
  std::string msg = test::requireOneLineError(g);
  std::string where = "bad.ir:" + std::to_string(line) + ":" + std::to_string(col) + ": ";
  INFO(msg);
  CHECK(msg.rfind(where, 0) == 0);
  return msg;
}

bool sameBytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
         std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

const std::string kHeader = "graph {\n  symbols batch, seq\n  input %x : f32[batch, seq, 4]\n";

}  // namespace

TEST_CASE("IR text: every committed golden file parses and prints back as written", "[ir]") {
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(test::goldenPath(""))) {
    std::string name = e.path().filename().string();
    if (e.path().extension() != ".ir") continue;
    ++files;
    DYNAMIC_SECTION(name) {
      auto g = test::parseGolden(name);
      std::string printed = printGraph(*g);
      // Expected files are printer output; inputs (.in.ir) are written by hand,
      // with comments, so only their printed form must be a fixed point.
      if (name.size() < 6 || name.substr(name.size() - 6) != ".in.ir") CHECK(printed == test::readText(e.path()));
      checkRoundTrip(*g, name);
    }
  }
  CHECK(files >= 20);
}

TEST_CASE("IR text: every fixture after the default pipeline round-trips", "[ir]") {
  auto dirs = test::fixtureDirs();
  REQUIRE(dirs.size() >= 36);
  for (const auto& dir : dirs) {
    DYNAMIC_SECTION(dir.filename().string()) {
      auto g = frontend::importOnnxFile((dir / "model.onnx").string());
      INFO((g.ok() ? std::string() : g.message()));
      REQUIRE(g.ok());
      checkRoundTrip(**g, dir.filename().string() + " (imported)");
      auto r = passes::runPipeline(**g, passes::PipelineOptions{});
      INFO((r.ok() ? std::string() : r.message()));
      REQUIRE(r.ok());
      auto back = checkRoundTrip(**g, dir.filename().string() + " (optimized)");
      // Small constants come back bit for bit; large ones keep their type.
      REQUIRE(back->constants().size() == (*g)->constants().size());
      for (size_t i = 0; i < back->constants().size(); ++i) {
        const Tensor& want = *(*g)->constants()[i]->constant;
        const Tensor& got = *back->constants()[i]->constant;
        if (want.numel() <= kMaxPrintedElements) CHECK(sameBytes(got, want));
        CHECK(got.shape() == want.shape());
      }
    }
  }
}

TEST_CASE("IR text: every kind of value, attribute and constant round-trips exactly", "[ir]") {
  Graph g;
  g.info().graphName = "all \"kinds\"";
  SymExpr b = SymExpr::symbol(g.symbols().intern("batch"));
  SymExpr odd = SymExpr::symbol(g.symbols().intern("input.1_dim-1"));  // not an identifier: quoted
  SymId derived = g.symbols().derived("floor(batch / 3), of node 'x'");
  Value* x = g.addInput("x", Type{DType::F32, {b, odd, 4}});
  Value* ids = g.addInput("odd name\t\"1\"", Type{DType::I64, {b, SymExpr::symbol(derived)}});
  auto constant = [&](const std::string& name, DType dt, std::vector<int64_t> shape, std::vector<double> vals) {
    Tensor t = Tensor::allocate(dt, std::move(shape));
    for (size_t i = 0; i < vals.size(); ++i) t.setDouble(i, vals[i]);
    return g.addConstant(name, std::move(t));
  };
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  constant("f32", DType::F32, {2, 4}, {0.1, -0.0, 1e-45, 3.4028234663852886e38, nan, -inf, 1.0 / 3, 2});
  constant("f64", DType::F64, {3}, {0.1, 1.0 / 3, 5e-324});
  constant("f16", DType::F16, {3}, {0.1, 65504, 6e-8});
  constant("bf16", DType::BF16, {2}, {0.1, -3.0e38});
  Tensor big = Tensor::allocate(DType::I64, {2});
  big.setInt(0, std::numeric_limits<int64_t>::min());
  big.setInt(1, std::numeric_limits<int64_t>::max());
  g.addConstant("i64", std::move(big));
  constant("i32", DType::I32, {}, {-2147483648.0});
  constant("u8", DType::U8, {2}, {0, 255});
  constant("i8", DType::I8, {1}, {-128});
  constant("bool", DType::Bool, {2}, {1, 0});
  Value* table = constant("table", DType::F32, {16, 4}, {});  // large: type only, pseudo-random when parsed
  Value* cat = g.addConstant("split_sizes", Tensor::fromVector<int64_t>(DType::I64, {10}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}));

  auto node = [&](OpKind op, std::vector<Value*> in, std::vector<std::string> out, std::map<std::string, Attr> attrs) {
    return g.addNode(op, out[0], std::move(in), out, std::move(attrs));
  };
  Value* ln = node(OpKind::LayerNorm, {x, nullptr, nullptr}, {"ln"},
                   {{"epsilon", static_cast<double>(1e-12f)}, {"axis", int64_t{-1}}})->result();
  Value* six = constant("six", DType::F32, {}, {6});
  Value* scaled = node(OpKind::Clip, {ln, nullptr, six}, {"clip"}, {{"unused_double", 1e-12}})->result();
  Node* split = node(OpKind::Split, {scaled}, {"s0", "s1"},
                     {{"axis", int64_t{2}}, {"split", std::vector<int64_t>{1, 3}},
                      {"floats", std::vector<double>{-10000, 0.5, static_cast<double>(0.1f), 0.1, nan, -inf}},
                      {"strings", std::vector<std::string>{"a,b", "c\\\"d\n"}}, {"empty", std::vector<int64_t>{}},
                      {"name", std::string("tanh")}});
  Value* fill = node(OpKind::ConstantOfShape, {cat}, {"filled"},
                     {{"value", Tensor::scalar(DType::F16, 0.1)}, {"big", Tensor::allocate(DType::F32, {3, 3})}})->result();
  Value* gathered = node(OpKind::Gather, {table, ids}, {"gathered"}, {})->result();
  g.addOutput(split->result(1));
  g.addOutput(fill);
  g.addOutput(gathered);
  g.addOutput(x);  // an input as an output
  auto st = inferShapes(g);
  INFO(st.message());
  REQUIRE(st.ok());

  auto back = checkRoundTrip(g, "all kinds");
  CHECK(back->info().graphName == g.info().graphName);
  REQUIRE(back->constants().size() == g.constants().size());
  for (size_t i = 0; i < g.constants().size(); ++i) {
    INFO("constant " << g.constants()[i]->name);
    if (g.constants()[i]->name == "table") CHECK(back->constants()[i]->type == table->type);
    else CHECK(sameBytes(*back->constants()[i]->constant, *g.constants()[i]->constant));
  }
  // Attributes come back as the same variant with the same bits.
  const Node& n = *back->nodes()[2];
  REQUIRE(n.op == OpKind::Split);
  CHECK(n.results.size() == 2);
  auto floats = std::get<std::vector<double>>(n.attrs.at("floats"));
  auto want = std::get<std::vector<double>>(split->attrs.at("floats"));
  REQUIRE(floats.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) CHECK(std::bit_cast<uint64_t>(floats[i]) == std::bit_cast<uint64_t>(want[i]));
  CHECK(std::get<std::vector<std::string>>(n.attrs.at("strings")) == std::vector<std::string>{"a,b", "c\\\"d\n"});
  CHECK(std::get<std::vector<int64_t>>(n.attrs.at("empty")).empty());
  CHECK(back->nodes()[0]->getFloat("epsilon", 0) == static_cast<double>(1e-12f));
  CHECK(back->nodes()[1]->getFloat("unused_double", 0) == 1e-12);
  CHECK(back->nodes()[0]->operand(1) == nullptr);
  CHECK(back->symbols()[derived].definition == "floor(batch / 3), of node 'x'");
  CHECK(back->symbols()[derived].lo == 0);
  CHECK(back->inputs()[1]->name == "odd name\t\"1\"");
}

TEST_CASE("IR text: float attributes print exactly and readably", "[ir]") {
  auto attrText = [](double d) {
    Graph g;
    Value* x = g.addInput("x", Type{DType::F32, {2}});
    g.addOutput(g.addNode(OpKind::LayerNorm, "y", {x}, {"y"}, {{"epsilon", d}})->result());
    REQUIRE(inferShapes(g).ok());
    std::string line = printNode(g, *g.nodes()[0]);
    auto at = line.find("epsilon=");
    return line.substr(at + 8, line.find('}') - at - 8);
  };
  CHECK(attrText(1e-12) == "1e-12");                             // a double
  CHECK(attrText(static_cast<double>(1e-12f)) == "1e-12f");      // the f32 ONNX stored
  CHECK(attrText(static_cast<double>(0.001f)) == "0.001f");
  CHECK(attrText(0.5) == "0.5");                                 // both: the shorter double form
  CHECK(attrText(-10000) == "-10000.0");                         // not an int
  CHECK(attrText(1e20) == "1e+20");
}

TEST_CASE("IR text: hand-written input: comments, `?` types, large constants filled deterministically", "[ir]") {
  std::string text = "// a comment line\n" + kHeader +
                     "  const %w : f32[4, 4]  // 16 elements: pseudo-random\n"
                     "  const %ids : i64[3, 3]\n"
                     "  %y = MatMul(%x, %w) : ?\n"
                     "  return %y\n}\n";
  auto g1 = parseOk(text);
  auto g2 = parseOk(text);
  CHECK(g1->nodes()[0]->result()->type.str(g1->symbols()) == "f32[batch, seq, 4]");
  const Tensor& w = *g1->constants()[0]->constant;
  CHECK(sameBytes(w, *g2->constants()[0]->constant));
  double lo = 1, hi = -1;
  for (int64_t i = 0; i < w.numel(); ++i) {
    lo = std::min(lo, w.getDouble(static_cast<size_t>(i)));
    hi = std::max(hi, w.getDouble(static_cast<size_t>(i)));
  }
  CHECK(lo >= -1);
  CHECK(hi < 1);
  CHECK(lo < hi);
  for (int64_t v : g1->constants()[1]->constant->toInts()) CHECK((v >= 0 && v < 4));
}

TEST_CASE("IR text: a dim the shape rule can only name with a fresh symbol matches the written one", "[ir]") {
  // The shape is an input, so Reshape's rule names both dims with symbols
  // of its own; they stand for the written d2 and d3.
  auto g = parseOk(
      "graph {\n  symbols batch, n, d2 = \"reshaped\", d3 = \"reshaped too\"\n"
      "  input %x : f32[batch, n]\n  input %shape : i64[2]\n"
      "  %y = Reshape(%x, %shape) : f32[d2, d3]\n"
      "  %z = Relu(%y) : f32[d2, d3]\n"
      "  return %z\n}\n");
  CHECK(g->nodes()[1]->result()->type.str(g->symbols()) == "f32[d2, d3]");
  CHECK(g->symbols().size() == 4);  // the rule's own symbols stay out of the graph
}

TEST_CASE("IR text: errors are one line with file:line:col", "[ir]") {
  CHECK_THAT(parseError(kHeader + "  %y = Frob(%x) : f32[batch, seq, 4]\n  return %y\n}\n", 4, 8),
             Catch::Contains("unknown op 'Frob'"));
  CHECK_THAT(parseError(kHeader + "  %y = Relu(%nope) : f32[batch, seq, 4]\n  return %y\n}\n", 4, 13),
             Catch::Contains("undefined value %nope"));
  CHECK_THAT(parseError(kHeader + "  %y = Relu(%x) : f32[batch, seq, 5]\n  return %y\n}\n", 4, 19),
             Catch::Contains("%y is written f32[batch, seq, 5] but node 'y' (Relu) gives f32[batch, seq, 4]"));
  CHECK_THAT(parseError(kHeader + "  %y = Relu(%x) : i64[batch, seq, 4]\n  return %y\n}\n", 4, 19),
             Catch::Contains("gives f32[batch, seq, 4]"));
  CHECK_THAT(parseError(kHeader + "  %x = Relu(%x) : f32[batch, seq, 4]\n  return %x\n}\n", 4, 3),
             Catch::Contains("duplicate name %x"));
  CHECK_THAT(parseError(kHeader + "  input %x : f32[2]\n  return %x\n}\n", 4, 9), Catch::Contains("duplicate name %x"));
  CHECK_THAT(parseError(kHeader + "  %y = Softmax(%x) {axis=} : f32[batch, seq, 4]\n  return %y\n}\n", 4, 26),
             Catch::Contains("expected an attribute value"));
  CHECK_THAT(parseError(kHeader + "  %y = Softmax(%x) {axis=1.5q} : f32[batch, seq, 4]\n  return %y\n}\n", 4, 29),
             Catch::Contains("unexpected 'q' in number"));
  CHECK_THAT(parseError(kHeader + "  %y = Softmax(%x) {axis=\"last\"} : f32[batch, seq, 4]\n  return %y\n}\n", 4, 8),
             Catch::Contains("attribute 'axis' must be an int"));
  CHECK_THAT(parseError(kHeader + "  %y = Softmax(%x) {axis=1, axis=2} : f32[batch, seq, 4]\n  return %y\n}\n", 4, 29),
             Catch::Contains("attribute 'axis' is given twice"));
  CHECK_THAT(parseError(kHeader + "  %y = Relu(%x) : f32[batch, seq, 4]\n  return %y\n", 6, 1),
             Catch::Contains("expected '}', got end of input"));
  CHECK_THAT(parseError(kHeader + "  %y = Relu(%x", 4, 15), Catch::Contains("expected ')', got end of input"));
  CHECK_THAT(parseError(kHeader + "  const %c : f32[2] = [1, 2, 3]\n  return %c\n}\n", 4, 30),
             Catch::Contains("more values than the 2 elements of f32[2]"));
  CHECK_THAT(parseError(kHeader + "  const %c : u8[1] = [256]\n  return %c\n}\n", 4, 23), Catch::Contains("does not fit in u8"));
  CHECK_THAT(parseError(kHeader + "  %y = Add(%x) : f32[batch, seq, 4]\n  return %y\n}\n", 4, 11),
             Catch::Contains("Add takes 2 operands, 1 written"));
  CHECK_THAT(parseError(kHeader + "  input %z : f32[batch, heads]\n  return %z\n}\n", 4, 25),
             Catch::Contains("undeclared symbol 'heads'"));
  CHECK_THAT(parseError(kHeader + "  %y = Relu(%x) : f32[batch, seq, 4]\n  return %y\n}\n}\n", 7, 1),
             Catch::Contains("expected end of input"));
  CHECK_THAT(parseError("graph {\n  input %s : str[2]\n", 2, 14), Catch::Contains("unknown element type 'str'"));
  CHECK_THAT(parseError("graph {\n  const %s : f32[2] = [1, \"a\"]\n", 2, 27), Catch::Contains("expected a number"));
  CHECK_THAT(parseError("graph {\n  input %\"open : f32[2]\n", 2, 9), Catch::Contains("unterminated string"));
  CHECK_THAT(parseError("", 1, 1), Catch::Contains("expected 'graph', got end of input"));
  // A shape rule's message quoting a string with a newline stays one line.
  CHECK_THAT(parseError(kHeader + "  %y = Gelu(%x) {approximate=\"a\\nb\"} : f32[batch, seq, 4]\n  return %y\n}\n", 4, 8),
             Catch::Contains("approximate must be 'none' or 'tanh', got 'a\\nb'"));
  CHECK_THAT(parseError(kHeader + "  const %c : f32[100000, 100000]\n  return %c\n}\n", 4, 14),
             Catch::Contains("larger than the 4 GiB the parser makes"));
  CHECK_THAT(parseError(kHeader + "  input %big : f32[2199023255553]\n  return %big\n}\n", 4, 16),
             Catch::Contains("input dim 2199023255553 is out of range"));
}
