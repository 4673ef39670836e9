// `bertc run`: the reference interpreter on seeded random inputs or on .npy files.
#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>

#include <unistd.h>

#include "cmd/commands.h"
#include "cmd/json.h"
#include "cmd/model_loading.h"
#include "ir/checked.h"
#include "ir/interp.h"
#include "ir/npy.h"
#include "passes/architecture.h"

namespace bertc::cli {
namespace {

struct RunOptions {
  std::string model;
  int64_t batch = 1;
  int64_t seq = 0;  ///< 0: 128, or the model's position table if shorter
  uint64_t seed = 0;
  std::vector<std::string> inputFiles;  // name=path.npy
  std::string inputsDir;
  std::string saveOutputs;
  bool json = false;
};

/// Output and input names as file names: anything outside [A-Za-z0-9_.-] becomes '_'.
std::string fileNameFor(const std::string& name) {
  std::string s = name;
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) c = '_';
  return s;
}

/// The rows of the constant table this input indexes (through casts), or 0.
int64_t gatherTableRows(const ir::Graph& g, const ir::Value* input) {
  std::vector<const ir::Value*> frontier{input};
  while (!frontier.empty()) {
    const ir::Value* v = frontier.back();
    frontier.pop_back();
    for (const ir::Node* u : g.users(v)) {
      if (u->op == ir::OpKind::Gather && u->operand(1) == v && u->operand(0)->isConstant())
        return u->operand(0)->type.shape[0].constValue().value_or(0);
      if (u->op == ir::OpKind::Cast || u->op == ir::OpKind::Reshape || u->op == ir::OpKind::Unsqueeze)
        frontier.push_back(u->result());
    }
  }
  return 0;
}

/// Seeded inputs: token ids in [0, rows) for inputs that index an embedding
/// table; a padding mask (row 0 full, other rows random lengths, right-padded)
/// for other integer inputs; uniform [-1, 1) for float inputs.
Result<ir::Tensor> synthesize(const ir::Graph& g, const ir::Value* in, const std::vector<int64_t>& env,
                              std::mt19937_64& rng) {
  std::vector<int64_t> shape;
  for (const auto& d : in->type.shape) {
    auto v = d.eval(env);
    if (!v) return Status::error("input '" + in->name + "': cannot choose a size for dim " + d.str(g.symbols()) +
                                 "; pass it with --input");
    shape.push_back(*v);
  }
  if (!ir::checkedTensorBytes(in->type.dtype, shape))
    return Status::error(fmt::format("input '{}': a {} tensor of shape {} is too large (over {} GiB or overflowing)",
                                     in->name, ir::dtypeName(in->type.dtype), ir::shapeString(shape),
                                     ir::kMaxTensorBytes >> 30));
  ir::Tensor t = ir::Tensor::allocate(in->type.dtype, shape);
  auto n = static_cast<size_t>(t.numel());
  if (ir::isFloat(in->type.dtype)) {
    std::uniform_real_distribution<double> u(-1, 1);
    for (size_t i = 0; i < n; ++i) t.setDouble(i, u(rng));
  } else if (int64_t rows = gatherTableRows(g, in)) {
    std::uniform_int_distribution<int64_t> u(0, rows - 1);
    for (size_t i = 0; i < n; ++i) t.setInt(i, u(rng));
  } else if (shape.size() == 2) {
    std::uniform_int_distribution<int64_t> len(1, std::max<int64_t>(shape[1], 1));
    for (int64_t b = 0; b < shape[0]; ++b) {
      int64_t l = b == 0 ? shape[1] : len(rng);
      for (int64_t s = 0; s < shape[1]; ++s) t.setInt(static_cast<size_t>(b * shape[1] + s), s < l ? 1 : 0);
    }
  } else {
    for (size_t i = 0; i < n; ++i) t.setInt(i, 1);
  }
  return t;
}

struct Summary {
  double sum = 0, meanAbs = 0, min = INFINITY, max = -INFINITY;
};

Summary summarize(const ir::Tensor& t) {
  Summary s;
  auto n = static_cast<size_t>(t.numel());
  for (size_t i = 0; i < n; ++i) {
    double v = t.getDouble(i);
    s.sum += v;
    s.meanAbs += std::fabs(v);
    s.min = std::min(s.min, v);
    s.max = std::max(s.max, v);
  }
  if (n) s.meanAbs /= static_cast<double>(n);
  return s;
}

std::string shapeStr(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

int runModel(const RunOptions& o) {
  auto g = loadModelOrReport(o.model);
  if (!g) return 1;
  std::map<std::string, std::string> given;
  for (const std::string& spec : o.inputFiles) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) return reportError("--input expects NAME=FILE.npy, got '" + spec + "'");
    given[spec.substr(0, eq)] = spec.substr(eq + 1);
  }
  for (const auto& [name, path] : given) {
    bool known = std::any_of(g->inputs().begin(), g->inputs().end(), [&](auto* v) { return v->name == name; });
    if (!known) return reportError(o.model + ": the model has no input named '" + name + "'");
  }
  // The sequence length: --seq, or 128 capped at the model's position table.
  // Past the table the model cannot run: say so, not a broadcast error later.
  const int64_t positions = passes::detectArchitecture(*g).maxPositions;
  int64_t seq = o.seq;
  if (seq == 0) seq = positions > 0 ? std::min<int64_t>(128, positions) : 128;
  if (positions > 0 && seq > positions)
    return reportError(fmt::format("{}: --seq {} is longer than the model's {} positions", o.model, seq, positions));
  std::vector<int64_t> env = passes::bindBatchSeq(*g, o.batch, seq);
  std::mt19937_64 rng(o.seed);
  std::vector<ir::Tensor> inputs;
  std::vector<std::string> origin;
  for (const ir::Value* in : g->inputs()) {
    std::string path;
    if (given.count(in->name)) path = given[in->name];
    else if (!o.inputsDir.empty()) {
      std::string p = o.inputsDir + "/" + fileNameFor(in->name) + ".npy";
      if (std::filesystem::exists(p)) path = p;
    }
    if (!path.empty()) {
      auto t = ir::readNpy(path);
      if (!t.ok()) return reportError(t.message());
      inputs.push_back(std::move(t.value()));
      origin.push_back(path);
    } else {
      auto t = synthesize(*g, in, env, rng);
      if (!t.ok()) return reportError(o.model + ": " + t.message());
      inputs.push_back(std::move(t.value()));
      origin.push_back(fmt::format("random, seed {}", o.seed));
    }
  }
  auto start = std::chrono::steady_clock::now();
  // Progress goes to a terminal only, so scripts see nothing but results and errors.
  if (!o.json && isatty(STDERR_FILENO)) fmt::print(stderr, "running the reference interpreter over {} nodes...\n", g->nodes().size());
  auto outs = ir::interpret(*g, inputs);
  if (!outs.ok()) return reportError(o.model + ": " + outs.message());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!o.saveOutputs.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.saveOutputs, ec);
    if (ec) return reportError(o.saveOutputs + ": cannot create directory: " + ec.message());
    for (size_t i = 0; i < outs->size(); ++i) {
      Status st = ir::writeNpy(o.saveOutputs + "/" + fileNameFor(g->outputs()[i]->name) + ".npy", (*outs)[i]);
      if (!st.ok()) return reportError(st.message());
    }
  }
  if (o.json) {
    JsonWriter j;
    j.beginObject().field("model", o.model).field("seconds", secs).beginArray("inputs");
    for (size_t i = 0; i < inputs.size(); ++i)
      j.beginObject().field("name", g->inputs()[i]->name).field("shape", shapeStr(inputs[i].shape())).field("from", origin[i]).endObject();
    j.endArray().beginArray("outputs");
    for (size_t i = 0; i < outs->size(); ++i) {
      Summary s = summarize((*outs)[i]);
      j.beginObject().field("name", g->outputs()[i]->name).field("dtype", std::string(ir::dtypeName((*outs)[i].dtype())));
      j.field("shape", shapeStr((*outs)[i].shape())).field("sum", s.sum).field("mean_abs", s.meanAbs);
      j.field("min", s.min).field("max", s.max).endObject();
    }
    j.endArray().endObject();
    fmt::print("{}\n", j.str());
    return 0;
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    fmt::print("input  {}: {} {} ({})\n", g->inputs()[i]->name, ir::dtypeName(inputs[i].dtype()), shapeStr(inputs[i].shape()), origin[i]);
  for (size_t i = 0; i < outs->size(); ++i) {
    Summary s = summarize((*outs)[i]);
    fmt::print("output {}: {} {}  sum {:.6g}  mean|x| {:.6g}  min {:.6g}  max {:.6g}\n", g->outputs()[i]->name,
               ir::dtypeName((*outs)[i].dtype()), shapeStr((*outs)[i].shape()), s.sum, s.meanAbs, s.min, s.max);
  }
  fmt::print("reference interpreter: {:.3f} s\n", secs);
  if (!o.saveOutputs.empty()) fmt::print("outputs written to {}/\n", o.saveOutputs);
  return 0;
}

}  // namespace

Command addRun(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* sub = app.add_subcommand("run", "Run a model on the reference interpreter (seeded random inputs or .npy files)");
  sub->add_option("model", o->model, "ONNX model file")->required();
  sub->add_option("--batch", o->batch, "batch size of random inputs")->check(exactInteger())->check(CLI::Range(int64_t{1}, INT64_MAX))->capture_default_str();
  sub->add_option("--seq", o->seq, "sequence length of random inputs (default: 128, or the model's positions if fewer)")->check(exactInteger())
      ->check(CLI::Range(int64_t{1}, INT64_MAX));
  sub->add_option("--seed", o->seed, "seed for random inputs")->capture_default_str();
  sub->add_option("--input", o->inputFiles, "NAME=FILE.npy for one input (repeatable)");
  sub->add_option("--inputs-dir", o->inputsDir, "read each input NAME from DIR/NAME.npy where present");
  sub->add_option("--save-outputs", o->saveOutputs, "write each output NAME to DIR/NAME.npy");
  sub->add_flag("--json", o->json, "print JSON for tools");
  return [o]() -> int { return runModel(*o); };
}

}  // namespace bertc::cli
