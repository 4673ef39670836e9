#pragma once
/// What every pass sees and reports.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"

namespace bertc::passes {

/// Shared by the passes of one pipeline run.
struct PassContext {
  /// Record why patterns did not fire (`bertc optimize --explain`).
  bool explain = false;
  /// One line per pattern miss: "fuse-attention: node 'x' (Softmax): why".
  std::vector<std::string> notes;

  void note(std::string_view pass, const ir::Node& at, const std::string& why) {
    if (explain) notes.push_back(std::string(pass) + ": " + at.describe() + ": " + why);
  }
};

/// A pass rewrites the graph in place and returns how many changes it made.
/// It may throw UserError for a model it cannot handle; a malformed result is
/// a compiler bug (the verifier catches it under --verify-each).
using PassFn = size_t (*)(ir::Graph&, PassContext&);

struct PassInfo {
  std::string_view name;  ///< as given to --passes and --print-ir-after
  PassFn run;
  std::string_view doc;
};

/// Every registered pass, in passes.def order.
const std::vector<PassInfo>& registeredPasses();
/// The pass called `name`, or null.
const PassInfo* findPass(std::string_view name);

}  // namespace bertc::passes
