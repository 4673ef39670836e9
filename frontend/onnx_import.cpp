/// The public entry points: read (memory-map) the file, parse the protobuf,
/// import, infer shapes, verify; every failure becomes a one-line Status.
#include "frontend/onnx_import.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <sys/mman.h>
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <new>

#include "frontend/external_data.h"
#include "frontend/import_context.h"
#include "frontend/import_model.h"
#include "ir/shape_infer.h"
#include "ir/verify.h"

namespace bertc::frontend {
namespace {

using detail::printable;

/// A graph input's named dim that a broadcast meets with a fixed dim c > 1
/// can only be c (or 1, which no encoder input means): an export whose
/// input_ids is fixed at [batch, 7] while its mask stays [batch, sequence].
/// Replacing the symbol by c in the input types and inferring again gives
/// every value one shape, so the fusions see equal types where the graph
/// means them. Repeated until nothing changes, so that writing the graph out
/// and reading it back unifies nothing more; if the unified graph does not
/// infer (the symbol had to be 1 after all), the input types are left as
/// they were.
Status unifyFixedDims(ir::Graph& g) {
  ir::SymbolTable& syms = g.symbols();
  std::vector<ir::Shape> original;
  for (const ir::Value* in : g.inputs()) original.push_back(in->type.shape);
  auto clearNotes = [&] {
    for (size_t i = 0; i < syms.size(); ++i) syms[static_cast<ir::SymId>(i)].broadcastsWith = 0;
  };
  for (int round = 0; round < 8; ++round) {
    bool changed = false;
    for (ir::Value* in : g.inputs())
      for (ir::Dim& d : in->type.shape)
        if (auto id = d.asSymbol(); id && syms[*id].broadcastsWith > 1) {
          d = ir::Dim(syms[*id].broadcastsWith);
          changed = true;
        }
    clearNotes();
    if (!changed) return Status();
    if (!ir::inferShapes(g).ok()) break;
  }
  for (size_t i = 0; i < g.inputs().size(); ++i) g.inputs()[i]->type.shape = original[i];
  Status s = ir::inferShapes(g);
  clearNotes();
  return s;
}

/// Top-level fields of ModelProto: number, wire type, name.
struct TopField {
  uint32_t number;
  uint32_t wireType;
  const char* name;
};
constexpr TopField kModelFields[] = {
    {1, 0, "ir_version"},  {2, 2, "producer_name"}, {3, 2, "producer_version"}, {4, 2, "domain"},
    {5, 0, "model_version"}, {6, 2, "doc_string"},  {7, 2, "graph"},            {8, 2, "opset_import"},
    {14, 2, "metadata_props"}, {20, 2, "training_info"}, {25, 2, "functions"},
};

/// Says why a parse failed, by walking the top-level wire format: a
/// ModelProto field that runs past the end of the file means a truncated
/// file; a field ModelProto does not have means the file is not ONNX.
std::string diagnoseParseFailure(const uint8_t* p, size_t size) {
  size_t pos = 0;
  auto varint = [&](uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= size) return false;
      uint8_t b = p[pos++];
      *v |= uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  };
  while (pos < size) {
    size_t start = pos;
    uint64_t tag = 0;
    if (!varint(&tag)) return "not an ONNX model (no protobuf field at offset " + std::to_string(start) + ")";
    auto number = static_cast<uint32_t>(tag >> 3), wireType = static_cast<uint32_t>(tag & 7);
    const TopField* f = nullptr;
    for (const TopField& k : kModelFields)
      if (k.number == number && k.wireType == wireType) f = &k;
    if (!f) return "not an ONNX model (unexpected protobuf field at offset " + std::to_string(start) + ")";
    uint64_t v = 0;
    if (wireType == 0) {
      if (!varint(&v)) return "truncated ONNX file: it ends inside field '" + std::string(f->name) + "'";
      continue;
    }
    if (!varint(&v) || v > size - pos)
      return "truncated ONNX file: field '" + std::string(f->name) + "' at offset " + std::to_string(start) +
             " needs " + std::to_string(v) + " bytes but the file has " + std::to_string(size - pos) + " left";
    pos += v;
  }
  return "malformed ONNX model (protobuf parse failed inside a field; the file may be corrupt)";
}

/// Hands protobuf a memory-mapped file in blocks and releases the pages of
/// the blocks it has finished with. The parsed model holds its own copy of
/// every byte, so without this a 440 MB model would be resident twice while
/// it is parsed (the file's pages and protobuf's strings).
class ReleasingStream final : public google::protobuf::io::ZeroCopyInputStream {
 public:
  ReleasingStream(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool Next(const void** out, int* n) override {
    if (pos_ >= size_) return false;
    // Keep the block before this one: protobuf may still BackUp into it.
    if (pos_ > kBlock) release(pos_ - kBlock);
    size_t len = std::min(kBlock, size_ - pos_);
    *out = data_ + pos_;
    *n = static_cast<int>(len);
    pos_ += len;
    return true;
  }
  void BackUp(int count) override { pos_ -= static_cast<size_t>(count); }
  bool Skip(int count) override {
    size_t step = std::min(static_cast<size_t>(count), size_ - pos_);
    pos_ += step;
    return step == static_cast<size_t>(count);
  }
  int64_t ByteCount() const override { return static_cast<int64_t>(pos_); }

 private:
  static constexpr size_t kBlock = size_t{1} << 20;
  void release(size_t end) {
    auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    end -= end % page;
    if (end > released_) ::madvise(const_cast<uint8_t*>(data_) + released_, end - released_, MADV_DONTNEED);
    released_ = std::max(released_, end);
  }
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  size_t released_ = 0;
};

/// Parses the model. `mapped` says data is a page-aligned private file
/// mapping whose pages may be dropped once parsed (they read back from the file).
std::shared_ptr<const onnx::ModelProto> parseModel(const void* data, size_t size, const std::string& file,
                                                   bool mapped = false) {
  auto fail = [&](const std::string& what) -> void { throw UserError(printable(file) + ": " + what); };
  if (size == 0) fail("not an ONNX model (the file is empty)");
  if (size > static_cast<size_t>(INT_MAX))
    fail("the file is over 2 GiB, more than protobuf can parse; export the weights as external data");
  auto model = std::make_shared<onnx::ModelProto>();
  google::protobuf::io::ArrayInputStream array(data, static_cast<int>(size));
  ReleasingStream releasing(static_cast<const uint8_t*>(data), size);
  google::protobuf::io::ZeroCopyInputStream* raw = mapped ? static_cast<google::protobuf::io::ZeroCopyInputStream*>(&releasing) : &array;
  bool ok;
  {
    google::protobuf::io::CodedInputStream in(raw);
    in.SetTotalBytesLimit(INT_MAX);  // the 64 MiB default of older protobufs is far below a BERT-base
    ok = model->ParseFromCodedStream(&in) && in.ConsumedEntireMessage();
  }
  if (!ok) fail(diagnoseParseFailure(static_cast<const uint8_t*>(data), size));
  if (!model->has_graph()) fail("not an ONNX model (it has no graph)");
  return model;
}

/// Makes sure a message is one line, whatever bytes the file put in names.
std::string oneLine(std::string msg) {
  for (char& c : msg)
    if (c == '\n' || c == '\r') c = ' ';
  return msg;
}

/// Runs an import step, turning every exception into a one-line Status.
template <class Fn>
Result<std::unique_ptr<ir::Graph>> guarded(const std::string& file, Fn&& fn) {
  try {
    return fn();
  } catch (const UserError& e) {
    return Status::error(oneLine(e.what()));
  } catch (const std::bad_alloc&) {
    return Status::error(printable(file) + ": out of memory while importing");
  } catch (const std::exception& e) {  // protobuf, the standard library
    return Status::error(oneLine(printable(file) + ": " + e.what()));
  }
}

}  // namespace

Result<std::unique_ptr<ir::Graph>> importModelProto(std::shared_ptr<const onnx::ModelProto> model,
                                                    const std::string& displayName, const std::string& baseDir,
                                                    const ImportOptions& opts, const std::string& realModelDir) {
  return guarded(displayName, [&]() -> Result<std::unique_ptr<ir::Graph>> {
    auto graph = std::make_unique<ir::Graph>();
    detail::ImportContext ctx(displayName, baseDir, std::move(model));
    ctx.graph = graph.get();
    ctx.opts = opts;
    if (!realModelDir.empty()) ctx.external.alsoAllow(realModelDir);
    detail::importGraph(ctx);
    const std::string prefix = printable(displayName) + ": ";
    if (opts.inferShapes) {
      Status s = ir::inferShapes(*graph);
      if (s.ok()) s = unifyFixedDims(*graph);
      detail::checkAttentionMasks(ctx);  // a clearer message than the shape rule's
      if (!s.ok()) return Status::error(oneLine(prefix + s.message()));
    } else {
      detail::checkAttentionMasks(ctx);
    }
    detail::checkLegacySoftmax(ctx);
    if (opts.inferShapes) {
      Status s = ir::verify(*graph);
      if (!s.ok()) return Status::error(oneLine(prefix + s.message()));
    }
    return graph;
  });
}

Result<std::unique_ptr<ir::Graph>> importOnnxBytes(const void* data, size_t size, const std::string& displayName,
                                                   const std::string& baseDir, const ImportOptions& opts) {
  return guarded(displayName, [&]() -> Result<std::unique_ptr<ir::Graph>> {
    auto model = parseModel(data, size, displayName);
    return importModelProto(std::move(model), displayName, baseDir, opts);
  });
}

Result<std::unique_ptr<ir::Graph>> importOnnxFile(const std::string& path, const ImportOptions& opts) {
  return guarded(path, [&]() -> Result<std::unique_ptr<ir::Graph>> {
    std::string error;
    std::shared_ptr<const onnx::ModelProto> model;
    {
      // The mapping is only needed while parsing: the parsed model holds its
      // own copy of every byte, and the constants view into that.
      auto file = MappedFile::open(path, &error);
      if (!file) throw UserError(printable(path) + ": model file " + error);
      if (file->data()) ::madvise(const_cast<std::byte*>(file->data()), file->size(), MADV_SEQUENTIAL);
      model = parseModel(file->data(), file->size(), path, /*mapped=*/true);
    }
    std::string dir = std::filesystem::path(path).parent_path().string();
    std::error_code ec;
    const std::string realDir = std::filesystem::canonical(path, ec).parent_path().string();
    return importModelProto(std::move(model), path, dir.empty() ? "." : dir, opts, ec ? "" : realDir);
  });
}

}  // namespace bertc::frontend
