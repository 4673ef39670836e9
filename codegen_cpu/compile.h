// The CPU code generator's entry points: compile a fused graph into an
// object file and a C header (`bertc compile --target=cpu`), or into
// in-process code through LLVM's ORC JIT (`bertc bench`, tests).
//
// The generated code is the model library (libmodel/, C++ compiled to LLVM
// bitcode for the chosen ISA when bertc was built) plus what emit_*.cpp adds
// for the model: its weights (GEMM weights prepacked into the microkernel's
// panel layout), a body of kernel calls with the shapes as constants and
// activations at planned arena offsets, and the exported C API. The whole
// module is internalized but for the `<name>_` API and optimized together.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "codegen_cpu/target.h"
#include "ir/graph.h"
#include "ir/status.h"
#include "kernels/gemm.h"

namespace bertc::cpu {

enum class EmitKind { Object, Assembly, LlvmIr };

struct CompileOptions {
  std::string name = "bert";      ///< symbol prefix, a C identifier
  std::string cpu = "x86-64-v3";  ///< x86-64-v3 | x86-64-v4 | native, as -march
  int64_t maxBatch = 0;           ///< 0: the default (plan.h)
  int64_t maxSeq = 0;
  Precision precision = Precision::Fp32;  ///< --precision: how GEMM weights are stored and multiplied
  EmitKind emit = EmitKind::Object;
  /// JIT only: time every step (JitModel::profile). The object writer
  /// ignores it, so no artifact calls back into bertc.
  bool profile = false;
  /// Called with a line per finished stage ("plan 0.01 s"), for -v.
  std::function<void(const std::string&)> progress;
  /// Non-empty: the weights go to a side file rather than into the object,
  /// which records this path (create opens it) and the weights' size and
  /// checksum. Lifts the 2 GB limit of an embedded blob. The object writer
  /// only; the JIT ignores it.
  std::string weightsFile;
};

/// The ISA and LLVM CPU a --cpu value means on this host; an error for an
/// unknown value.
struct Target {
  Isa isa = Isa::Avx2;
  std::string cpu;       ///< LLVM CPU name
  std::string features;  ///< LLVM feature string ("" = the CPU's)
};
Result<Target> resolveTarget(const std::string& cpu);

/// Compiles `g` (after the default pass pipeline) into `outPath` (object,
/// assembly or LLVM IR per opts.emit) and writes the C header to
/// `headerPath` (skipped when empty). With opts.weightsFile, the weights
/// file is written to `weightsPath` (the path to write now, e.g. a
/// temporary one renamed later; opts.weightsFile when empty). `file` names
/// the model in messages.
Status compileToFiles(const ir::Graph& g, const std::string& file, const CompileOptions& opts,
                      const std::string& outPath, const std::string& headerPath, const std::string& weightsPath = "");

/// The C header of a compiled model: the API documented for its users
/// (`weightsFile`: CompileOptions::weightsFile).
std::string headerText(const ir::Graph& g, const Plan& plan, const std::string& name, Precision precision,
                       const std::string& weightsFile = "");

/// A model compiled in process. The function pointers are the C API of
/// bert.h with the model's prefix stripped (run_v takes arrays of inputs and
/// outputs in model order).
class JitModel {
 public:
  static Result<std::unique_ptr<JitModel>> create(const ir::Graph& g, const std::string& file,
                                                  const CompileOptions& opts);
  ~JitModel();

  int (*createContext)(void** ctx, int threads) = nullptr;
  void (*destroyContext)(void* ctx) = nullptr;
  int (*runV)(void* ctx, int64_t batch, int64_t seq, const void* const* in, void* const* out) = nullptr;
  size_t (*scratchBytes)(int64_t batch, int64_t seq) = nullptr;
  const char* (*lastError)(const void* ctx) = nullptr;
  const char* (*cpuTier)() = nullptr;  ///< the GEMM kernel tier the library picked on this CPU

  const Plan& plan() const { return plan_; }

  /// With CompileOptions::profile: seconds spent in each plan step, summed
  /// over every run since creation (one entry per plan().steps).
  std::vector<double> profile() const;

 private:
  JitModel() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Plan plan_;
};

}  // namespace bertc::cpu
