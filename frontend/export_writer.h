#pragma once
/// Private to the ONNX writer (onnx_export.cpp, export_ops.cpp): the state
/// of one export, the unique value and node names, and the helpers the op
/// mappings use to add nodes and small initializers.
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "frontend/onnx_export.h"
#include "ir/graph.h"
#include "onnx/onnx_pb.h"

namespace bertc::frontend::exporter {

/// ONNX Runtime's contrib-op domain.
inline constexpr const char* kMsDomain = "com.microsoft";
/// The default-domain opset the writer targets.
inline constexpr int64_t kOpset = 17;

class Writer {
 public:
  Writer(const ir::Graph& g, std::string path, onnx::GraphProto* graph, ExportOptions opts = {});
  const ExportOptions& options() const { return opts_; }

  /// Gives every IR value a unique ONNX name: graph inputs first, then graph
  /// outputs, then the constants and node results in graph order, each
  /// keeping its IR name unless an earlier value took it.
  void assignNames();

  /// The ONNX name of v ("" for an absent optional operand).
  const std::string& nameOf(const ir::Value* v);
  /// A value name no other value has, starting with `base`.
  std::string fresh(const std::string& base);
  /// A node name no other node has, starting with `base`.
  std::string freshNode(const std::string& base);

  /// Appends a node; `domain` empty for the default domain.
  onnx::NodeProto* addNode(const std::string& opType, const std::string& name, const std::vector<std::string>& inputs,
                           const std::vector<std::string>& outputs, const char* domain = "");
  /// A new initializer holding `t`, named after `base`; returns its name.
  std::string addConstant(const std::string& base, const ir::Tensor& t);
  /// A 1-D int64 initializer (axes, split sizes), shared between nodes that need the same one.
  std::string int64s(const std::string& base, const std::vector<int64_t>& v);
  /// v converted to int32 by a Cast (v itself if it is int32 already), one Cast per value.
  std::string asInt32(const ir::Value* v, const std::string& nodeName);
  /// A 0/1 int32 mask that is 1 where v is nonzero (Cast to bool, then to
  /// int32: a plain Cast would turn 0.5 into 0), one per value.
  std::string maskInt32(const ir::Value* v, const std::string& nodeName);

  /// Writes one IR node as ONNX node(s) (export_ops.cpp).
  void emitNode(const ir::Node& n);

  /// `<path>: node 'name' (Op): what` as a UserError.
  [[noreturn]] void failNode(const ir::Node& n, const std::string& what) const;
  [[noreturn]] void fail(const std::string& what) const;

  bool usesMsDomain() const { return usesMsDomain_; }
  /// The name each graph output is written under (assignNames): its value's
  /// name, or a fresh one when it needs an Identity (see exportImpl).
  const std::vector<std::string>& outputNames() const { return outputNames_; }
  /// The IR constants some node or output uses, in graph order.
  const std::vector<const ir::Value*>& usedConstants() const { return usedConstants_; }
  /// Initializers the op mappings made up (ones, zeros, axes), to add to the graph.
  std::vector<std::pair<std::string, ir::Tensor>>& madeConstants() { return madeConstants_; }

 private:
  const ir::Graph& g_;
  std::string path_;
  ExportOptions opts_;
  onnx::GraphProto* graph_;
  std::unordered_map<const ir::Value*, std::string> names_;
  std::unordered_set<std::string> taken_, nodeNames_;
  std::map<std::vector<int64_t>, std::string> int64Cache_;
  std::unordered_map<const ir::Value*, std::string> int32Cache_, maskCache_;
  std::vector<const ir::Value*> usedConstants_;
  std::vector<std::string> outputNames_;
  std::vector<std::pair<std::string, ir::Tensor>> madeConstants_;
  bool usesMsDomain_ = false;
};

/// ONNX TensorProto fields for t, without its data (dims, type, name).
void setTensorHeader(onnx::TensorProto* p, const std::string& name, const ir::Tensor& t);
/// The number of bytes t's dtype and shape promise (what gets written).
size_t payloadBytes(const ir::Tensor& t);

}  // namespace bertc::frontend::exporter
