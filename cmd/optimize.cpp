// `bertc optimize`: run the pass pipeline and write fused ONNX that ONNX Runtime runs.
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <map>

#include "cmd/commands.h"
#include "cmd/json.h"
#include "cmd/model_loading.h"
#include "frontend/onnx_export.h"
#include "ir/printer.h"
#include "passes/pipeline.h"
#include "passes/report.h"

namespace bertc::cli {
namespace {

struct OptimizeOptions {
  std::string model;
  std::string output;
  std::string passes;  // comma-separated; "default" = the default pipeline
  bool passesGiven = false;
  std::vector<std::string> printIrAfter;
  bool verifyEach = false;
  bool explain = false;
  bool report = false;
  bool json = false;
  bool externalData = false;
  bool contribSkipLayerNorm = false;
  bool listPasses = false;
};

void writeCounts(JsonWriter& j, const char* key, const passes::OpCounts& c) {
  j.beginObject(key);
  for (const auto& [op, n] : c) j.field(op.c_str(), n);
  j.endObject();
}

void writeReportJson(JsonWriter& j, const passes::FusionReport& before, const passes::FusionReport& after) {
  writeCounts(j, "ops_before", before.total);
  writeCounts(j, "ops_after", after.total);
  writeCounts(j, "embeddings", after.embeddings);
  j.beginArray("layers");
  for (const auto& l : after.layers) writeCounts(j, nullptr, l);
  j.endArray();
  writeCounts(j, "head", after.head);
}

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

int listPasses() {
  auto pipeline = passes::defaultPipeline();
  fmt::print("passes (the default pipeline runs: {}):\n", fmt::join(pipeline, ", "));
  for (const auto& p : passes::registeredPasses()) fmt::print("  {:<22} {}\n", p.name, p.doc);
  return 0;
}

int runOptimize(const OptimizeOptions& o) {
  if (o.listPasses) return listPasses();
  if (o.model.empty()) return reportError("optimize: a model file is required");
  auto g = loadModelOrReport(o.model);
  if (!g) return 1;
  passes::PipelineOptions popts;
  if (o.passesGiven && o.passes != "default") popts.passes = splitList(o.passes);
  popts.verifyEach = o.verifyEach;
  popts.printIrAfter = o.printIrAfter;
  popts.explain = o.explain;
  auto before = passes::fusionReport(*g);
  auto run = passes::runPipeline(*g, popts);
  if (!run.ok()) return reportError(o.model + ": " + run.message());
  auto after = passes::fusionReport(*g);
  if (!o.output.empty()) {
    frontend::ExportOptions eopts;
    eopts.externalData = o.externalData;
    eopts.contribSkipLayerNorm = o.contribSkipLayerNorm;
    Status st = frontend::exportOnnx(*g, o.output, eopts);
    if (!st.ok()) return reportError(st.message());
  }
  if (o.json) {
    JsonWriter j;
    j.beginObject().field("model", o.model);
    if (!o.output.empty()) j.field("output", o.output);
    j.beginArray("passes");
    for (const auto& r : run->runs)
      j.beginObject().field("name", r.name).field("changes", static_cast<int64_t>(r.changes)).field("seconds", r.seconds).endObject();
    j.endArray();
    writeReportJson(j, before, after);
    j.beginArray("explain");
    for (const auto& e : run->explanations) j.field(nullptr, e);
    j.endArray().endObject();
    fmt::print("{}\n", j.str());
    return 0;
  }
  if (o.report) {
    fmt::print("{}", passes::formatReport(before, after));
    for (const auto& r : run->runs) fmt::print("  pass {:<22} {:>5} changes  {:.3f} s\n", r.name, r.changes, r.seconds);
  }
  if (o.explain) {
    if (run->explanations.empty()) fmt::print("explain: every fusion that was tried applied\n");
    for (const auto& e : run->explanations) fmt::print("explain: {}\n", e);
  }
  if (!o.output.empty() && !o.json) fmt::print(stderr, "wrote {}\n", o.output);
  return 0;
}

}  // namespace

Command addOptimize(CLI::App& app) {
  auto o = std::make_shared<OptimizeOptions>();
  CLI::App* sub = app.add_subcommand("optimize", "Fuse a model's transformer layers and write ONNX that ONNX Runtime runs");
  sub->add_option("model", o->model, "ONNX model file");
  sub->add_option("-o,--output", o->output, "where to write the optimized ONNX model");
  sub->add_flag("--list-passes", o->listPasses, "list the passes and the default pipeline, then exit");
  sub->add_option("--passes", o->passes,
                  "comma-separated passes to run instead of the default pipeline (empty: none, just re-export)")
      ->expected(0, 1)
      ->each([o](const std::string&) { o->passesGiven = true; });
  sub->add_option("--print-ir-after", o->printIrAfter, "print the IR after pass NAME (repeatable, or 'all')")->delimiter(',');
  sub->add_flag("--verify-each", o->verifyEach, "verify the IR after every pass");
  sub->add_flag("--explain", o->explain, "say, for each fusion that did not fire, which node broke the pattern and why");
  sub->add_flag("--report", o->report, "print what fused and what remains, per layer");
  sub->add_flag("--json", o->json, "print the report as JSON");
  sub->add_flag("--external-data", o->externalData, "write weights to a side file (<output>.data)");
  sub->add_flag("--ort-contrib-skip-layernorm", o->contribSkipLayerNorm,
                "write SkipLayerNorm as com.microsoft SkipLayerNormalization (fast on ORT's GPU providers; on its CPU "
                "provider the default Add + LayerNormalization is faster)");
  return [o]() -> int { return runOptimize(*o); };
}

}  // namespace bertc::cli
