#pragma once
/// The reference interpreter: runs any graph on the CPU, naive and obviously
/// right. It is the oracle for every pass and code generator, so it favours
/// clarity over speed, and it computes concrete shapes from the data itself
/// rather than trusting shape inference.
#include <vector>

#include "ir/graph.h"
#include "ir/status.h"
#include "ir/tensor.h"

namespace bertc::ir {

struct InterpOptions {
  /// Accumulate float dot products and reductions in double (default): a
  /// little more accurate than the float kernels it is compared against.
  bool accumulateInDouble = true;
};

/// Runs g on `inputs` (one per graph input, in order); returns one tensor per
/// graph output. Bad inputs (wrong count, dtype, rank; indices out of range)
/// are a Status error naming the node and op, never a crash.
Result<std::vector<Tensor>> interpret(const Graph& g, const std::vector<Tensor>& inputs,
                                      const InterpOptions& opts = {});

/// Runs one node's reference kernel on the given operand tensors (null for an
/// absent optional operand): what constant folding uses, so that folding and
/// interpretation can never disagree.
Result<std::vector<Tensor>> evalNode(const Node& n, const std::vector<const Tensor*>& operands,
                                     const InterpOptions& opts = {});

}  // namespace bertc::ir
