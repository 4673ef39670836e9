// Import of ONNX Runtime's contrib ops (frontend/import_contrib.cpp): each
// maps onto its fused IR op, and every part of a contrib op the IR op does
// not mean (used training outputs, past state, causal or packed masks,
// unknown attributes) is a one-line error naming the node. Numerical
// agreement with ONNX Runtime is checked in test/python/test_contrib_ops.py.
#include <catch2/catch.hpp>
#include <variant>

#include "frontend/onnx_import.h"
#include "test/golden.h"
#include "ir/graph.h"

#ifndef ONNX_ML
#define ONNX_ML 1
#endif
#include "onnx/onnx_pb.h"

using namespace bertc;
using ir::OpKind;

namespace {

using Dim = std::variant<int64_t, std::string>;
constexpr int F32 = onnx::TensorProto::FLOAT, I32 = onnx::TensorProto::INT32;

/// A small model with the default domain at opset 17 and com.microsoft 1.
struct Model {
  onnx::ModelProto m;
  Model() {
    m.set_ir_version(8);
    for (auto [domain, version] : {std::pair<const char*, int>{"", 17}, {"com.microsoft", 1}}) {
      auto* os = m.add_opset_import();
      os->set_domain(domain);
      os->set_version(version);
    }
  }
  onnx::GraphProto& g() { return *m.mutable_graph(); }
  Model& input(const std::string& name, int elem, const std::vector<Dim>& dims) {
    auto* vi = g().add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    auto* shape = tt->mutable_shape();
    for (const Dim& d : dims) {
      if (auto* v = std::get_if<int64_t>(&d)) shape->add_dim()->set_dim_value(*v);
      else shape->add_dim()->set_dim_param(std::get<std::string>(d));
    }
    return *this;
  }
  Model& output(const std::string& name) {
    g().add_output()->set_name(name);
    return *this;
  }
  Model& weight(const std::string& name, const std::vector<int64_t>& dims) {
    auto* t = g().add_initializer();
    t->set_name(name);
    t->set_data_type(F32);
    int64_t n = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      n *= d;
    }
    std::vector<float> v(static_cast<size_t>(n), 0.25f);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
    return *this;
  }
  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& in, const std::vector<std::string>& out,
                        const std::string& name, const std::string& domain = "com.microsoft") {
    auto* n = g().add_node();
    n->set_op_type(op);
    n->set_name(name);
    n->set_domain(domain);
    for (const auto& i : in) n->add_input(i);
    for (const auto& o : out) n->add_output(o);
    return *n;
  }
  Result<std::unique_ptr<ir::Graph>> import() const {
    std::string b = m.SerializeAsString();
    return frontend::importOnnxBytes(b.data(), b.size(), "m.onnx", "/nonexistent");
  }
};

void attrInt(onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void attrInts(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

std::unique_ptr<ir::Graph> importOk(const Model& m) { return test::requireOk(m.import()); }

std::string importError(const Model& m) { return test::requireOneLineError(m.import()); }

const ir::Node& only(const ir::Graph& g, OpKind op) { return test::onlyNode(g, op); }

/// x [batch, seq, 8] -> Attention (2 heads) -> y, mask as given.
Model attentionModel(const std::vector<Dim>& maskDims, bool bias = true) {
  Model m;
  m.input("x", F32, {"batch", "seq", int64_t{8}}).output("y").weight("w", {8, 24});
  if (bias) m.weight("b", {24});
  if (!maskDims.empty()) m.input("mask", I32, maskDims);
  std::vector<std::string> in{"x", "w", bias ? "b" : ""};
  if (!maskDims.empty()) in.push_back("mask");
  attrInt(m.node("Attention", in, {"y"}, "att"), "num_heads", 2);
  return m;
}

}  // namespace

TEST_CASE("contrib: each op maps onto its fused IR op", "[frontend][contrib]") {
  SECTION("SkipLayerNormalization, with the default epsilon") {
    Model m;
    m.input("x", F32, {"batch", "seq", int64_t{4}}).input("s", F32, {"batch", "seq", int64_t{4}}).output("y");
    m.weight("gamma", {4}).weight("beta", {4}).weight("bias", {4});
    m.node("SkipLayerNormalization", {"x", "s", "gamma", "", "bias"}, {"y", "", ""}, "sln");
    auto g = importOk(m);
    const ir::Node& n = only(*g, OpKind::SkipLayerNorm);
    REQUIRE(n.operands.size() == 5);
    CHECK(n.operands[3] == nullptr);
    CHECK(n.operands[4]->name == "bias");
    CHECK(n.getFloat("epsilon", 0) == 1e-12);
    CHECK(n.results.size() == 1);
  }
  SECTION("BiasGelu, FastGelu, Gelu") {
    Model m;
    m.input("x", F32, {"batch", int64_t{4}}).output("d").weight("b", {4});
    m.node("BiasGelu", {"x", "b"}, {"a"}, "bg");
    m.node("FastGelu", {"a", "b"}, {"c"}, "fg");
    m.node("Gelu", {"c"}, {"d"}, "g");
    auto g = importOk(m);
    CHECK(only(*g, OpKind::BiasGelu).operands.size() == 2);
    CHECK(only(*g, OpKind::FastGelu).operands.size() == 2);
    CHECK(only(*g, OpKind::Gelu).getString("approximate", "none") == "none");
  }
  SECTION("Attention without bias gets a zero one") {
    auto g = importOk(attentionModel({"batch", "seq"}, /*bias=*/false));
    const ir::Node& n = only(*g, OpKind::Attention);
    REQUIRE(n.operands.size() == 4);
    REQUIRE(n.operands[2]->isConstant());
    CHECK(n.operands[2]->constant->shape() == std::vector<int64_t>{24});
    CHECK(n.getInt("num_heads", 0) == 2);
    CHECK(n.result()->type.str(g->symbols()) == "f32[batch, seq, 8]");
  }
  SECTION("EmbedLayerNormalization: the mask is dropped when mask_index is unused") {
    Model m;
    m.input("ids", I32, {"batch", "seq"}).input("seg", I32, {"batch", "seq"}).input("mask", I32, {"batch", "seq"});
    m.output("y").weight("word", {10, 4}).weight("pos", {16, 4}).weight("segw", {2, 4});
    m.weight("gamma", {4}).weight("beta", {4});
    m.node("EmbedLayerNormalization", {"ids", "seg", "word", "pos", "segw", "gamma", "beta", "mask"},
           {"y", "mask_index"}, "emb");
    auto g = importOk(m);
    const ir::Node& n = only(*g, OpKind::EmbedLayerNorm);
    CHECK(n.operands.size() == 7);
    CHECK(n.getFloat("epsilon", 0) == 1e-12);
    CHECK(n.result()->type.str(g->symbols()) == "f32[batch, seq, 4]");
  }
  SECTION("EmbedLayerNormalization with position_ids") {
    Model m;
    m.input("ids", I32, {"batch", "seq"}).input("seg", I32, {"batch", "seq"}).input("pid", I32, {int64_t{1}, "seq"});
    m.output("y").weight("word", {10, 4}).weight("pos", {16, 4}).weight("segw", {2, 4});
    m.weight("gamma", {4}).weight("beta", {4});
    m.node("EmbedLayerNormalization", {"ids", "seg", "word", "pos", "segw", "gamma", "beta", "", "pid"}, {"y"}, "emb");
    auto g = importOk(m);
    const ir::Node& n = only(*g, OpKind::EmbedLayerNorm);
    REQUIRE(n.operands.size() == 8);
    CHECK(n.operands[7]->name == "pid");
  }
  SECTION("com.microsoft LayerNormalization is the opset-17 one") {
    Model m;
    m.input("x", F32, {"batch", int64_t{4}}).output("y").weight("gamma", {4});
    m.node("LayerNormalization", {"x", "gamma"}, {"y", "", ""}, "ln");
    auto g = importOk(m);
    CHECK(only(*g, OpKind::LayerNorm).results.size() == 1);
  }
}

TEST_CASE("contrib: what the IR ops do not mean is an error naming the node", "[frontend][contrib]") {
  SECTION("a used SkipLayerNormalization statistics output") {
    Model m;
    m.input("x", F32, {"batch", int64_t{4}}).input("s", F32, {"batch", int64_t{4}}).output("y").output("mean");
    m.weight("gamma", {4});
    m.node("SkipLayerNormalization", {"x", "s", "gamma"}, {"y", "mean"}, "sln");
    CHECK(importError(m) == "m.onnx: node 'sln' (SkipLayerNormalization): output 1 (mean, 'mean') is used; bertc "
                            "supports only output 0 of SkipLayerNormalization");
  }
  SECTION("a used EmbedLayerNormalization mask_index") {
    Model m;
    m.input("ids", I32, {"batch", "seq"}).input("seg", I32, {"batch", "seq"}).input("mask", I32, {"batch", "seq"});
    m.output("y").output("mi").weight("word", {10, 4}).weight("pos", {16, 4}).weight("segw", {2, 4});
    m.weight("gamma", {4}).weight("beta", {4});
    m.node("EmbedLayerNormalization", {"ids", "seg", "word", "pos", "segw", "gamma", "beta", "mask"}, {"y", "mi"},
           "emb");
    CHECK(importError(m) == "m.onnx: node 'emb' (EmbedLayerNormalization): output 1 (mask_index, 'mi') is used; "
                            "bertc supports only output 0 of EmbedLayerNormalization");
  }
  SECTION("the 1-D mask_index form") {
    CHECK(importError(attentionModel({"batch"})) ==
          "m.onnx: node 'att' (Attention): mask_index 'mask' is in the 1-D form (lengths or start/end positions), "
          "which is unsupported; bertc supports only the raw 2-D [batch, seq] mask");
  }
  SECTION("the 3-D form, computed by a node") {
    Model m = attentionModel({"batch", "seq", "seq"});
    m.g().mutable_input(1)->set_name("mask3");
    m.node("Identity", {"mask3"}, {"mask"}, "id", "");
    CHECK(importError(m) ==
          "m.onnx: node 'att' (Attention): mask_index 'mask' is in the 3-D [batch, seq, seq] form, which is "
          "unsupported; bertc supports only the raw 2-D [batch, seq] mask");
  }
  SECTION("the 4-D Megatron form") {
    CHECK(importError(attentionModel({"batch", int64_t{1}, "seq", "seq"})).find("the 4-D Megatron form") !=
          std::string::npos);
  }
  SECTION("causal attention") {
    Model m = attentionModel({"batch", "seq"});
    attrInt(*m.g().mutable_node(0), "unidirectional", 1);
    CHECK(importError(m) == "m.onnx: node 'att' (Attention): unidirectional (causal) attention is not supported; "
                            "bertc compiles encoders");
  }
  SECTION("Q, K, V of different widths") {
    Model m = attentionModel({"batch", "seq"});
    attrInts(*m.g().mutable_node(0), "qkv_hidden_sizes", {8, 8, 4});
    CHECK(importError(m).find("qkv_hidden_sizes must be three equal sizes") != std::string::npos);
  }
  SECTION("equal qkv_hidden_sizes are fine") {
    Model m = attentionModel({"batch", "seq"});
    attrInts(*m.g().mutable_node(0), "qkv_hidden_sizes", {8, 8, 8});
    importOk(m);
  }
  SECTION("past state") {
    Model m = attentionModel({"batch", "seq"});
    m.input("past", F32, {int64_t{2}, "batch", int64_t{2}, "p", int64_t{4}});
    m.g().mutable_node(0)->add_input("past");
    CHECK(importError(m) == "m.onnx: node 'att' (Attention): input 4 (past) is not supported");
  }
  SECTION("an attribute bertc does not model") {
    Model m;
    m.input("x", F32, {"batch", int64_t{4}}).output("y");
    attrInt(m.node("Gelu", {"x"}, {"y"}, "g"), "approximate_mode", 1);
    CHECK(importError(m) == "m.onnx: node 'g' (Gelu): attribute 'approximate_mode' is not supported");
  }
  SECTION("segment ids without a segment table") {
    Model m;
    m.input("ids", I32, {"batch", "seq"}).input("seg", I32, {"batch", "seq"});
    m.output("y").weight("word", {10, 4}).weight("pos", {16, 4}).weight("gamma", {4}).weight("beta", {4});
    m.node("EmbedLayerNormalization", {"ids", "seg", "word", "pos", "", "gamma", "beta"}, {"y"}, "emb");
    CHECK(importError(m) == "m.onnx: node 'emb' (EmbedLayerNormalization): segment_ids and segment_embedding must "
                            "be given together");
  }
  SECTION("contrib ops bertc does not map stay unsupported") {
    Model m;
    m.input("x", F32, {"batch", int64_t{4}}).output("y");
    m.node("QuickGelu", {"x"}, {"y"}, "q");
    CHECK(importError(m) == "m.onnx: unsupported ops: com.microsoft.QuickGelu (node 'q')");
  }
}
