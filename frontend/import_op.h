#pragma once
/// Private to frontend/: one ONNX node on its way to becoming IR nodes, and
/// the rows of the importer's op tables (import_ops.cpp for the default
/// domain, import_contrib.cpp for ONNX Runtime's com.microsoft ops).
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/import_context.h"

namespace bertc::frontend::detail {

/// ONNX Runtime's contrib-op domain.
inline constexpr std::string_view kMicrosoftDomain = "com.microsoft";

/// A 1-D tensor holding `v` (Tensor::fromVector would memcpy from the null
/// data() of an empty vector).
template <class T>
ir::Tensor vectorTensor(ir::DType dtype, const std::vector<T>& v) {
  std::vector<int64_t> shape{static_cast<int64_t>(v.size())};
  return v.empty() ? ir::Tensor::allocate(dtype, shape) : ir::Tensor::fromVector(dtype, shape, v);
}

/// One ONNX node on its way to becoming an IR node: the handler edits the
/// operands, attributes and result names (and may add constants or helper
/// nodes ahead of it), then importNode checks them against the op table and
/// adds the node.
struct OpImport {
  ImportContext& ctx;
  const onnx::NodeProto& proto;
  const std::string& name;
  ir::OpKind kind;
  std::vector<ir::Value*> operands;  ///< null for an absent optional input
  std::map<std::string, ir::Attr> attrs;
  std::vector<std::string> results;
  std::optional<int64_t> legacySoftmaxAxis;

  [[noreturn]] void fail(const std::string& what) const { ctx.failNode(name, proto.op_type(), what); }

  bool hasOperand(size_t i) const { return i < operands.size() && operands[i] != nullptr; }

  int64_t getInt(const std::string& attr, int64_t dflt) const {
    auto it = attrs.find(attr);
    if (it == attrs.end()) return dflt;
    if (auto* v = std::get_if<int64_t>(&it->second)) return *v;
    fail("attribute " + quote(attr) + " must be an int");
  }

  std::vector<int64_t> getInts(const std::string& attr) const {
    auto it = attrs.find(attr);
    if (it == attrs.end()) return {};
    if (auto* v = std::get_if<std::vector<int64_t>>(&it->second)) return *v;
    fail("attribute " + quote(attr) + " must be a list of ints");
  }

  std::optional<double> getFloat(const std::string& attr) const {
    auto it = attrs.find(attr);
    if (it == attrs.end()) return std::nullopt;
    if (auto* v = std::get_if<double>(&it->second)) return *v;
    fail("attribute " + quote(attr) + " must be a float");
  }

  /// The contents of operand i, which must be a constant integer tensor of rank <= 1.
  std::vector<int64_t> constInts(size_t i, const std::string& what) const {
    const ir::Value* v = operands[i];
    if (!v->isConstant())
      fail(what + " must be a constant (an initializer or a Constant node's output), but " + quote(v->name) +
           " is computed at run time");
    const ir::Tensor& t = *v->constant;
    if (!ir::isInteger(t.dtype()) || t.shape().size() > 1)
      fail(what + " " + quote(v->name) + " must be a 1-D integer tensor");
    return t.toInts();
  }

  /// Moves the last operand, index i, into attribute `attr` (the opset-13+
  /// input form of axes and split sizes). Does nothing if it is absent.
  void operandToAttr(size_t i, const std::string& attr) {
    if (operands.size() > i + 1) fail("has " + std::to_string(operands.size()) + " inputs, expected at most " +
                                      std::to_string(i + 1));
    if (!hasOperand(i)) {
      operands.resize(std::min(operands.size(), i));
      return;
    }
    if (attrs.count(attr)) fail("has " + attr + " both as an input and as an attribute");
    attrs[attr] = constInts(i, "input '" + attr + "'");
    operands.resize(i);
  }

  /// Keeps the first n results; the others (training-only outputs) must be unused.
  void dropResults(size_t n, const std::string& what) {
    for (size_t i = n; i < results.size(); ++i)
      if (ctx.consumed.count(results[i]))
        fail(what + " (output " + quote(results[i]) + ") is used, but bertc imports inference graphs only");
    if (results.size() > n) results.resize(n);
  }

  /// A new IR constant operand, named after the node.
  ir::Value* constant(const std::string& what, ir::Tensor t) {
    return ctx.graph->addConstant(ctx.uniqueName(name + "/" + what), std::move(t));
  }
  ir::Value* intsConstant(const std::string& what, const std::vector<int64_t>& v) {
    return constant(what, vectorTensor(ir::DType::I64, v));
  }
};

/// One row of an op table: the ONNX op, the IR op it becomes, and the handler
/// that normalises its form.
struct OpRule {
  std::string_view onnxName;
  ir::OpKind kind;
  void (*import)(OpImport&);
};

/// The com.microsoft ops bertc imports (import_contrib.cpp).
std::span<const OpRule> contribRules();

}  // namespace bertc::frontend::detail
