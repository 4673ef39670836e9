// The ONNX frontend: each opset form of the ops whose form changed, constants
// inline, typed and in external data (viewed, not copied), and every kind of
// bad input, each reported as one line naming the file, the node and the op.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <variant>

#include "frontend/import_model.h"
#include "frontend/onnx_import.h"
#include "test/golden.h"
#include "ir/graph.h"

// The onnx target defines ONNX_ML for its users; the tests only link it.
#ifndef ONNX_ML
#define ONNX_ML 1
#endif
#include "onnx/onnx_pb.h"

using namespace bertc;
namespace fs = std::filesystem;

namespace {

using Dim = std::variant<int64_t, std::string>;
constexpr int F32 = onnx::TensorProto::FLOAT, I64 = onnx::TensorProto::INT64;

/// Builds small ONNX models with the protobuf API.
struct Model {
  onnx::ModelProto m;

  explicit Model(int64_t opset) {
    m.set_ir_version(8);
    m.set_producer_name("bertc-test");
    m.set_producer_version("1");
    auto* os = m.add_opset_import();
    os->set_domain("");
    os->set_version(opset);
    m.mutable_graph()->set_name("g");
  }
  onnx::GraphProto& g() { return *m.mutable_graph(); }

  static void setType(onnx::ValueInfoProto* vi, const std::string& name, int elem, const std::vector<Dim>& dims) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    auto* shape = tt->mutable_shape();
    for (const Dim& d : dims) {
      auto* dim = shape->add_dim();
      if (auto* v = std::get_if<int64_t>(&d)) dim->set_dim_value(*v);
      else if (!std::get<std::string>(d).empty()) dim->set_dim_param(std::get<std::string>(d));
    }
  }
  Model& input(const std::string& name, int elem, const std::vector<Dim>& dims) {
    setType(g().add_input(), name, elem, dims);
    return *this;
  }
  Model& output(const std::string& name) {
    g().add_output()->set_name(name);
    return *this;
  }
  /// A float initializer in raw_data.
  onnx::TensorProto& weight(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v) {
    auto* t = g().add_initializer();
    t->set_name(name);
    t->set_data_type(F32);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
    return *t;
  }
  /// An int64 initializer in int64_data.
  onnx::TensorProto& ints(const std::string& name, const std::vector<int64_t>& v, bool scalar = false) {
    auto* t = g().add_initializer();
    t->set_name(name);
    t->set_data_type(I64);
    if (!scalar) t->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) t->add_int64_data(x);
    return *t;
  }
  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& in,
                        const std::vector<std::string>& out, const std::string& name = "") {
    auto* n = g().add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? op + "_node" : name);
    for (const auto& i : in) n->add_input(i);
    for (const auto& o : out) n->add_output(o);
    return *n;
  }
  std::string bytes() const { return m.SerializeAsString(); }
};

onnx::AttributeProto* attr(onnx::NodeProto& n, const std::string& name, onnx::AttributeProto::AttributeType type) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(type);
  return a;
}
void attrInt(onnx::NodeProto& n, const std::string& name, int64_t v) { attr(n, name, onnx::AttributeProto::INT)->set_i(v); }
void attrFloat(onnx::NodeProto& n, const std::string& name, float v) {
  attr(n, name, onnx::AttributeProto::FLOAT)->set_f(v);
}
void attrString(onnx::NodeProto& n, const std::string& name, const std::string& v) {
  attr(n, name, onnx::AttributeProto::STRING)->set_s(v);
}
void attrInts(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = attr(n, name, onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

using GraphPtr = std::unique_ptr<ir::Graph>;

Result<GraphPtr> import(const Model& m, const std::string& name = "test.onnx") {
  std::string b = m.bytes();
  return frontend::importOnnxBytes(b.data(), b.size(), name, "/nonexistent");
}

GraphPtr importOk(const Model& m) { return test::requireOk(import(m)); }

std::string importError(const Model& m, const std::string& name = "test.onnx") {
  return test::requireOneLineError(import(m, name));
}

const ir::Node& only(const ir::Graph& g, ir::OpKind op) { return test::onlyNode(g, op); }

std::vector<int64_t> ints(const ir::Node& n, const std::string& attr) {
  REQUIRE(n.has(attr));
  return n.getInts(attr);
}

std::string typeOf(const ir::Graph& g, const ir::Value* v) { return v->type.str(g.symbols()); }

/// A fresh empty directory under the system temp dir, removed at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("bertc_frontend_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

void writeFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string floatBytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

/// The [start, end) of this process's mapping of `file`, from /proc/self/maps.
std::pair<uintptr_t, uintptr_t> mappingOf(const std::string& file) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const std::string want = fs::canonical(file).string();
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms, offset, dev, inode, path;
    in >> range >> perms >> offset >> dev >> inode >> path;
    if (path != want) continue;
    auto dash = range.find('-');
    return {std::stoull(range.substr(0, dash), nullptr, 16), std::stoull(range.substr(dash + 1), nullptr, 16)};
  }
  return {0, 0};
}

/// Points initializer t at `location` in external data.
void makeExternal(onnx::TensorProto& t, const std::string& location, int64_t offset, int64_t length) {
  t.clear_raw_data();
  t.set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const std::string& k, const std::string& v) {
    auto* e = t.add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", location);
  add("offset", std::to_string(offset));
  add("length", std::to_string(length));
}

}  // namespace

// ---- Models that import ----

TEST_CASE("frontend: inputs, initializers, outputs and model info", "[frontend]") {
  Model m(17);
  m.input("x", F32, {std::string("batch"), std::string(""), int64_t{4}}).output("y");
  m.weight("w", {4}, {1, 2, 3, 4});
  m.input("w", F32, {int64_t{4}});  // older exports list initializers as inputs too
  m.node("Add", {"x", "w"}, {"y"}, "add");
  auto g = importOk(m);

  REQUIRE(g->inputs().size() == 1);
  CHECK(typeOf(*g, g->inputs()[0]) == "f32[batch, x_dim1, 4]");
  REQUIRE(g->constants().size() == 1);
  CHECK(g->constants()[0]->name == "w");
  CHECK(g->constants()[0]->constant->getDouble(3) == 4.0);
  REQUIRE(g->outputs().size() == 1);
  CHECK(typeOf(*g, g->outputs()[0]) == "f32[batch, x_dim1, 4]");
  CHECK(g->nodes().size() == 1);
  CHECK(g->nodes()[0]->name == "add");

  const ir::ModelInfo& info = g->info();
  CHECK(info.sourcePath == "test.onnx");
  CHECK(info.producerName == "bertc-test");
  CHECK(info.producerVersion == "1");
  CHECK(info.graphName == "g");
  CHECK(info.irVersion == 8);
  CHECK(info.opsets.at("") == 17);
}

TEST_CASE("frontend: raw initializers are views into the parsed model", "[frontend]") {
  Model m(17);
  m.input("x", F32, {int64_t{2}}).output("y");
  m.weight("w", {2}, {5, 6});
  m.node("Mul", {"x", "w"}, {"y"});
  auto proto = std::make_shared<onnx::ModelProto>(m.m);
  auto r = frontend::importModelProto(proto, "test.onnx", ".");
  REQUIRE(r.ok());
  const ir::Tensor& t = *(*r)->constants()[0]->constant;
  CHECK(t.data() == reinterpret_cast<const std::byte*>(proto->graph().initializer(0).raw_data().data()));

  // From bytes: the graph keeps the parsed model alive after the bytes are gone.
  auto bytes = std::make_unique<std::string>(m.bytes());
  auto g = frontend::importOnnxBytes(bytes->data(), bytes->size(), "test.onnx", ".");
  bytes.reset();
  proto.reset();
  REQUIRE(g.ok());
  CHECK((*g)->constants()[0]->constant->getDouble(1) == 6.0);
}

TEST_CASE("frontend: typed initializers are copied with their element types", "[frontend]") {
  Model m(17);
  m.input("x", F32, {int64_t{2}}).output("y").output("h").output("b").output("i");
  auto* f = m.g().add_initializer();
  f->set_name("f");
  f->set_data_type(F32);
  f->add_dims(2);
  f->add_float_data(1.5f);
  f->add_float_data(-2.0f);
  auto* h = m.g().add_initializer();  // f16 bit patterns in int32_data
  h->set_name("h");
  h->set_data_type(onnx::TensorProto::FLOAT16);
  h->add_int32_data(0x3c00);  // 1.0
  h->add_int32_data(0xc000);  // -2.0
  h->add_dims(2);
  auto* b = m.g().add_initializer();
  b->set_name("b");
  b->set_data_type(onnx::TensorProto::BOOL);
  b->add_dims(3);
  for (int v : {1, 0, 7}) b->add_int32_data(v);
  m.ints("i", {7, -8});
  m.node("Add", {"x", "f"}, {"y"});
  auto g = importOk(m);
  REQUIRE(g->constants().size() == 4);
  const ir::Tensor& tf = *g->constants()[0]->constant;
  CHECK(tf.dtype() == ir::DType::F32);
  CHECK(tf.getDouble(0) == 1.5);
  CHECK(tf.getDouble(1) == -2.0);
  const ir::Tensor& th = *g->constants()[1]->constant;
  CHECK(th.dtype() == ir::DType::F16);
  CHECK(th.nbytes() == 4);
  CHECK(th.getDouble(0) == 1.0);
  CHECK(th.getDouble(1) == -2.0);
  const ir::Tensor& tb = *g->constants()[2]->constant;
  CHECK(tb.dtype() == ir::DType::Bool);
  CHECK(tb.getInt(0) == 1);
  CHECK(tb.getInt(1) == 0);
  CHECK(tb.getInt(2) == 1);
  CHECK(g->constants()[3]->constant->toInts() == std::vector<int64_t>{7, -8});
  // Graph outputs may be constants directly.
  CHECK(g->outputs()[1]->isConstant());
}

TEST_CASE("frontend: Constant nodes in each value form", "[frontend]") {
  Model m(17);
  m.input("x", F32, {int64_t{2}});
  for (const char* o : {"a", "b", "c", "d", "e"}) m.output(o);
  auto& a = m.node("Constant", {}, {"a"}, "ca");
  auto* t = attr(a, "value", onnx::AttributeProto::TENSOR)->mutable_t();
  t->set_data_type(F32);
  t->add_dims(2);
  t->set_raw_data(floatBytes({3, 4}));
  attrFloat(m.node("Constant", {}, {"b"}, "cb"), "value_float", 0.5f);
  auto& c = m.node("Constant", {}, {"c"}, "cc");
  auto* fs_ = attr(c, "value_floats", onnx::AttributeProto::FLOATS);
  fs_->add_floats(1);
  fs_->add_floats(2);
  fs_->add_floats(3);
  attrInt(m.node("Constant", {}, {"d"}, "cd"), "value_int", 42);
  attrInts(m.node("Constant", {}, {"e"}, "ce"), "value_ints", {1, 2});
  auto g = importOk(m);
  CHECK(g->nodes().empty());
  REQUIRE(g->outputs().size() == 5);
  CHECK(typeOf(*g, g->outputs()[0]) == "f32[2]");
  CHECK(g->outputs()[0]->constant->getDouble(1) == 4.0);
  CHECK(typeOf(*g, g->outputs()[1]) == "f32[]");
  CHECK(g->outputs()[1]->constant->getDouble(0) == 0.5);
  CHECK(typeOf(*g, g->outputs()[2]) == "f32[3]");
  CHECK(typeOf(*g, g->outputs()[3]) == "i64[]");
  CHECK(g->outputs()[3]->constant->getInt(0) == 42);
  CHECK(typeOf(*g, g->outputs()[4]) == "i64[2]");
}

TEST_CASE("frontend: Unsqueeze and Squeeze axes, attribute and input forms", "[frontend]") {
  for (int64_t opset : {11, 13}) {
    DYNAMIC_SECTION("opset " << opset) {
      Model m(opset);
      m.input("x", F32, {int64_t{3}, int64_t{1}}).output("y").output("z");
      auto& u = m.node("Unsqueeze", opset < 13 ? std::vector<std::string>{"x"} : std::vector<std::string>{"x", "ua"},
                       {"y"});
      auto& s = m.node("Squeeze", opset < 13 ? std::vector<std::string>{"x"} : std::vector<std::string>{"x", "sa"},
                       {"z"});
      if (opset < 13) {
        attrInts(u, "axes", {0, -1});
        attrInts(s, "axes", {1});
      } else {
        m.ints("ua", {0, -1});
        auto& c = m.node("Constant", {}, {"sa"}, "sa_const");  // axes from a Constant node
        attrInts(c, "value_ints", {1});
      }
      auto g = importOk(m);
      const ir::Node& un = only(*g, ir::OpKind::Unsqueeze);
      CHECK(un.operands.size() == 1);
      CHECK(ints(un, "axes") == std::vector<int64_t>{0, -1});
      CHECK(typeOf(*g, g->outputs()[0]) == "f32[1, 3, 1, 1]");
      const ir::Node& sq = only(*g, ir::OpKind::Squeeze);
      CHECK(sq.operands.size() == 1);
      CHECK(ints(sq, "axes") == std::vector<int64_t>{1});
      CHECK(typeOf(*g, g->outputs()[1]) == "f32[3]");
    }
  }
}

TEST_CASE("frontend: Reduce axes, attribute and input forms", "[frontend]") {
  // ReduceSum takes axes as an input from opset 13, ReduceMean/ReduceMax from 18.
  struct Case {
    const char* op;
    ir::OpKind kind;
    int64_t opset;
    bool input;
  };
  for (Case c : {Case{"ReduceSum", ir::OpKind::ReduceSum, 11, false}, Case{"ReduceSum", ir::OpKind::ReduceSum, 13, true},
                 Case{"ReduceMean", ir::OpKind::ReduceMean, 13, false},
                 Case{"ReduceMean", ir::OpKind::ReduceMean, 18, true},
                 Case{"ReduceMax", ir::OpKind::ReduceMax, 17, false}, Case{"ReduceMax", ir::OpKind::ReduceMax, 18, true}}) {
    DYNAMIC_SECTION(c.op << " opset " << c.opset) {
      Model m(c.opset);
      m.input("x", F32, {std::string("b"), int64_t{5}, int64_t{7}}).output("y");
      auto& n = m.node(c.op, c.input ? std::vector<std::string>{"x", "axes"} : std::vector<std::string>{"x"}, {"y"},
                       "reduce");
      if (c.input) m.ints("axes", {-1});
      else attrInts(n, "axes", {-1});
      attrInt(n, "keepdims", 1);
      auto g = importOk(m);
      const ir::Node& r = only(*g, c.kind);
      CHECK(r.operands.size() == 1);
      CHECK(ints(r, "axes") == std::vector<int64_t>{-1});
      CHECK(typeOf(*g, g->outputs()[0]) == "f32[b, 5, 1]");
    }
  }
}

TEST_CASE("frontend: Split sizes, attribute and input forms, and equal parts", "[frontend]") {
  enum Form { Attr, Input, Equal, NumOutputs };
  struct Case {
    int64_t opset;
    Form form;
  };
  for (Case c : {Case{11, Attr}, Case{13, Input}, Case{13, Equal}, Case{18, NumOutputs}}) {
    DYNAMIC_SECTION("opset " << c.opset << " form " << c.form) {
      Model m(c.opset);
      m.input("x", F32, {int64_t{2}, int64_t{6}}).output("a").output("b");
      auto& n = m.node("Split", c.form == Input ? std::vector<std::string>{"x", "sizes"} : std::vector<std::string>{"x"},
                       {"a", "b"}, "split");
      attrInt(n, "axis", 1);
      if (c.form == Attr) attrInts(n, "split", {2, 4});
      if (c.form == Input) m.ints("sizes", {2, 4});
      if (c.form == NumOutputs) attrInt(n, "num_outputs", 2);
      auto g = importOk(m);
      const ir::Node& s = only(*g, ir::OpKind::Split);
      CHECK(s.operands.size() == 1);
      if (c.form == Attr || c.form == Input) {
        CHECK(ints(s, "split") == std::vector<int64_t>{2, 4});
        CHECK(typeOf(*g, g->outputs()[0]) == "f32[2, 2]");
        CHECK(typeOf(*g, g->outputs()[1]) == "f32[2, 4]");
      } else {
        CHECK(s.getInt("num_outputs", 0) == 2);
        CHECK(typeOf(*g, g->outputs()[0]) == "f32[2, 3]");
        CHECK(typeOf(*g, g->outputs()[1]) == "f32[2, 3]");
      }
    }
  }
}

TEST_CASE("frontend: Clip min/max, attribute and input forms", "[frontend]") {
  SECTION("opset 10: attributes become constant operands") {
    Model m(10);
    m.input("x", F32, {int64_t{4}}).output("y");
    auto& n = m.node("Clip", {"x"}, {"y"}, "clip");
    attrFloat(n, "max", 6.0f);
    auto g = importOk(m);
    const ir::Node& c = only(*g, ir::OpKind::Clip);
    REQUIRE(c.operands.size() == 3);
    CHECK(c.operands[1] == nullptr);
    REQUIRE(c.operands[2]->isConstant());
    CHECK(c.operands[2]->constant->dtype() == ir::DType::F32);
    CHECK(c.operands[2]->constant->getDouble(0) == 6.0);
    CHECK(c.attrs.empty());
  }
  SECTION("opset 13: inputs, one of them omitted") {
    Model m(13);
    m.input("x", F32, {int64_t{4}}).output("y");
    m.weight("lo", {}, {0.0f});
    m.node("Clip", {"x", "lo"}, {"y"}, "clip");
    auto g = importOk(m);
    const ir::Node& c = only(*g, ir::OpKind::Clip);
    REQUIRE(c.operands.size() == 2);
    CHECK(c.operands[1]->name == "lo");
    CHECK(typeOf(*g, g->outputs()[0]) == "f32[4]");
  }
}

TEST_CASE("frontend: Slice, attribute and input forms", "[frontend]") {
  for (int64_t opset : {9, 13}) {
    DYNAMIC_SECTION("opset " << opset) {
      Model m(opset);
      m.input("x", F32, {int64_t{4}, int64_t{10}}).output("y");
      if (opset < 10) {
        auto& n = m.node("Slice", {"x"}, {"y"}, "slice");
        attrInts(n, "starts", {1});
        attrInts(n, "ends", {7});
        attrInts(n, "axes", {1});
      } else {
        m.ints("st", {1});
        m.ints("en", {7});
        m.ints("ax", {1});
        m.node("Slice", {"x", "st", "en", "ax"}, {"y"}, "slice");
      }
      auto g = importOk(m);
      const ir::Node& s = only(*g, ir::OpKind::Slice);
      REQUIRE(s.operands.size() == 4);
      CHECK(s.operands[1]->constant->toInts() == std::vector<int64_t>{1});
      CHECK(s.operands[2]->constant->toInts() == std::vector<int64_t>{7});
      CHECK(s.operands[3]->constant->toInts() == std::vector<int64_t>{1});
      CHECK(s.attrs.empty());
      CHECK(typeOf(*g, g->outputs()[0]) == "f32[4, 6]");
    }
  }
}

TEST_CASE("frontend: Softmax axis across opsets", "[frontend]") {
  SECTION("opset 13 defaults to the last axis") {
    Model m(13);
    m.input("x", F32, {int64_t{2}, int64_t{3}}).output("y");
    m.node("Softmax", {"x"}, {"y"});
    auto g = importOk(m);
    CHECK(only(*g, ir::OpKind::Softmax).getInt("axis", 0) == -1);
  }
  SECTION("opset 11 on the last axis is accepted") {
    Model m(11);
    m.input("x", F32, {int64_t{2}, int64_t{3}, int64_t{4}}).output("y");
    attrInt(m.node("Softmax", {"x"}, {"y"}), "axis", 2);
    auto g = importOk(m);
    CHECK(only(*g, ir::OpKind::Softmax).getInt("axis", 0) == 2);
  }
  SECTION("opset 11 on another axis flattens to 2-D: unsupported") {
    Model m(11);
    m.input("x", F32, {int64_t{2}, int64_t{3}, int64_t{4}}).output("y");
    m.node("Softmax", {"x"}, {"y"}, "sm");  // default axis 1
    std::string e = importError(m);
    CHECK(e.rfind("test.onnx: node 'sm' (Softmax): unsupported: before opset 13", 0) == 0);
  }
}

TEST_CASE("frontend: Gelu, Cast, LayerNormalization, Dropout", "[frontend]") {
  Model m(20);
  m.input("x", F32, {std::string("b"), int64_t{8}}).output("y").output("c");
  m.weight("scale", {8}, std::vector<float>(8, 1.0f));
  attrString(m.node("Gelu", {"x"}, {"g"}, "gelu"), "approximate", "tanh");
  auto& ln = m.node("LayerNormalization", {"g", "scale"}, {"ln", "", "unused_invstd"}, "ln");
  attrFloat(ln, "epsilon", 1e-12f);
  m.node("Dropout", {"ln"}, {"y", "unused_mask"}, "drop");
  attrInt(m.node("Cast", {"x"}, {"c"}, "cast"), "to", onnx::TensorProto::FLOAT16);
  auto g = importOk(m);
  CHECK(only(*g, ir::OpKind::Gelu).getString("approximate", "") == "tanh");
  const ir::Node& l = only(*g, ir::OpKind::LayerNorm);
  CHECK(l.results.size() == 1);
  CHECK(l.getFloat("epsilon", 0) == Approx(1e-12));
  const ir::Node& d = only(*g, ir::OpKind::Identity);
  CHECK(d.name == "drop");
  CHECK(d.results.size() == 1);
  CHECK(only(*g, ir::OpKind::Cast).getInt("to", 0) == 10);
  CHECK(typeOf(*g, g->outputs()[0]) == "f32[b, 8]");
  CHECK(typeOf(*g, g->outputs()[1]) == "f16[b, 8]");
}

TEST_CASE("frontend: nodes out of order are sorted; unnamed nodes get names", "[frontend]") {
  Model m(17);
  m.input("x", F32, {int64_t{2}}).output("z");
  auto& second = m.node("Neg", {"y"}, {"z"});
  second.clear_name();
  m.node("Abs", {"x"}, {"y"}, "abs");
  auto g = importOk(m);
  REQUIRE(g->nodes().size() == 2);
  CHECK(g->nodes()[0]->op == ir::OpKind::Abs);
  CHECK(g->nodes()[1]->name == "Neg_0");
}

TEST_CASE("frontend: external data is memory-mapped and viewed in place", "[frontend]") {
  TempDir dir;
  std::vector<float> w1 = {1, 2, 3, 4}, w2 = {10, 20};
  writeFile(dir.file("weights.bin"), std::string(16, '\0') + floatBytes(w1) + floatBytes(w2));
  Model m(17);
  m.input("x", F32, {int64_t{4}}).output("y").output("z");
  makeExternal(m.weight("w1", {4}, {}), "weights.bin", 16, 16);
  makeExternal(m.weight("w2", {2}, {}), "./sub/../weights.bin", 32, 8);
  m.node("Add", {"x", "w1"}, {"y"});
  m.node("Identity", {"w2"}, {"z"});
  writeFile(dir.file("model.onnx"), m.bytes());

  auto r = frontend::importOnnxFile(dir.file("model.onnx"));
  INFO((r.ok() ? std::string() : r.message()));
  REQUIRE(r.ok());
  const ir::Tensor& t1 = *(*r)->constants()[0]->constant;
  const ir::Tensor& t2 = *(*r)->constants()[1]->constant;
  CHECK(t1.getDouble(3) == 4.0);
  CHECK(t2.getDouble(1) == 20.0);
  // Both view one mapping of the file, at their offsets: nothing was copied.
  auto [lo, hi] = mappingOf(dir.file("weights.bin"));
  auto p1 = reinterpret_cast<uintptr_t>(t1.data()), p2 = reinterpret_cast<uintptr_t>(t2.data());
  CHECK(lo != 0);
  CHECK(p1 >= lo);
  CHECK(p1 + 16 <= hi);
  CHECK(p2 == p1 + 16);
}

// ---- Bad inputs: one line naming the file, the node and the op ----

TEST_CASE("frontend: files that are not ONNX, truncated, empty or missing", "[frontend]") {
  TempDir dir;
  SECTION("not an ONNX file") {
    writeFile(dir.file("notes.onnx"), "hello, this is a text file\n");
    auto r = frontend::importOnnxFile(dir.file("notes.onnx"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.message().rfind(dir.file("notes.onnx") + ": not an ONNX model", 0) == 0);
  }
  SECTION("truncated") {
    Model m(17);
    m.input("x", F32, {int64_t{256}}).output("y");
    m.weight("w", {256}, std::vector<float>(256, 1.0f));
    m.node("Add", {"x", "w"}, {"y"});
    std::string b = m.bytes();
    writeFile(dir.file("cut.onnx"), b.substr(0, b.size() / 2));
    auto r = frontend::importOnnxFile(dir.file("cut.onnx"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.message().rfind(dir.file("cut.onnx") + ": truncated ONNX file: field 'graph'", 0) == 0);
  }
  SECTION("empty") {
    writeFile(dir.file("empty.onnx"), "");
    auto r = frontend::importOnnxFile(dir.file("empty.onnx"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.message() == dir.file("empty.onnx") + ": not an ONNX model (the file is empty)");
  }
  SECTION("missing") {
    auto r = frontend::importOnnxFile(dir.file("nothere.onnx"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.message() == dir.file("nothere.onnx") + ": model file not found");
  }
}

TEST_CASE("frontend: all unsupported ops are listed at once", "[frontend]") {
  Model m(17);
  m.input("x", F32, {int64_t{2}}).output("y");
  m.node("FooOp", {"x"}, {"a"}, "a");
  m.node("Abs", {"a"}, {"b"}, "abs");
  m.node("BarOp", {"b"}, {"c"}, "c");
  m.node("FooOp", {"c"}, {"d"}, "b");
  m.node("MultiHeadAttention", {"d"}, {"y"}, "att").set_domain("com.microsoft");
  CHECK(importError(m) == "test.onnx: unsupported ops: FooOp (nodes 'a', 'b'), BarOp (node 'c'), "
                          "com.microsoft.MultiHeadAttention (node 'att')");
}

TEST_CASE("frontend: undefined inputs, cycles, values defined twice", "[frontend]") {
  SECTION("an input nothing defines (a missing initializer)") {
    Model m(17);
    m.input("x", F32, {int64_t{2}}).output("y");
    m.node("Add", {"x", "bias"}, {"y"}, "add_bias");
    CHECK(importError(m) ==
          "test.onnx: node 'add_bias' (Add): input 'bias' is not defined by any node, initializer or graph input");
  }
  SECTION("a graph output nothing produces") {
    Model m(17);
    m.input("x", F32, {int64_t{2}}).output("nope");
    CHECK(importError(m) == "test.onnx: graph output 'nope' is not produced by any node");
  }
  SECTION("a cycle") {
    Model m(17);
    m.input("x", F32, {int64_t{2}}).output("b");
    m.node("Add", {"x", "b"}, {"a"}, "first");
    m.node("Neg", {"a"}, {"b"}, "second");
    CHECK(importError(m) == "test.onnx: node 'first' (Add): is part of a cycle");
  }
  SECTION("a value defined twice") {
    Model m(17);
    m.input("x", F32, {int64_t{2}}).output("x2");
    m.node("Neg", {"x"}, {"x2"}, "one");
    m.node("Abs", {"x"}, {"x2"}, "two");
    CHECK(importError(m) == "test.onnx: node 'two' (Abs): output 'x2' is already defined");
  }
  SECTION("a name with a newline stays on one line") {
    Model m(17);
    m.input("x", F32, {int64_t{2}}).output("y");
    m.node("Add", {"x", "b\nad"}, {"y"}, "line\nbreak");
    CHECK(importError(m) ==
          "test.onnx: node 'line\\x0abreak' (Add): input 'b\\x0aad' is not defined by any node, initializer or "
          "graph input");
  }
}

TEST_CASE("frontend: type mismatches are found by shape inference", "[frontend]") {
  Model m(17);
  m.input("x", F32, {int64_t{2}}).input("i", I64, {int64_t{2}}).output("y");
  m.node("Add", {"x", "i"}, {"y"}, "mixed_add");
  std::string e = importError(m, "mixed.onnx");
  CHECK(e.rfind("mixed.onnx: node 'mixed_add' (Add): ", 0) == 0);
}

TEST_CASE("frontend: bad attributes and operands name the node", "[frontend]") {
  SECTION("Cast to an unsupported type") {
    Model m(17);
    m.input("x", F32, {int64_t{2}}).output("y");
    attrInt(m.node("Cast", {"x"}, {"y"}, "to_string"), "to", onnx::TensorProto::STRING);
    CHECK(importError(m) ==
          "test.onnx: node 'to_string' (Cast): casts to STRING, an element type bertc does not support");
  }
  SECTION("axes computed at run time") {
    Model m(13);
    m.input("x", F32, {int64_t{2}}).input("ax", I64, {int64_t{1}}).output("y");
    m.node("Unsqueeze", {"x", "ax"}, {"y"}, "unsq");
    CHECK(importError(m) == "test.onnx: node 'unsq' (Unsqueeze): input 'axes' must be a constant (an initializer or "
                            "a Constant node's output), but 'ax' is computed at run time");
  }
  SECTION("Dropout's mask in use") {
    Model m(13);
    m.input("x", F32, {int64_t{2}}).output("y").output("mask");
    m.node("Dropout", {"x"}, {"y", "mask"}, "drop");
    CHECK(importError(m) == "test.onnx: node 'drop' (Dropout): the mask output (output 'mask') is used, but bertc "
                            "imports inference graphs only");
  }
  SECTION("too many inputs") {
    Model m(17);
    m.input("x", F32, {int64_t{2}}).output("y");
    m.node("Neg", {"x", "x"}, {"y"}, "neg2");
    CHECK(importError(m) == "test.onnx: node 'neg2' (Neg): has 2 inputs, expected 1");
  }
  SECTION("an opset too old") {
    Model m(6);
    m.input("x", F32, {int64_t{2}}).output("y");
    m.node("Neg", {"x"}, {"y"});
    CHECK(importError(m) == "test.onnx: ai.onnx opset 6 is not supported (bertc imports opsets 7 to 22)");
  }
  SECTION("an input of an unsupported element type") {
    Model m(17);
    m.input("s", onnx::TensorProto::STRING, {int64_t{2}}).output("y");
    m.node("Identity", {"s"}, {"y"});
    CHECK(importError(m) ==
          "test.onnx: graph input 's' has element type STRING, which bertc does not support");
  }
  SECTION("raw data of the wrong size") {
    Model m(17);
    m.input("x", F32, {int64_t{4}}).output("y");
    m.weight("w", {4}, {1, 2, 3});
    m.node("Add", {"x", "w"}, {"y"});
    CHECK(importError(m) == "test.onnx: initializer 'w': raw data has 12 bytes, expected 16 for 4 f32 elements");
  }
}

TEST_CASE("frontend: external data that is missing, short or outside the model directory", "[frontend]") {
  TempDir dir;
  writeFile(dir.file("short.bin"), floatBytes({1, 2}));
  auto tryImport = [&](const std::string& location, int64_t offset) {
    Model m(17);
    m.input("x", F32, {int64_t{4}}).output("y");
    makeExternal(m.weight("enc.weight", {4}, {}), location, offset, 16);
    m.node("Add", {"x", "enc.weight"}, {"y"});
    writeFile(dir.file("model.onnx"), m.bytes());
    auto r = frontend::importOnnxFile(dir.file("model.onnx"));
    REQUIRE_FALSE(r.ok());
    return r.message();
  };
  const std::string prefix = dir.file("model.onnx") + ": initializer 'enc.weight': ";
  CHECK(tryImport("missing.bin", 0) == prefix + "external data file 'missing.bin' not found (looked for '" +
                                           dir.file("missing.bin") + "')");
  CHECK(tryImport("short.bin", 0) ==
        prefix + "external data at offset 0, 16 bytes, lies past the end of 'short.bin' (8 bytes)");
  CHECK(tryImport("short.bin", 1 << 30) ==
        prefix + "external data at offset 1073741824, 16 bytes, lies past the end of 'short.bin' (8 bytes)");
  CHECK(tryImport("../short.bin", 0) == prefix + "external data location '../short.bin' escapes the model directory");
  CHECK(tryImport("/etc/passwd", 0) == prefix + "external data location '/etc/passwd' escapes the model directory");
}
