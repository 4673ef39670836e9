#pragma once
#include "passes/pass.h"

namespace bertc::passes {

/// Canonical form for the fusions: constants and shape arithmetic folded
/// (a value whose contents shape inference knows as constants becomes a
/// constant), Identity and no-op Cast removed, common subexpressions merged,
/// `x / c` -> `x * (1/c)` for constant c, dead nodes removed. Repeats until
/// nothing changes.
size_t canonicalize(ir::Graph& g, PassContext& ctx);

}  // namespace bertc::passes
