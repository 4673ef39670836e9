#pragma once
/// Private to frontend/: the state of one import and the helpers that the
/// graph walk, the tensor and attribute converters and the op table share.
///
/// Every failure is thrown as a UserError whose message is one line,
/// `<file>: <what>` or `<file>: node '<name>' (<Op>): <what>`; the public entry
/// points in onnx_import.cpp turn it into a Status.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "frontend/external_data.h"
#include "frontend/onnx_import.h"
#include "ir/graph.h"
#include "ir/status.h"
#include "onnx/onnx_pb.h"

namespace bertc::frontend::detail {

/// `s` in single quotes, made printable and short: names come from the input
/// file, and a newline or a megabyte-long name must not break the one-line
/// message.
std::string quote(std::string_view s);
/// `s` with control characters escaped (no quotes, no truncation).
std::string printable(std::string_view s);
/// The ONNX name of element type `code` (FLOAT, STRING, ...) or the number.
std::string onnxTypeName(int32_t code);

struct ImportContext {
  std::string file;     ///< the file name used in messages
  std::string baseDir;  ///< where external data files are looked up
  std::shared_ptr<const onnx::ModelProto> model;
  ir::Graph* graph = nullptr;
  ImportOptions opts;
  int64_t opset = 0;  ///< version of the default domain (ai.onnx)
  ExternalData external;

  /// ONNX value name -> IR value.
  std::unordered_map<std::string, ir::Value*> values;
  /// Declared types from graph inputs, outputs and value_info, by name.
  std::unordered_map<std::string, const onnx::TypeProto_Tensor*> declared;
  /// Names read by some node or listed as graph outputs.
  std::unordered_set<std::string> consumed;
  /// Softmax nodes from before opset 13 (coerce-to-2-D semantics) and their
  /// axis; checked once ranks are known (see checkLegacySoftmax).
  std::vector<std::pair<ir::Node*, int64_t>> legacySoftmax;
  /// com.microsoft Attention nodes (by name) and their mask_index operands,
  /// whose rank is checked once it is known (see checkAttentionMasks).
  std::vector<std::pair<std::string, const ir::Value*>> attentionMasks;
  /// Every ONNX value name and every name the importer made up (for the
  /// constant operands it creates), so that made-up names stay unique.
  std::unordered_set<std::string> takenNames;

  ImportContext(std::string file_, std::string baseDir_, std::shared_ptr<const onnx::ModelProto> model_)
      : file(std::move(file_)), baseDir(std::move(baseDir_)), model(std::move(model_)), external(baseDir) {}

  /// `<file>: what`
  [[noreturn]] void fail(const std::string& what) const;
  /// `<file>: node 'name' (op): what`
  [[noreturn]] void failNode(const std::string& nodeName, const std::string& op, const std::string& what) const;
  std::string nodePrefix(const std::string& nodeName, const std::string& op) const;

  /// A value name not used by the model, starting with `base`.
  std::string uniqueName(const std::string& base);
};

/// Converts a TensorProto (an initializer, a Constant's value, a TENSOR
/// attribute) into an ir::Tensor. Raw bytes are viewed in place (in the parsed
/// model, or in a memory-mapped external data file), typed fields are copied.
/// `prefix` starts every error message (`<file>: initializer 'w': `).
ir::Tensor importTensor(ImportContext& ctx, const onnx::TensorProto& t, const std::string& prefix);

/// Converts one attribute; `prefix` starts every error message.
ir::Attr importAttr(ImportContext& ctx, const onnx::AttributeProto& a, const std::string& prefix);

/// True if op_type in `domain` has an entry in the op tables (import_ops.cpp
/// for the default domain, import_contrib.cpp for com.microsoft).
bool isSupportedOp(const std::string& domain, const std::string& opType);

/// Imports one node (not a Constant) whose inputs are all defined; registers
/// its results in ctx.values. `name` is the node's name, or a made-up one.
void importNode(ImportContext& ctx, const onnx::NodeProto& node, const std::string& name);

/// Imports a Constant node as an IR constant.
void importConstantNode(ImportContext& ctx, const onnx::NodeProto& node, const std::string& name);

/// Softmax before opset 13 flattens its input to 2-D at `axis`; that equals
/// the IR's Softmax only when axis is the last axis. Needs ranks: run after
/// shape inference (or with declared ranks when it is off).
void checkLegacySoftmax(ImportContext& ctx);

/// ORT's Attention takes mask_index in several forms, told apart by rank;
/// bertc imports only the raw 2-D [batch, seq] one. Needs ranks: run after
/// shape inference, also when it failed (its error would be less clear),
/// or with declared ranks when it is off (import_contrib.cpp).
void checkAttentionMasks(ImportContext& ctx);

/// Builds the IR graph from ctx.model into ctx.graph (import_graph.cpp).
void importGraph(ImportContext& ctx);

}  // namespace bertc::frontend::detail
