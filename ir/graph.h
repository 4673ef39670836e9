#pragma once
/// The IR: SSA values, nodes with typed attributes, and the graph that owns them.
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ir/ops.h"
#include "ir/tensor.h"
#include "ir/types.h"

namespace bertc::ir {

class Node;

/// A value is defined once: a graph input, a constant, or a node result.
struct Value {
  int id = 0;
  std::string name;
  Type type;
  Node* producer = nullptr;  ///< null for graph inputs and constants
  int resultIndex = 0;
  std::optional<Tensor> constant;  ///< the bytes of a constant (weights, folded shapes)
  /// Known contents of a small integer tensor (rank <= 1), element by element,
  /// as symbolic expressions: what `Shape -> Gather -> Concat` chains compute.
  std::optional<std::vector<SymExpr>> symbolic;
  bool isInput = false;

  bool isConstant() const { return constant.has_value(); }
};

/// A typed attribute value.
using Attr = std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>,
                          std::vector<std::string>, Tensor>;

class Node {
 public:
  OpKind op;
  std::string name;              ///< the source node's name, for error messages
  std::vector<Value*> operands;  ///< null for an absent optional operand
  std::vector<Value*> results;
  std::map<std::string, Attr> attrs;

  Value* operand(size_t i) const { return i < operands.size() ? operands[i] : nullptr; }
  Value* result(size_t i = 0) const { return results.at(i); }

  bool has(const std::string& attr) const { return attrs.count(attr) != 0; }
  int64_t getInt(const std::string& attr, int64_t dflt) const;
  double getFloat(const std::string& attr, double dflt) const;
  std::string getString(const std::string& attr, const std::string& dflt) const;
  std::vector<int64_t> getInts(const std::string& attr, const std::vector<int64_t>& dflt = {}) const;
  const Tensor* getTensor(const std::string& attr) const;

  /// "node 'name' (Op)" for messages.
  std::string describe() const;
};

/// What the source model says about itself (for inspect and error messages).
struct ModelInfo {
  std::string sourcePath;
  std::string producerName;
  std::string producerVersion;
  std::string graphName;
  int64_t irVersion = 0;
  std::map<std::string, int64_t> opsets;  ///< domain ("" = ai.onnx) -> version
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  Value* addInput(const std::string& name, Type type);
  Value* addConstant(const std::string& name, Tensor tensor);
  /// Appends a node (callers append in topological order) and makes its results.
  Node* addNode(OpKind op, const std::string& name, std::vector<Value*> operands,
                const std::vector<std::string>& resultNames, std::map<std::string, Attr> attrs = {});
  /// Like addNode, but places the node just before `anchor` in the node
  /// order (so that a fused node sits where its last matched node was).
  Node* addNodeBefore(const Node* anchor, OpKind op, const std::string& name, std::vector<Value*> operands,
                      const std::vector<std::string>& resultNames, std::map<std::string, Attr> attrs = {});
  void addOutput(Value* v) { outputs_.push_back(v); }

  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  std::vector<Value*>& outputs() { return outputs_; }
  const std::vector<Value*>& constants() const { return constants_; }
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  std::vector<std::unique_ptr<Node>>& nodes() { return nodes_; }

  SymbolTable& symbols() { return symbols_; }
  const SymbolTable& symbols() const { return symbols_; }
  ModelInfo& info() { return info_; }
  const ModelInfo& info() const { return info_; }

  /// Nodes that use v as an operand, in graph order (linear scan).
  std::vector<Node*> users(const Value* v) const;
  /// Rewires every use of `from` (operands and graph outputs) to `to`.
  void replaceAllUsesWith(Value* from, Value* to);
  /// Removes nodes whose results are unused and not outputs; returns how many.
  size_t removeDeadNodes();
  size_t numValues() const { return values_.size(); }

 private:
  Value* newValue(const std::string& name);

  std::deque<std::unique_ptr<Value>> values_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Value*> inputs_, outputs_, constants_;
  SymbolTable symbols_;
  ModelInfo info_;
};

/// Where v comes from through chains of Identity and Cast (v itself when
/// neither produced it): the graph input behind a cast mask or id tensor.
const Value* throughIdentityAndCast(const Value* v);

}  // namespace bertc::ir
