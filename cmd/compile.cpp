// `bertc compile`: fuse a model and generate an object file + C header.
#include <fmt/core.h>

#include <cctype>
#include <chrono>
#include <filesystem>

#include "cmd/commands.h"
#include "cmd/model_loading.h"
#include "codegen_cpu/compile.h"
#include "passes/pipeline.h"

namespace bertc::cli {
namespace {

struct CompileFlags {
  std::string model;
  std::string output;
  std::string header;
  std::string target = "cpu";
  std::string emit = "obj";
  bool verbose = false;
  cpu::CompileOptions cpu;
  bool nameGiven = false;
};

/// A C identifier from a file stem: "bert-base.o" -> "bert_base".
std::string prefixFromPath(const std::string& path) {
  std::string stem = std::filesystem::path(path).stem().string();
  std::string p;
  for (char c : stem) p += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (p.empty() || std::isdigit(static_cast<unsigned char>(p[0]))) p = "model_" + p;
  if (!cpu::isValidPrefix(p)) p = "model_" + p;
  return p;
}

int runCompile(CompileFlags& f) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto lap = [&, last = start](const std::string& stage) mutable {
    if (!f.verbose) return;
    auto now = Clock::now();
    fmt::print(stderr, "bertc: {:<10} {:.2f} s\n", stage, std::chrono::duration<double>(now - last).count());
    last = now;
  };
  if (f.target == "cuda-fp16" || f.target == "cuda-fp32")
    return reportError(fmt::format("compile: --target={} is not available yet in this build (the CUDA code generator "
                                   "is not finished); use --target=cpu",
                                   f.target));
  if (f.target != "cpu") return reportError(fmt::format("compile: --target={}: expected cpu, cuda-fp16 or cuda-fp32", f.target));
  if (f.emit == "obj") f.cpu.emit = cpu::EmitKind::Object;
  else if (f.emit == "asm") f.cpu.emit = cpu::EmitKind::Assembly;
  else if (f.emit == "llvm") f.cpu.emit = cpu::EmitKind::LlvmIr;
  else return reportError(fmt::format("compile: --emit={}: expected obj, asm or llvm", f.emit));
  if (f.output.empty()) {
    const char* ext = f.emit == "obj" ? ".o" : f.emit == "asm" ? ".s" : ".ll";
    f.output = std::filesystem::path(f.model).stem().string() + ext;
  }
  if (f.header.empty()) f.header = std::filesystem::path(f.output).replace_extension(".h").string();
  if (!f.nameGiven) f.cpu.name = prefixFromPath(f.output);
  if (f.cpu.maxBatch < 0 || f.cpu.maxSeq < 0) return reportError("compile: --max-batch and --max-seq must be positive");
  if (auto t = cpu::resolveTarget(f.cpu.cpu); !t) return reportError("compile: " + t.message());

  auto g = loadModelOrReport(f.model);
  if (!g) return 1;
  lap("import");
  auto run = passes::runPipeline(*g, passes::PipelineOptions{});
  if (!run.ok()) return reportError(f.model + ": " + run.message());
  lap("fuse");
  if (f.verbose) f.cpu.progress = [](const std::string& line) { fmt::print(stderr, "bertc: {}\n", line); };
  Status st = cpu::compileToFiles(*g, f.model, f.cpu, f.output, f.header);
  if (!st.ok()) {
    std::error_code ec;
    std::filesystem::remove(f.output, ec);  // never leave half an object behind
    return reportError(st.message());
  }
  if (f.verbose)
    fmt::print(stderr, "bertc: total      {:.2f} s\n", std::chrono::duration<double>(Clock::now() - start).count());
  fmt::print(stderr, "wrote {} and {} (symbols {}_*)\n", f.output, f.header, f.cpu.name);
  return 0;
}

}  // namespace

Command addCompile(CLI::App& app) {
  auto f = std::make_shared<CompileFlags>();
  CLI::App* sub = app.add_subcommand("compile", "Compile a model into an object file and a C header a host program links");
  sub->add_option("model", f->model, "ONNX model file")->required();
  sub->add_option("-o,--output", f->output, "output file (default: the model's name with .o, .s or .ll)");
  sub->add_option("--header", f->header, "where to write the C header (default: the output with .h)");
  sub->add_option("--target", f->target, "cpu, cuda-fp16 or cuda-fp32")->capture_default_str();
  sub->add_option("--name", f->cpu.name, "symbol prefix of the C API (default: the output file's name)")
      ->each([f](const std::string&) { f->nameGiven = true; });
  sub->add_option("--cpu", f->cpu.cpu, "ISA like -march: x86-64-v3 (AVX2+FMA), x86-64-v4 (AVX-512) or native")
      ->capture_default_str();
  sub->add_option("--max-batch", f->cpu.maxBatch, "largest batch a run may use (default 64, or the model's fixed batch)");
  sub->add_option("--max-seq", f->cpu.maxSeq, "longest sequence a run may use (default: the model's position table)");
  sub->add_option("--emit", f->emit, "obj, asm (to check the hot loops) or llvm")->capture_default_str();
  sub->add_flag("-v,--verbose", f->verbose, "print each stage's time");
  return [f]() -> int { return runCompile(*f); };
}

}  // namespace bertc::cli
