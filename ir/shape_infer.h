#pragma once
/// Shape inference in the IR, with symbolic arithmetic, for every op in ops.def.
#include <optional>
#include <vector>

#include "ir/graph.h"
#include "ir/status.h"

namespace bertc::ir {

/// Gives every node result its dtype and (symbolic) shape, and tracks the
/// contents of small integer tensors symbolically, so that the exporters'
/// `Shape -> Gather -> Unsqueeze -> Concat -> Reshape` chains resolve to known
/// shapes. Errors (mismatched operands, unsupported attribute values) name the
/// node and op.
Status inferShapes(Graph& g);

/// What one node's shape rule gives each result.
struct NodeTypes {
  std::vector<Type> types;
  std::vector<std::optional<std::vector<SymExpr>>> symbolic;
};

/// The shape rule of n's op applied to its operands' types and symbolic
/// contents. Pure but for `syms`, where it may add derived symbols for dims
/// the polynomial form cannot express. Throws UserError naming the node.
NodeTypes inferNode(const Node& n, SymbolTable& syms);

}  // namespace bertc::ir
