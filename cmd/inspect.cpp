// `bertc inspect`: what is in a model.
#include <fmt/core.h>

#include <algorithm>
#include <map>

#include "cmd/commands.h"
#include "cmd/json.h"
#include "cmd/model_loading.h"
#include "ir/printer.h"
#include "passes/architecture.h"

namespace bertc::cli {
namespace {

struct InspectOptions {
  std::string model;
  int64_t batch = 1;
  int64_t seq = 128;
  bool json = false;
  bool printIr = false;
};

std::string humanBytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (b >= 1024 && u < 3) b /= 1024, ++u;
  return u == 0 ? fmt::format("{:.0f} {}", b, units[u]) : fmt::format("{:.1f} {}", b, units[u]);
}

std::string opsetDomain(const std::string& d) { return d.empty() ? "ai.onnx" : d; }

/// Op histogram, most frequent first (ties by name, so output is stable).
std::vector<std::pair<std::string, int>> histogram(const ir::Graph& g) {
  std::map<std::string, int> counts;
  for (const auto& n : g.nodes()) ++counts[std::string(ir::opName(n->op))];
  std::vector<std::pair<std::string, int>> h(counts.begin(), counts.end());
  std::stable_sort(h.begin(), h.end(), [](auto& a, auto& b) { return a.second > b.second; });
  return h;
}

void printJson(const ir::Graph& g, const InspectOptions& o, const passes::Architecture& a,
               const passes::ParamStats& p, std::optional<double> flops) {
  const auto& syms = g.symbols();
  JsonWriter j;
  j.beginObject();
  j.field("model", o.model);
  j.field("producer", g.info().producerName).field("producer_version", g.info().producerVersion);
  j.field("ir_version", g.info().irVersion);
  j.beginObject("opsets");
  for (const auto& [d, v] : g.info().opsets) j.field(opsetDomain(d).c_str(), v);
  j.endObject();
  for (const char* which : {"inputs", "outputs"}) {
    j.beginArray(which);
    for (const ir::Value* v : std::string(which) == "inputs" ? g.inputs() : g.outputs()) {
      j.beginObject().field("name", v->name).field("dtype", std::string(ir::dtypeName(v->type.dtype)));
      j.beginArray("shape");
      for (const auto& d : v->type.shape) {
        if (auto c = d.constValue()) j.field(nullptr, *c);
        else j.field(nullptr, d.str(syms));
      }
      j.endArray().endObject();
    }
    j.endArray();
  }
  j.field("parameters", p.parameters).field("constant_bytes", p.bytes);
  j.beginObject("architecture");
  j.field("family", a.family).field("family_evidence", a.familyNote);
  j.field("layers", a.layers).field("hidden", a.hidden).field("heads", a.heads);
  j.field("intermediate", a.intermediate).field("vocab", a.vocab).field("max_positions", a.maxPositions);
  j.field("type_vocab", a.typeVocab).field("embedding_size", a.embeddingSize).field("activation", a.activation);
  j.field("pooler", a.hasPooler).field("shared_layers", a.sharedLayers);
  j.endObject();
  j.beginObject("flops").field("batch", o.batch).field("seq", o.seq);
  if (flops) j.field("matmul_flops", *flops);
  else j.null("matmul_flops");
  j.endObject();
  j.beginObject("ops");
  for (const auto& [op, n] : histogram(g)) j.field(op.c_str(), n);
  j.endObject();
  j.endObject();
  fmt::print("{}\n", j.str());
}

void printText(const ir::Graph& g, const InspectOptions& o, const passes::Architecture& a,
               const passes::ParamStats& p, std::optional<double> flops) {
  const auto& syms = g.symbols();
  const auto& info = g.info();
  std::string opsets;
  for (const auto& [d, v] : info.opsets) opsets += fmt::format("{}{} {}", opsets.empty() ? "" : ", ", opsetDomain(d), v);
  fmt::print("{}\n", o.model);
  fmt::print("  producer      {} {}, IR version {}, opsets: {}\n", info.producerName.empty() ? "(unknown)" : info.producerName,
             info.producerVersion, info.irVersion, opsets);
  const char* label = "  inputs        ";
  for (const ir::Value* v : g.inputs()) {
    fmt::print("{}{}: {}\n", label, v->name, v->type.str(syms));
    label = "                ";
  }
  label = "  outputs       ";
  for (const ir::Value* v : g.outputs()) {
    fmt::print("{}{}: {}\n", label, v->name, v->type.str(syms));
    label = "                ";
  }
  fmt::print("  parameters    {} ({} of constants)\n", p.parameters, humanBytes(static_cast<double>(p.bytes)));
  fmt::print("  architecture  {}: {} layers, hidden {}, {} heads, intermediate {}, vocab {}, max positions {}",
             a.family, a.layers, a.hidden, a.heads, a.intermediate, a.vocab, a.maxPositions);
  if (a.typeVocab) fmt::print(", token types {}", a.typeVocab);
  if (a.embeddingSize != a.hidden) fmt::print(", embedding size {}", a.embeddingSize);
  fmt::print(", activation {}{}{}\n", a.activation, a.hasPooler ? ", pooler" : "", a.sharedLayers ? ", shared layers" : "");
  fmt::print("                ({})\n", a.familyNote);
  if (flops) fmt::print("  FLOPs         {:.3f} GFLOP in MatMul/Gemm at batch {}, seq {}\n", *flops / 1e9, o.batch, o.seq);
  else fmt::print("  FLOPs         unknown at batch {}, seq {} (a dim is not a polynomial in batch and seq)\n", o.batch, o.seq);
  std::string ops;
  for (const auto& [op, n] : histogram(g)) ops += fmt::format("{}{} {}", ops.empty() ? "" : ", ", op, n);
  fmt::print("  ops           {} nodes: {}\n", g.nodes().size(), ops);
  if (o.printIr) fmt::print("\n{}", ir::printGraph(g));
}

}  // namespace

Command addInspect(CLI::App& app) {
  auto o = std::make_shared<InspectOptions>();
  CLI::App* sub = app.add_subcommand("inspect", "Show a model's inputs, outputs, opsets, parameters, architecture and FLOPs");
  sub->add_option("model", o->model, "ONNX model file")->required();
  sub->add_option("--batch", o->batch, "batch size for the FLOP count")->check(exactInteger())->check(CLI::Range(int64_t{1}, INT64_MAX))->capture_default_str();
  sub->add_option("--seq", o->seq, "sequence length for the FLOP count")->check(exactInteger())->check(CLI::Range(int64_t{1}, INT64_MAX))->capture_default_str();
  sub->add_flag("--json", o->json, "print JSON for tools");
  sub->add_flag("--print-ir", o->printIr, "also print the imported IR");
  return [o]() -> int {
    auto g = loadModelOrReport(o->model);
    if (!g) return 1;
    passes::Architecture arch = passes::detectArchitecture(*g);
    passes::ParamStats params = passes::paramStats(*g);
    auto flops = passes::matmulFlops(*g, passes::bindBatchSeq(*g, o->batch, o->seq));
    if (o->json) printJson(*g, *o, arch, params, flops);
    else printText(*g, *o, arch, params, flops);
    return 0;
  };
}

}  // namespace bertc::cli
