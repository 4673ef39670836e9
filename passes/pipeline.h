#pragma once
/// The pass pipeline behind `bertc optimize`.
#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/status.h"
#include "passes/pass.h"

namespace bertc::passes {

struct PipelineOptions {
  /// Passes to run, by name; nullopt = the default pipeline (pipeline.cpp).
  std::optional<std::vector<std::string>> passes;
  bool verifyEach = false;                ///< run ir::verify after every pass
  std::vector<std::string> printIrAfter;  ///< pass names, or "all"
  bool explain = false;                   ///< collect why fusions did not fire
  /// Where --print-ir-after text goes (default: stdout).
  std::function<void(const std::string&)> print;
};

struct PassRun {
  std::string name;
  size_t changes = 0;
  double seconds = 0;
};

struct PipelineResult {
  std::vector<PassRun> runs;
  std::vector<std::string> explanations;  ///< PassContext::notes, when explain
};

/// The default pipeline's pass names, in order.
std::vector<std::string> defaultPipeline();

/// Runs the passes on g. Unknown pass names, a pass's UserError and a
/// verifier failure under verifyEach are returned as a Status naming the pass.
Result<PipelineResult> runPipeline(ir::Graph& g, const PipelineOptions& opts);

}  // namespace bertc::passes
