// Internal to codegen_cpu: building the generated module, shared by the
// object writer (emit_model.cpp) and the JIT (jit.cpp).
#pragma once

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <string>

#include "codegen_cpu/compile.h"

namespace bertc::cpu {

struct GeneratedModule {
  std::unique_ptr<llvm::Module> module;
  Plan plan;
  Target target;
  std::string header;      ///< bert.h
  size_t weightBytes = 0;  ///< the weight blob, prepacked
  /// With CompileOptions::weightsFile: the blob, which goes to that file
  /// rather than into the module.
  std::vector<char> sideWeights;
};

/// Plans g and emits the whole module (library + model), not yet optimized.
Result<GeneratedModule> buildModule(llvm::LLVMContext& c, const ir::Graph& g, const std::string& file,
                                    const CompileOptions& opts);
std::unique_ptr<llvm::TargetMachine> makeTargetMachine(const Target& t);
/// The O2 pipeline, after which kernels are inlined into the generated
/// functions where LLVM finds it pays and unused library code is gone.
void optimizeModule(llvm::Module& m, llvm::TargetMachine& tm);

}  // namespace bertc::cpu
