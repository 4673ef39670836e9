#pragma once
/// The IR text parser: reads what ir::printGraph writes (the syntax is in
/// ir/printer.h), so that a pass's golden test can start from a text file
/// instead of C++ that builds the graph.
///
/// The graph is built through the ordinary Graph API, node by node, and each
/// node's shape rule runs as it is read: a written result type that is not
/// what the operands give is an error at that type, as in ir::verify (a dim
/// the rule can only name with a fresh symbol, e.g. a Reshape's -1, matches
/// the written one). A result type written `?` is taken from the rule.
///
/// Constants: values written inline are used exactly; a constant written
/// with its type only (printGraph leaves out more than kMaxPrintedElements)
/// is filled with deterministic pseudo-random data seeded by its name:
/// floats uniform in [-1, 1), integers in [0, 4), bools 0 or 1. The same name
/// gives the same data on every platform, so passes that read such a
/// constant behave the same every run; a test that needs particular values
/// writes them out. Tensor attributes are filled the same way.
///
/// Also accepted, for hand-written inputs: `//` comments to the end of the
/// line (`--print-ir-after` writes one before each graph).
///
/// Errors are one line, `file:line:col: message` (1-based line and column).
/// Node names are not in the text: a node is named after its first result.
#include <memory>
#include <string>
#include <string_view>

#include "ir/graph.h"
#include "ir/status.h"

namespace bertc::ir {

/// Parses `text`; `file` is only for messages.
Result<std::unique_ptr<Graph>> parseGraph(std::string_view text, const std::string& file);
/// Reads and parses the file at `path`.
Result<std::unique_ptr<Graph>> parseGraphFile(const std::string& path);

}  // namespace bertc::ir
