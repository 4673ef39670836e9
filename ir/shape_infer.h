#pragma once
/// Shape inference in the IR, with symbolic arithmetic, for every op in ops.def.
#include "ir/graph.h"
#include "ir/status.h"

namespace bertc::ir {

/// Gives every node result its dtype and (symbolic) shape, and tracks the
/// contents of small integer tensors symbolically, so that the exporters'
/// `Shape -> Gather -> Unsqueeze -> Concat -> Reshape` chains resolve to known
/// shapes. Errors (mismatched operands, unsupported attribute values) name the
/// node and op.
Status inferShapes(Graph& g);

/// The type node `n` would give its results, from its operands' types; used
/// by inferShapes and by the verifier. Throws UserError.
std::vector<Type> inferNode(Graph& g, Node& n);

}  // namespace bertc::ir
