// The ONNX writer (frontend/onnx_export.h): every fixture and a graph of every
// fused op survive import -> export -> import with the same outputs on the
// reference interpreter (1e-6 normalised max error; see model_fixtures.h),
// and the file keeps names, dtypes, symbolic dims and node names, writes
// external data, and fails with one line naming the file.
// That ONNX Runtime runs what the writer writes is checked in
// test/python/test_contrib_ops.py and test/python/test_export.py.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fmt/core.h>
#include <fstream>

#include "frontend/onnx_export.h"
#include "frontend/onnx_import.h"
#include "ir/interp.h"
#include "ir/shape_infer.h"
#include "ir/verify.h"
#include "test/graph_builder.h"
#include "test/model_fixtures.h"

#ifndef ONNX_ML
#define ONNX_ML 1
#endif
#include "onnx/onnx_pb.h"

using namespace bertc;
using ir::OpKind;
namespace fs = std::filesystem;

namespace {

constexpr double kTol = 1e-6;

/// A fresh directory under the build tree, removed at the end.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) {
    path = fs::path(BERTC_BINARY_DIR) / ("export_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& f) const { return (path / f).string(); }
};

std::unique_ptr<ir::Graph> importOk(const std::string& path) {
  auto g = frontend::importOnnxFile(path);
  INFO(path << ": " << (g.ok() ? std::string() : g.message()));
  REQUIRE(g.ok());
  return std::move(*g);
}

void exportOk(const ir::Graph& g, const std::string& path, frontend::ExportOptions opts = {}) {
  Status st = frontend::exportOnnx(g, path, opts);
  INFO(st.message());
  REQUIRE(st.ok());
}

onnx::ModelProto readModel(const std::string& path) {
  onnx::ModelProto m;
  std::ifstream in(path, std::ios::binary);
  REQUIRE(m.ParseFromIstream(&in));
  return m;
}

std::vector<ir::Tensor> runOk(const ir::Graph& g, const std::vector<ir::Tensor>& inputs) {
  auto r = ir::interpret(g, inputs);
  INFO((r.ok() ? std::string() : r.message()));
  REQUIRE(r.ok());
  return std::move(*r);
}

/// Both graphs' outputs on `inputs`, output by output, within kTol; returns the largest error.
double compareRuns(const ir::Graph& a, const ir::Graph& b, const std::vector<ir::Tensor>& inputs) {
  auto x = runOk(a, inputs), y = runOk(b, inputs);
  REQUIRE(x.size() == y.size());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    REQUIRE(x[i].dtype() == y[i].dtype());
    double err = test::normalizedMaxError(y[i], x[i]);
    INFO("output " << a.outputs()[i]->name << ": normalised max error " << err);
    CHECK(err <= kTol);
    worst = std::max(worst, err);
  }
  return worst;
}

}  // namespace

TEST_CASE("export: every fixture round-trips with the same outputs", "[export]") {
  auto dirs = test::fixtureDirs();
  REQUIRE(dirs.size() >= 36);
  TempDir tmp("fixtures");
  int k = 0;
  for (const auto& dir : dirs) {
    // Every third fixture goes through external data.
    bool external = k++ % 3 == 0;
    DYNAMIC_SECTION(dir.filename().string() << (external ? " (external data)" : "")) {
      auto g = importOk((dir / "model.onnx").string());
      std::string out = tmp.file(dir.filename().string() + ".onnx");
      frontend::ExportOptions opts;
      opts.externalData = external;
      exportOk(*g, out, opts);
      CHECK(fs::exists(out + ".data") == external);
      auto g2 = importOk(out);
      REQUIRE(g2->inputs().size() == g->inputs().size());
      for (size_t i = 0; i < g->inputs().size(); ++i) {
        CHECK(g2->inputs()[i]->name == g->inputs()[i]->name);
        CHECK(g2->inputs()[i]->type.str(g2->symbols()) == g->inputs()[i]->type.str(g->symbols()));
      }
      REQUIRE(g2->outputs().size() == g->outputs().size());
      for (size_t i = 0; i < g->outputs().size(); ++i) CHECK(g2->outputs()[i]->name == g->outputs()[i]->name);
      double err = compareRuns(*g, *g2, test::loadInputs(*g, dir));
      fmt::print("{:<26} re-exported: normalised max error vs the source {:.3g}\n", dir.filename().string(), err);
    }
  }
}

namespace {

/// One BERT-like layer made of every fused op: EmbedLayerNorm, Attention
/// (mask, Wout), SkipLayerNorm (with bias), Linear with each activation,
/// BiasGelu, FastGelu (with and without bias), Gelu in both forms, and a
/// second Attention with an explicit scale and no mask or Wout.
void buildFusedLayer(test::GraphBuilder& b, bool segments, bool positionIds, ir::DType maskType) {
  const int64_t B = 3, S = 7, H = 16, F = 24, V = 50, P = 12;
  auto* ids = b.input("input_ids", b.ints({B, S}, V), {"batch", "sequence"});
  auto* mask = b.input("attention_mask", test::GraphBuilder::paddingMask(B, S, maskType), {"batch", "sequence"});
  ir::Value* segIds = segments ? b.input("token_type_ids", b.ints({B, S}, 2), {"batch", "sequence"}) : nullptr;
  ir::Value* posIds = positionIds ? b.input("position_ids", b.ints({1, S}, P), {"", "sequence"}) : nullptr;
  auto w = [&](std::vector<int64_t> shape, double lo = -0.5, double hi = 0.5) {
    return b.constant(b.uniform(std::move(shape), lo, hi));
  };
  auto* emb = b.op(OpKind::EmbedLayerNorm,
                   {ids, segIds, w({V, H}), w({P, H}), segments ? w({2, H}) : nullptr, w({H}, 0.5, 1.5), w({H})},
                   {{"epsilon", 1e-12}}, "embeddings");
  if (posIds) emb->producer->operands.push_back(posIds);
  auto* att = b.op(OpKind::Attention, {emb, w({H, 3 * H}), w({3 * H}), mask, w({H, H})},
                   {{"num_heads", int64_t{2}}, {"mask_filter_value", -10000.0}}, "attention");
  auto* ln1 = b.op(OpKind::SkipLayerNorm, {att, emb, w({H}, 0.5, 1.5), w({H}), w({H})}, {{"epsilon", 1e-12}}, "ln1");
  auto* f1 = b.op(OpKind::Linear, {ln1, w({H, F})}, {}, "ffn_in");
  auto* g1 = b.op(OpKind::BiasGelu, {f1, w({F})}, {}, "bias_gelu");
  auto* f2 = b.op(OpKind::Linear, {g1, w({F, F}), w({F})}, {{"activation", std::string("gelu")}}, "ffn_gelu");
  auto* f3 = b.op(OpKind::Linear, {f2, w({F, F}), w({F})}, {{"activation", std::string("relu")}}, "ffn_relu");
  auto* f4 = b.op(OpKind::Linear, {f3, w({F, F})}, {{"activation", std::string("tanh")}}, "ffn_tanh");
  auto* g2 = b.op(OpKind::FastGelu, {f4, w({F})}, {}, "fast_gelu_bias");
  auto* g3 = b.op(OpKind::FastGelu, {g2}, {}, "fast_gelu");
  auto* g4 = b.op(OpKind::Gelu, {g3}, {}, "gelu");
  auto* g5 = b.op(OpKind::Gelu, {g4}, {{"approximate", std::string("tanh")}}, "gelu_tanh");
  auto* f5 = b.op(OpKind::Linear, {g5, w({F, H}), w({H})}, {}, "ffn_out");
  auto* ln2 = b.op(OpKind::SkipLayerNorm, {f5, ln1, w({H}, 0.5, 1.5)}, {{"epsilon", 1e-5}}, "ln2");
  auto* att2 = b.op(OpKind::Attention, {ln2, w({H, 3 * H}), w({3 * H})},
                    {{"num_heads", int64_t{4}}, {"scale", 0.2}}, "attention2");
  b.g.addOutput(att2);
  b.g.addOutput(ln2);
}

}  // namespace

TEST_CASE("export: every fused op round-trips through the contrib ops", "[export]") {
  struct Case {
    bool segments, positionIds;
    ir::DType maskType;
    bool contribSkipLayerNorm;
  };
  for (const Case& c : {Case{true, false, ir::DType::I64, true}, Case{true, true, ir::DType::I32, false},
                        Case{true, false, ir::DType::F32, true}, Case{false, true, ir::DType::Bool, false}}) {
    DYNAMIC_SECTION("segments " << c.segments << " position ids " << c.positionIds << " mask "
                                << ir::dtypeName(c.maskType) << " contrib SkipLayerNormalization "
                                << c.contribSkipLayerNorm) {
      test::GraphBuilder b;
      buildFusedLayer(b, c.segments, c.positionIds, c.maskType);
      auto st = ir::inferShapes(b.g);
      INFO(st.message());
      REQUIRE(st.ok());
      REQUIRE(ir::verify(b.g).ok());
      TempDir tmp("fused");
      frontend::ExportOptions opts;
      opts.contribSkipLayerNorm = c.contribSkipLayerNorm;
      exportOk(b.g, tmp.file("fused.onnx"), opts);

      // The fused ops are contrib ops in the file, not unfused chains; only
      // SkipLayerNorm is spelled Add + LayerNormalization unless asked for.
      onnx::ModelProto m = readModel(tmp.file("fused.onnx"));
      std::map<std::string, int> ops;
      for (const auto& n : m.graph().node()) ++ops[(n.domain().empty() ? "" : n.domain() + ".") + n.op_type()];
      CHECK(ops["com.microsoft.EmbedLayerNormalization"] == 1);
      CHECK(ops["com.microsoft.Attention"] == 2);
      CHECK(ops["com.microsoft.SkipLayerNormalization"] == (c.contribSkipLayerNorm ? 2 : 0));
      CHECK(ops["LayerNormalization"] == (c.contribSkipLayerNorm ? 0 : 2));
      CHECK(ops["com.microsoft.BiasGelu"] == 1);
      CHECK(ops["com.microsoft.FastGelu"] == 3);  // two FastGelu, one tanh Gelu
      CHECK(ops["com.microsoft.Gelu"] == 2);      // one Gelu, one Linear's activation
      CHECK(ops["MatMul"] == 6);                  // five Linear, one Wout
      // Three Linear biases, plus a skip Add (and a bias Add for the one with Bias) per unfused SkipLayerNorm.
      CHECK(ops["Add"] == (c.contribSkipLayerNorm ? 3 : 3 + 2 + 1));
      CHECK(ops["Relu"] == 1);
      CHECK(ops["Tanh"] == 1);
      bool msDomain = false;
      for (const auto& os : m.opset_import()) msDomain |= os.domain() == "com.microsoft" && os.version() == 1;
      CHECK(msDomain);

      auto g2 = importOk(tmp.file("fused.onnx"));
      std::map<OpKind, int> irOps;
      for (const auto& n : g2->nodes()) ++irOps[n->op];
      CHECK(irOps[OpKind::EmbedLayerNorm] == 1);
      CHECK(irOps[OpKind::Attention] == 2);
      CHECK(irOps[OpKind::SkipLayerNorm] == (c.contribSkipLayerNorm ? 2 : 0));
      CHECK(irOps[OpKind::BiasGelu] == 1);
      CHECK(irOps[OpKind::FastGelu] == 3);
      compareRuns(b.g, *g2, b.feeds);
    }
  }
}

TEST_CASE("export: names, types, symbolic dims and the model header", "[export]") {
  test::GraphBuilder b;
  auto* x = b.input("x", b.uniform({2, 3}), {"batch", ""});
  auto* c = b.constant(b.uniform({3}), "weight");
  // Two values both called "y": the second gets a suffix.
  auto* y1 = b.op(OpKind::Add, {x, c}, {}, "add");
  y1->name = "y";
  auto* y2 = b.op(OpKind::Relu, {y1}, {}, "relu");
  y2->name = "y";
  auto* s = b.op(OpKind::Unsqueeze, {y2}, {{"axes", std::vector<int64_t>{0}}}, "unsqueeze");
  auto* r = b.op(OpKind::ReduceSum, {s}, {{"axes", std::vector<int64_t>{2}}, {"keepdims", int64_t{0}}}, "sum");
  b.g.addOutput(r);
  b.g.addOutput(x);  // an input that is also an output
  b.g.addOutput(c);  // a constant that is an output
  REQUIRE(ir::inferShapes(b.g).ok());
  TempDir tmp("names");
  exportOk(b.g, tmp.file("m.onnx"));
  onnx::ModelProto m = readModel(tmp.file("m.onnx"));
  CHECK(m.producer_name() == "bertc");
  CHECK(m.producer_version() == "0.1.0");
  REQUIRE(m.opset_import_size() == 1);  // no contrib ops, no com.microsoft import
  CHECK(m.opset_import(0).version() == 17);
  const auto& g = m.graph();
  REQUIRE(g.input_size() == 1);
  CHECK(g.input(0).name() == "x");
  CHECK(g.input(0).type().tensor_type().elem_type() == onnx::TensorProto::FLOAT);
  CHECK(g.input(0).type().tensor_type().shape().dim(0).dim_param() == "batch");
  CHECK(g.input(0).type().tensor_type().shape().dim(1).dim_value() == 3);
  REQUIRE(g.output_size() == 3);
  CHECK(g.output(0).name() == r->name);
  CHECK(g.output(0).type().tensor_type().shape().dim(0).dim_value() == 1);
  CHECK(g.output(0).type().tensor_type().shape().dim(1).dim_param() == "batch");
  CHECK(g.output(1).name() == "x_1");  // the input keeps "x"
  CHECK(g.output(2).name() == "weight");
  std::vector<std::string> nodeNames, outputs;
  for (const auto& n : g.node()) {
    nodeNames.push_back(n.name());
    for (const auto& o : n.output()) outputs.push_back(o);
  }
  CHECK(nodeNames == std::vector<std::string>{"add", "relu", "unsqueeze", "sum", "x_1/identity", "weight/identity"});
  CHECK(outputs == std::vector<std::string>{"y", "y_1", r->producer->operands[0]->name, r->name, "x_1", "weight"});
  // Opset-17 forms: axes as an input of Unsqueeze and ReduceSum.
  CHECK(g.node(2).input_size() == 2);
  CHECK(g.node(3).input_size() == 2);
  CHECK(g.node(3).attribute_size() == 1);
  // The constant is an initializer with raw data, renamed (its name belongs to the output).
  bool found = false;
  for (const auto& init : g.initializer())
    if (init.name() == "weight_1") found = init.raw_data().size() == 12;
  CHECK(found);

  auto g2 = importOk(tmp.file("m.onnx"));
  compareRuns(b.g, *g2, b.feeds);
}

TEST_CASE("export: external data sits beside the model", "[export]") {
  test::GraphBuilder b;
  auto* x = b.input("x", b.uniform({2, 512}), {"batch", ""});
  auto* w = b.constant(b.uniform({512, 600}), "big");     // 1.2 MB: page-aligned in the data file
  auto* bias = b.constant(b.uniform({600}), "bias");      // 2.4 kB: external too
  auto* small = b.constant(b.uniform({4}), "small");      // 16 B: stays inline
  auto* y = b.op(OpKind::Linear, {x, w, bias}, {{"activation", std::string("tanh")}});
  auto* z = b.op(OpKind::Add, {b.op(OpKind::Slice, {y, b.i64s({0}), b.i64s({4}), b.i64s({1})}), small});
  b.g.addOutput(z);
  REQUIRE(ir::inferShapes(b.g).ok());
  TempDir tmp("external");
  fs::create_directories(tmp.path / "sub");
  std::string path = tmp.file("sub/model.onnx");
  frontend::ExportOptions opts;
  opts.externalData = true;
  exportOk(b.g, path, opts);
  REQUIRE(fs::exists(path + ".data"));
  CHECK(!fs::exists(path + ".tmp"));
  CHECK(!fs::exists(path + ".data.tmp"));
  onnx::ModelProto m = readModel(path);
  int externals = 0;
  for (const auto& t : m.graph().initializer()) {
    if (t.data_location() != onnx::TensorProto::EXTERNAL) {
      CHECK(t.raw_data().size() < 1024);
      continue;
    }
    ++externals;
    std::map<std::string, std::string> kv;
    for (const auto& e : t.external_data()) kv[e.key()] = e.value();
    CHECK(kv["location"] == "model.onnx.data");  // relative to the model's directory
    if (t.name() == "big") CHECK(std::stoll(kv["offset"]) % 4096 == 0);
  }
  CHECK(externals == 2);
  CHECK(fs::file_size(path) < 4096);

  // Read back from another working directory: the location is relative.
  auto g2 = importOk(path);
  compareRuns(b.g, *g2, b.feeds);

  // Rewriting the model over itself while its weights are mapped from the old files.
  exportOk(*g2, path, opts);
  auto g3 = importOk(path);
  compareRuns(b.g, *g3, b.feeds);
}

TEST_CASE("export: MeanPool is written back as standard ops", "[export]") {
  for (ir::DType maskType : {ir::DType::I64, ir::DType::Bool, ir::DType::F32}) {
    DYNAMIC_SECTION("mask " << ir::dtypeName(maskType)) {
      test::GraphBuilder b;
      auto* x = b.input("hidden", b.uniform({3, 5, 8}), {"batch", "sequence"});
      auto* mask = b.input("attention_mask", test::GraphBuilder::paddingMask(3, 5, maskType), {"batch", "sequence"});
      b.g.addOutput(b.op(OpKind::MeanPool, {x, mask}, {{"epsilon", 1e-9}}, "pool"));
      REQUIRE(ir::inferShapes(b.g).ok());
      TempDir tmp("meanpool");
      exportOk(b.g, tmp.file("m.onnx"));
      onnx::ModelProto m = readModel(tmp.file("m.onnx"));
      std::map<std::string, int> ops;
      for (const auto& n : m.graph().node()) ++ops[(n.domain().empty() ? "" : n.domain() + ".") + n.op_type()];
      // Two Casts: through bool, so that any nonzero mask value weighs 1.
      CHECK(ops == std::map<std::string, int>{{"Unsqueeze", 1}, {"Cast", 2}, {"Mul", 1}, {"ReduceSum", 2},
                                              {"Max", 1}, {"Div", 1}});
      compareRuns(b.g, *importOk(tmp.file("m.onnx")), b.feeds);
    }
  }
}

TEST_CASE("export: failures are one line naming the file", "[export]") {
  test::GraphBuilder b;
  auto* x = b.input("x", b.uniform({2}));
  b.g.addOutput(b.op(OpKind::Relu, {x}));
  REQUIRE(ir::inferShapes(b.g).ok());
  SECTION("a directory that does not exist") {
    Status st = frontend::exportOnnx(b.g, "/nonexistent/dir/m.onnx", {});
    REQUIRE_FALSE(st.ok());
    CHECK(st.message() == "/nonexistent/dir/m.onnx: cannot write: No such file or directory");
  }
  SECTION("external data into a directory that does not exist") {
    frontend::ExportOptions opts;
    opts.externalData = true;
    Status st = frontend::exportOnnx(b.g, "/nonexistent/m.onnx", opts);
    REQUIRE_FALSE(st.ok());
    CHECK(st.message() == "/nonexistent/m.onnx.data: cannot write: No such file or directory");
  }
  SECTION("a graph output without a type") {
    test::GraphBuilder u;
    auto* in = u.input("x", u.uniform({2}));
    u.g.addOutput(u.op(OpKind::Relu, {in}, {}, "relu"));  // no shape inference: the result has no type
    TempDir tmp("untyped");
    Status st = frontend::exportOnnx(u.g, tmp.file("m.onnx"), {});
    REQUIRE_FALSE(st.ok());
    CHECK(st.message() == tmp.file("m.onnx") + ": graph input or output 'relu_out' has no supported element type");
    CHECK(!fs::exists(tmp.file("m.onnx")));
  }
}
