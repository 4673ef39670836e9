// `bertc compile`: fuse a model and generate an object file + C header.
#include <fmt/core.h>

#include <cctype>
#include <chrono>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>

#include "cmd/commands.h"
#include "cmd/model_loading.h"
#include "codegen_common/c_names.h"
#include "codegen_cpu/compile.h"
#include "ir/output_file.h"
#include "codegen_cuda/artifact.h"
#include "codegen_cuda/generate.h"
#include "passes/pipeline.h"
#include "passes/plan.h"

namespace bertc::cli {
namespace {

struct CompileFlags {
  std::string model;
  std::string output;
  std::string header;
  std::string target = "cpu";  ///< cpu | cuda-fp16 | cuda-fp32
  std::string emit = "obj";
  std::string arch;  ///< CUDA targets: comma-separated sm_XX
  std::string weightsFile;  ///< --weights-file: the weights beside the object, not in it
  bool verbose = false;
  bool printPlan = false;
  std::string precision = "fp32";  ///< --target=cpu: fp32 | bf16
  cpu::CompileOptions cpu;
  bool nameGiven = false;
  bool cpuGiven = false;
};

/// "sm_80,sm_90" -> {"sm_80", "sm_90"}; an error for anything else.
Result<std::vector<std::string>> parseArchs(const std::string& text) {
  std::vector<std::string> archs;
  size_t at = 0;
  while (at <= text.size()) {
    size_t end = text.find(',', at);
    if (end == std::string::npos) end = text.size();
    const std::string a = text.substr(at, end - at);
    if (cuda::archNumber(a) < 50)
      return Status::error(fmt::format("compile: --arch={}: '{}' is not a GPU architecture like sm_80 or sm_90", text, a));
    if (std::find(archs.begin(), archs.end(), a) == archs.end()) archs.push_back(a);
    at = end + 1;
  }
  return archs;
}

/// --target=cuda-fp16|cuda-fp32: kernels by NVRTC, the plan and weights as
/// data in the object, the API as inline wrappers in the header.
/// The object and the header, created (and checked) before the compile starts.
struct Outputs {
  std::unique_ptr<ir::OutputFile> object, header, weights;  ///< weights: with --weights-file only

  std::vector<ir::OutputFile*> all() const {
    std::vector<ir::OutputFile*> files{object.get(), header.get()};
    if (weights) files.push_back(weights.get());
    return files;
  }
};

int compileCuda(CompileFlags& f, const ir::Graph& g, const std::function<void(const std::string&)>& lap,
                Outputs& outputs) {
  cuda::CudaCompileOptions o;
  o.name = f.cpu.name;
  o.precision = f.target == "cuda-fp16" ? cuda::Precision::Fp16 : cuda::Precision::Fp32;
  o.maxBatch = f.cpu.maxBatch;
  o.maxSeq = f.cpu.maxSeq;
  if (!f.arch.empty()) {
    auto archs = parseArchs(f.arch);
    if (!archs) return reportError(archs.message());
    o.archs = *archs;
  }
  if (f.verbose) o.progress = [](const std::string& line) { fmt::print(stderr, "bertc: {}\n", line); };
  if (f.emit == "cu") {
    // The kernels' CUDA C program, for reading (or nvcc); no NVRTC, no header.
    cuda::GenerateOptions gen;
    gen.maxBatch = o.maxBatch;
    gen.maxSeq = o.maxSeq;
    auto set = cuda::generateKernels(g, o.precision, f.model, gen);
    if (!set) return reportError(set.message());
    auto out = ir::OutputFile::create(f.output);
    if (!out) return reportError(out.message());
    std::ofstream cu((*out)->tempPath(), std::ios::binary);
    cu << set->source;
    cu.close();
    if (!cu) return reportError(fmt::format("{}: cannot write", f.output));
    if (Status st = (*out)->commit(); !st.ok()) return reportError(st.message());
    fmt::print(stderr, "wrote {} ({} kernels)\n", f.output, set->kernels.size());
    return 0;
  }
  auto model = cuda::compileModel(g, f.model, o);
  if (!model) return reportError(model.message());
  lap("nvrtc");
  // All written beside their targets and renamed into place together.
  if (outputs.weights) {
    (*model)->keepWeightsIn(f.weightsFile);
    if (Status w = cuda::writeWeightsFile(**model, outputs.weights->tempPath()); !w.ok())
      return reportError(fmt::format("{}: {}", f.weightsFile, w.message()));
  }
  Status st = cuda::writeObject(**model, outputs.object->tempPath());
  if (!st.ok()) return reportError(st.message());
  std::ofstream h(outputs.header->tempPath(), std::ios::binary);
  h << cuda::headerText(**model, g);
  h.close();
  if (!h) return reportError(fmt::format("{}: cannot write", f.header));
  if (Status c = ir::commitAll(outputs.all()); !c.ok()) return reportError(c.message());
  lap("write");
  const auto& plan = (*model)->plan();
  fmt::print(stderr, "wrote {} and {}{} (symbols {}_*; {} kernels, {} steps, {} images, {:.1f} MB of weights)\n",
             f.output, f.header, f.weightsFile.empty() ? "" : " and " + f.weightsFile, f.cpu.name,
             (*model)->kernels().kernels.size(), plan.steps.size(), (*model)->images().size(),
             static_cast<double>(plan.weights.size()) / 1e6);
  return 0;
}

/// A C identifier from a file stem: "bert-base.o" -> "bert_base".
std::string prefixFromPath(const std::string& path) {
  std::string stem = std::filesystem::path(path).stem().string();
  std::string p;
  for (char c : stem) p += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (p.empty() || std::isdigit(static_cast<unsigned char>(p[0]))) p = "model_" + p;
  if (!codegen::isValidPrefix(p)) p = "model_" + p;
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
  const bool cuda = f.target == "cuda-fp16" || f.target == "cuda-fp32";
  if (!cuda && f.target != "cpu")
    return reportError(fmt::format("compile: --target={}: expected cpu, cuda-fp16 or cuda-fp32", f.target));
  if (cuda && f.emit != "obj" && f.emit != "cu")
    return reportError(fmt::format("compile: --emit={}: expected obj or cu for --target={}", f.emit, f.target));
  if (!cuda && f.emit == "cu") return reportError("compile: --emit=cu is for --target=cuda-fp16 and cuda-fp32");
  if (cuda && f.cpuGiven) return reportError("compile: --cpu applies to --target=cpu");
  if (auto p = cpu::parsePrecision(f.precision)) f.cpu.precision = *p;
  else return reportError(fmt::format("compile: --precision={}: expected fp32 or bf16", f.precision));
  if (cuda && f.cpu.precision != cpu::Precision::Fp32)
    return reportError("compile: --precision applies to --target=cpu (the CUDA targets' precision is in their name)");
  if (!cuda && !f.arch.empty()) return reportError("compile: --arch applies to --target=cuda-fp16 and cuda-fp32");
  if (!f.weightsFile.empty() && f.emit == "cu") return reportError("compile: --emit=cu writes no weights; drop --weights-file");
  if (f.emit == "obj" || f.emit == "cu") f.cpu.emit = cpu::EmitKind::Object;
  else if (f.emit == "asm") f.cpu.emit = cpu::EmitKind::Assembly;
  else if (f.emit == "llvm") f.cpu.emit = cpu::EmitKind::LlvmIr;
  else return reportError(fmt::format("compile: --emit={}: expected obj, asm or llvm", f.emit));
  if (f.output.empty()) {
    const char* ext = f.emit == "obj" ? ".o" : f.emit == "asm" ? ".s" : f.emit == "cu" ? ".cu" : ".ll";
    f.output = std::filesystem::path(f.model).stem().string() + ext;
  }
  if (f.header.empty()) f.header = std::filesystem::path(f.output).replace_extension(".h").string();
  if (!f.nameGiven) f.cpu.name = prefixFromPath(f.output);
  if (f.cpu.maxBatch < 0 || f.cpu.maxSeq < 0) return reportError("compile: --max-batch and --max-seq must be positive");
  if (auto t = cpu::resolveTarget(f.cpu.cpu); !t) return reportError("compile: " + t.message());
  // The outputs are checked before the work: a bad -o fails at once, and a
  // failed compile leaves every path as it was.
  const bool withHeader = f.emit != "cu";
  std::vector<std::pair<std::string, std::string>> named{{"-o", f.output}, {"the model", f.model}};
  if (withHeader) named.insert(named.begin() + 1, {"--header", f.header});
  if (!f.weightsFile.empty()) named.push_back({"--weights-file", f.weightsFile});
  if (Status st = ir::checkDistinctOutputs(named); !st.ok()) return reportError("compile: " + st.message());
  Outputs outputs;
  if (f.emit != "cu") {  // --emit cu writes its one file itself
    auto object = ir::OutputFile::create(f.output);
    if (!object) return reportError(object.message());
    auto header = ir::OutputFile::create(f.header);
    if (!header) return reportError(header.message());
    outputs.object = std::move(*object);
    outputs.header = std::move(*header);
    if (!f.weightsFile.empty()) {
      auto weights = ir::OutputFile::create(f.weightsFile);
      if (!weights) return reportError(weights.message());
      outputs.weights = std::move(*weights);
    }
  }

  auto g = loadModelOrReport(f.model);
  if (!g) return 1;
  lap("import");
  auto run = passes::runPipeline(*g, passes::PipelineOptions{});
  if (!run.ok()) return reportError(f.model + ": " + run.message());
  lap("fuse");
  if (f.printPlan) {
    const cuda::Precision precision = f.target == "cuda-fp16" ? cuda::Precision::Fp16 : cuda::Precision::Fp32;
    const plan::TargetCaps& caps = cuda ? cuda::targetCaps(precision) : cpu::targetCaps(f.cpu.precision);
    auto planned = plan::planGraph(*g, caps, plan::PlanOptions{f.cpu.maxBatch, f.cpu.maxSeq}, f.model);
    if (!planned) return reportError(planned.message());
    fmt::print("{}", plan::printPlan(*g, *planned));
  }
  if (cuda) return compileCuda(f, *g, lap, outputs);
  if (f.verbose) f.cpu.progress = [](const std::string& line) { fmt::print(stderr, "bertc: {}\n", line); };
  f.cpu.weightsFile = f.weightsFile;
  Status st = cpu::compileToFiles(*g, f.model, f.cpu, outputs.object->tempPath(), outputs.header->tempPath(),
                                  outputs.weights ? outputs.weights->tempPath() : "");
  if (!st.ok()) return reportError(st.message());
  if (Status c = ir::commitAll(outputs.all()); !c.ok()) return reportError(c.message());
  if (f.verbose)
    fmt::print(stderr, "bertc: total      {:.2f} s\n", std::chrono::duration<double>(Clock::now() - start).count());
  fmt::print(stderr, "wrote {} and {}{} (symbols {}_*)\n", f.output, f.header,
             f.weightsFile.empty() ? "" : " and " + f.weightsFile, f.cpu.name);
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
      ->capture_default_str()
      ->each([f](const std::string&) { f->cpuGiven = true; });
  sub->add_option("--arch", f->arch,
                  "CUDA targets: GPU architectures to compile cubins for, comma-separated (default "
                  "sm_80,sm_86,sm_89,sm_90; PTX for the last one is added for newer GPUs)");
  sub->add_option("--max-batch", f->cpu.maxBatch, "largest batch a run may use (default 64, or the model's fixed batch)")->check(exactInteger());
  sub->add_option("--max-seq", f->cpu.maxSeq, "longest sequence a run may use (default: the model's position table)")->check(exactInteger());
  sub->add_option("--emit", f->emit,
                  "obj, asm (to check the hot loops) or llvm; for the CUDA targets obj or cu (the kernels' CUDA C)")
      ->capture_default_str();
  sub->add_option("--weights-file", f->weightsFile,
                  "write the weights to this side file instead of into the object; the object records the path "
                  "(create maps it; *_create_with_weights takes another) and the weights' size and checksum. "
                  "For models over 2 GB, and objects that must travel without their weights");
  sub->add_flag("-v,--verbose", f->verbose, "print each stage's time");
  sub->add_option("--precision", f->precision,
                  "--target=cpu: fp32 (exact) or bf16 (GEMM weights in bfloat16, half the size; fp32 accumulation, "
                  "on AVX512-BF16 where the CPU has it)")
      ->capture_default_str();
  sub->add_flag("--print-plan", f->printPlan,
                "print the lowering plan (each value's layout, precision and arena offset; the kernel steps) to stdout");
  return [f]() -> int { return runCompile(*f); };
}

}  // namespace bertc::cli
