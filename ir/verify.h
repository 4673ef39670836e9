#pragma once
/// Structural and type checks on a graph; errors name the node and op.
#include "ir/graph.h"
#include "ir/status.h"

namespace bertc::ir {

/// Checks SSA (every operand defined before use, once), operand and result
/// counts against the op table, that every value is typed, and that each node's
/// result types agree with its shape rule.
Status verify(const Graph& g);

}  // namespace bertc::ir
