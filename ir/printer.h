#pragma once
/// A stable, readable text form of a graph (for golden tests and --print-ir).
#include <string>

#include "ir/graph.h"

namespace bertc::ir {

/// Prints every input, constant (type only, never the bytes), node and output.
/// Values print as %name; the order is the graph's, so output is stable.
std::string printGraph(const Graph& g);
/// One node on one line, as printGraph writes it.
std::string printNode(const Graph& g, const Node& n);

}  // namespace bertc::ir
