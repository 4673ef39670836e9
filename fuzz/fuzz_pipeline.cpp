/// libFuzzer target: ONNX bytes through everything `bertc compile
/// --target=cpu` does before LLVM: import with shape inference, the
/// default pass pipeline (verifying the IR after every pass), the analyses
/// `inspect` and `optimize --report` print, the CPU plan, and the ONNX
/// writer with a re-import of what it wrote.
///
/// Findings (each aborts, so libFuzzer keeps the input):
///  * a crash, sanitizer report, internal assert or escaped exception;
///  * an error that is not one line starting with the file name (the
///    pipeline's own errors carry no file name; the CLI adds it);
///  * IR that verified after import and fails to verify after a pass;
///  * a fused graph that the writer writes and the importer refuses.
#include <cstdint>

#include "codegen_cpu/target.h"
#include "frontend/onnx_export.h"
#include "frontend/onnx_import.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/onnx_mutator.h"
#include "passes/architecture.h"
#include "passes/pipeline.h"
#include "passes/report.h"

namespace {

using bertc::fuzz::bug;
using bertc::fuzz::checkMessage;

const std::string kName = "fuzz.onnx";

/// External data resolves here; the writer writes its model here too.
const bertc::fuzz::ScratchDir& scratch() { return bertc::fuzz::externalDataDir("fuzz-pipeline"); }

/// What `inspect` computes on any model that imports.
void analyse(const bertc::ir::Graph& g) {
  (void)bertc::passes::detectArchitecture(g);
  (void)bertc::passes::paramStats(g);
  (void)bertc::passes::matmulFlops(g, bertc::passes::bindBatchSeq(g, 2, 7));
}

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t maxSize, unsigned seed) {
  return bertc::fuzz::mutateGraphOrBytes(data, size, maxSize, seed);
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  scratch();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  const std::string dir = scratch().path().string();
  auto imported = bertc::frontend::importOnnxBytes(data, size, kName, dir, {});
  if (!imported.ok()) {
    checkMessage("import", imported.message(), kName + ": ");
    return 0;
  }
  bertc::ir::Graph& g = **imported;
  analyse(g);
  auto before = bertc::passes::fusionReport(g);

  bertc::passes::PipelineOptions popts;
  popts.verifyEach = true;
  popts.explain = true;
  auto run = bertc::passes::runPipeline(g, popts);
  if (!run.ok()) {
    checkMessage("pipeline", run.message(), "");
    if (run.message().rfind("the IR is invalid after pass", 0) == 0) bug("a pass broke the IR", run.message());
    return 0;
  }
  for (const auto& note : run->explanations) checkMessage("explain", note, "");
  analyse(g);
  (void)bertc::passes::formatReport(before, bertc::passes::fusionReport(g));

  auto plan = bertc::cpu::planGraph(g, 0, 0, kName);
  if (plan.ok())
    (void)bertc::plan::printPlan(g, *plan);
  else
    checkMessage("plan", plan.message(), kName + ": ");

  const std::string out = (fs::path(dir) / "fused.onnx").string();
  bertc::Status st = bertc::frontend::exportOnnx(g, out);
  if (!st.ok()) {
    checkMessage("export", st.message(), out + ": ");
    return 0;
  }
  auto again = bertc::frontend::importOnnxFile(out);
  if (!again.ok()) bug("the importer refuses what the writer wrote", again.message());
  return 0;
}
