/// The ONNX writer's driver: names, graph inputs and outputs, initializers
/// (inline or in an external data file), and the files themselves. The
/// per-op mappings live in export_ops.cpp.
#include "frontend/onnx_export.h"

#include "ir/output_file.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>
#include <optional>

#include "frontend/export_writer.h"
#include "ir/output_file.h"
#include "ir/status.h"

namespace bertc::frontend {
namespace exporter {

/// Tensors smaller than this stay in the model file even with external data
/// (onnx's own default threshold): shapes and axes stay readable there.
constexpr size_t kExternalThreshold = 1024;
/// Offsets in the external data file: large tensors start on a page (so a
/// reader may map them), the others on a cache line.
constexpr size_t kLargeAlign = 4096, kSmallAlign = 64, kLargeTensor = size_t{1} << 20;

Writer::Writer(const ir::Graph& g, std::string path, onnx::GraphProto* graph, ExportOptions opts)
    : g_(g), path_(std::move(path)), opts_(opts), graph_(graph) {}

void Writer::fail(const std::string& what) const { throw UserError(path_ + ": " + what); }

void Writer::failNode(const ir::Node& n, const std::string& what) const {
  throw UserError(path_ + ": " + n.describe() + ": " + what);
}

std::string Writer::fresh(const std::string& base) {
  std::string name = base;
  for (int k = 1; taken_.count(name); ++k) name = base + "_" + std::to_string(k);
  taken_.insert(name);
  return name;
}

std::string Writer::freshNode(const std::string& base) {
  std::string name = base;
  for (int k = 1; nodeNames_.count(name); ++k) name = base + "_" + std::to_string(k);
  nodeNames_.insert(name);
  return name;
}

const std::string& Writer::nameOf(const ir::Value* v) {
  static const std::string kNone;
  if (!v) return kNone;
  auto it = names_.find(v);
  BERTC_INTERNAL_ASSERT(it != names_.end(), "export: value '" + v->name + "' was never named");
  return it->second;
}

void Writer::assignNames() {
  auto claim = [&](const ir::Value* v) {
    if (names_.count(v)) return;
    names_[v] = fresh(v->name.empty() ? "v" + std::to_string(v->id) : v->name);
  };
  for (const ir::Value* v : g_.inputs()) claim(v);
  // Outputs computed by nodes keep their names; an output that is a graph
  // input or a constant is written through an Identity (exportOnnx), whose
  // result takes the name, so reserve it now.
  for (const ir::Value* v : g_.outputs()) {
    if (!v) fail("the graph has a null output");
    if (!v->isInput && !v->isConstant() && !names_.count(v)) {
      claim(v);
      outputNames_.push_back(names_[v]);
    } else {
      outputNames_.push_back(fresh(v->name));  // through an Identity (exportImpl)
    }
  }
  std::unordered_set<const ir::Value*> used(g_.outputs().begin(), g_.outputs().end());
  for (const auto& n : g_.nodes())
    for (const ir::Value* v : n->operands)
      if (v) used.insert(v);
  for (const ir::Value* c : g_.constants()) {
    if (!used.count(c)) continue;
    usedConstants_.push_back(c);
    claim(c);
  }
  for (const auto& n : g_.nodes())
    for (const ir::Value* r : n->results) claim(r);
}

onnx::NodeProto* Writer::addNode(const std::string& opType, const std::string& name,
                                 const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
                                 const char* domain) {
  onnx::NodeProto* p = graph_->add_node();
  p->set_op_type(opType);
  p->set_name(name);
  if (domain && *domain) {
    p->set_domain(domain);
    if (std::strcmp(domain, kMsDomain) == 0) usesMsDomain_ = true;
  }
  // Trailing absent optional inputs are left out, not written as "".
  size_t n = inputs.size();
  while (n > 0 && inputs[n - 1].empty()) --n;
  for (size_t i = 0; i < n; ++i) p->add_input(inputs[i]);
  for (const std::string& o : outputs) p->add_output(o);
  return p;
}

std::string Writer::addConstant(const std::string& base, const ir::Tensor& t) {
  std::string name = fresh(base);
  madeConstants_.emplace_back(name, t);
  return name;
}

std::string Writer::int64s(const std::string& base, const std::vector<int64_t>& v) {
  auto it = int64Cache_.find(v);
  if (it != int64Cache_.end()) return it->second;
  ir::Tensor t = v.empty() ? ir::Tensor::allocate(ir::DType::I64, {0})
                           : ir::Tensor::fromVector(ir::DType::I64, {static_cast<int64_t>(v.size())}, v);
  std::string name = addConstant(base, t);
  int64Cache_.emplace(v, name);
  return name;
}

namespace {
ir::DType dtypeOf(const ir::Value* v) { return v->isConstant() ? v->constant->dtype() : v->type.dtype; }

void setInt(onnx::NodeProto* p, const char* name, int64_t v) {
  auto* a = p->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
}  // namespace

std::string Writer::asInt32(const ir::Value* v, const std::string& nodeName) {
  if (dtypeOf(v) == ir::DType::I32) return nameOf(v);
  auto it = int32Cache_.find(v);
  if (it != int32Cache_.end()) return it->second;
  std::string out = fresh(nameOf(v) + "_int32");
  setInt(addNode("Cast", freshNode(nodeName + "/cast_int32"), {nameOf(v)}, {out}), "to",
         onnx::TensorProto::INT32);
  int32Cache_.emplace(v, out);
  return out;
}

std::string Writer::maskInt32(const ir::Value* v, const std::string& nodeName) {
  ir::DType dt = dtypeOf(v);
  if (dt == ir::DType::I32) return nameOf(v);
  auto it = maskCache_.find(v);
  if (it != maskCache_.end()) return it->second;
  std::string in = nameOf(v);
  if (dt != ir::DType::Bool) {
    std::string b = fresh(nameOf(v) + "_bool");
    setInt(addNode("Cast", freshNode(nodeName + "/cast_bool"), {in}, {b}), "to", onnx::TensorProto::BOOL);
    in = b;
  }
  std::string out = fresh(nameOf(v) + "_int32");
  setInt(addNode("Cast", freshNode(nodeName + "/cast_int32"), {in}, {out}), "to", onnx::TensorProto::INT32);
  maskCache_.emplace(v, out);
  return out;
}

size_t payloadBytes(const ir::Tensor& t) { return static_cast<size_t>(t.numel()) * ir::dtypeSize(t.dtype()); }

void setTensorHeader(onnx::TensorProto* p, const std::string& name, const ir::Tensor& t) {
  if (!name.empty()) p->set_name(name);
  p->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.shape()) p->add_dims(d);
}

}  // namespace exporter

namespace {

using exporter::Writer;

/// A graph input's or output's type: element type and shape, a named
/// symbol as dim_param, a derived or compound dim left unnamed.
void setValueInfo(onnx::ValueInfoProto* vi, const std::string& name, const ir::Type& t, const ir::Graph& g,
                  const std::string& path) {
  if (!t.known() || ir::dtypeSize(t.dtype) == 0)
    throw UserError(path + ": graph input or output '" + name + "' has no supported element type");
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(t.dtype));
  auto* shape = tt->mutable_shape();
  for (const ir::Dim& d : t.shape) {
    auto* dim = shape->add_dim();
    if (auto c = d.constValue()) {
      dim->set_dim_value(*c);
    } else if (auto s = d.asSymbol(); s && g.symbols()[*s].definition.empty()) {
      dim->set_dim_param(g.symbols()[*s].name);
    }
  }
}

/// One file written beside its target and renamed into place by commit()
/// (ir::OutputFile: never half a file, never a path we were not asked for).
class OutFile {
 public:
  explicit OutFile(const std::string& path) {
    auto f = ir::OutputFile::create(path);
    if (!f) throw UserError(f.message());
    file_ = std::move(*f);
    f_ = std::fopen(file_->tempPath().c_str(), "wb");
    if (!f_) fail();
  }
  ~OutFile() {
    if (f_) std::fclose(f_);
  }
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;

  void write(const void* data, size_t n) {
    if (n && std::fwrite(data, 1, n, f_) != n) fail();
    pos_ += n;
  }
  void padTo(size_t align) {
    static const char zeros[exporter::kLargeAlign] = {};
    size_t pad = (align - pos_ % align) % align;
    write(zeros, pad);
  }
  size_t pos() const { return pos_; }
  std::FILE* handle() { return f_; }
  /// Closes the file; throws on failure. The rename is commit()'s.
  void close() {
    int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0) fail();
  }
  void commit() {
    if (Status s = file_->commit(); !s.ok()) throw UserError(s.message());
  }

 private:
  [[noreturn]] void fail() { throw UserError(file_->path() + ": cannot write: " + std::strerror(errno)); }
  std::unique_ptr<ir::OutputFile> file_;
  std::FILE* f_ = nullptr;
  size_t pos_ = 0;
};

Status exportImpl(const ir::Graph& g, const std::string& path, const ExportOptions& opts) {
  onnx::ModelProto model;
  model.set_ir_version(8);  // the IR version of opset 17
  model.set_producer_name("bertc");
  model.set_producer_version("0.1.0");
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name(g.info().graphName.empty() ? "bertc" : g.info().graphName);

  Writer w(g, path, graph, opts);
  w.assignNames();
  for (const ir::Value* v : g.inputs()) setValueInfo(graph->add_input(), w.nameOf(v), v->type, g, path);
  for (const auto& n : g.nodes()) w.emitNode(*n);
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    const ir::Value* v = g.outputs()[i];
    const std::string& name = w.outputNames()[i];
    // An output that is a graph input, a constant, or an output listed
    // before goes through an Identity whose result carries its name.
    if (name != w.nameOf(v)) w.addNode("Identity", w.freshNode(name + "/identity"), {w.nameOf(v)}, {name});
    ir::Type t = v->type;
    if (v->isConstant() && !t.known()) {
      t.dtype = v->constant->dtype();
      t.shape.assign(v->constant->shape().begin(), v->constant->shape().end());
    }
    setValueInfo(graph->add_output(), name, t, g, path);
  }

  // Initializers: the IR constants in use, then the ones the mappings made.
  std::vector<std::pair<std::string, const ir::Tensor*>> inits;
  for (const ir::Value* c : w.usedConstants()) inits.emplace_back(w.nameOf(c), &*c->constant);
  for (const auto& [name, t] : w.madeConstants()) inits.emplace_back(name, &t);
  uint64_t total = 0;
  for (const auto& [name, t] : inits) {
    if (ir::dtypeSize(t->dtype()) == 0)
      throw UserError(path + ": constant '" + name + "' has an unsupported element type");
    if (t->nbytes() < exporter::payloadBytes(*t))
      throw UserError(path + ": constant '" + name + "' has fewer bytes than its shape needs");
    total += exporter::payloadBytes(*t);
  }
  const bool external = opts.externalData || total > kAutoExternalDataBytes;
  const std::string dataPath = path + ".data";
  const std::string location = std::filesystem::path(dataPath).filename().string();

  std::optional<OutFile> data;
  if (external) data.emplace(dataPath);
  for (const auto& [name, t] : inits) {
    onnx::TensorProto* p = graph->add_initializer();
    exporter::setTensorHeader(p, name, *t);
    size_t n = exporter::payloadBytes(*t);
    if (!external || n < exporter::kExternalThreshold) {
      p->set_raw_data(t->data(), n);  // IR tensors are little-endian, as raw_data is
      continue;
    }
    data->padTo(n >= exporter::kLargeTensor ? exporter::kLargeAlign : exporter::kSmallAlign);
    p->set_data_location(onnx::TensorProto::EXTERNAL);
    auto kv = [&](const char* key, const std::string& value) {
      auto* e = p->add_external_data();
      e->set_key(key);
      e->set_value(value);
    };
    kv("location", location);
    kv("offset", std::to_string(data->pos()));
    kv("length", std::to_string(n));
    data->write(t->data(), n);
  }

  auto* os = model.add_opset_import();
  os->set_domain("");
  os->set_version(exporter::kOpset);
  if (w.usesMsDomain()) {
    auto* ms = model.add_opset_import();
    ms->set_domain(exporter::kMsDomain);
    ms->set_version(1);
  }

  if (model.ByteSizeLong() > static_cast<size_t>(INT32_MAX))
    throw UserError(path + ": the model is over protobuf's 2 GiB limit; write its weights as external data");
  OutFile out(path);
  if (!model.SerializeToFileDescriptor(fileno(out.handle())))
    throw UserError(path + ": cannot write: " + std::strerror(errno));
  // Both files complete before either replaces anything.
  if (data) data->close();
  out.close();
  if (data) data->commit();
  out.commit();
  return Status();
}

}  // namespace

Status exportOnnx(const ir::Graph& g, const std::string& path, const ExportOptions& opts) {
  try {
    return exportImpl(g, path, opts);
  } catch (const UserError& e) {
    return Status::error(e.what());
  } catch (const std::bad_alloc&) {
    return Status::error(path + ": out of memory while writing the model");
  } catch (const std::exception& e) {
    return Status::error(path + ": " + e.what());
  }
}

}  // namespace bertc::frontend
