// LLVM's x86-64 target, set up once, for every code generator that writes
// an object file (the CPU target's code, the CUDA target's tables).
#pragma once

#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <string>

#include "ir/status.h"

namespace bertc::codegen {

/// The triple every object is written for.
inline constexpr const char* kTriple = "x86_64-pc-linux-gnu";

void initLlvmTarget();

/// A target machine for `cpu` (an LLVM CPU name, e.g. "x86-64-v3") with
/// `features` ("" = the CPU's), position-independent, optimizing.
std::unique_ptr<llvm::TargetMachine> makeTargetMachine(const std::string& cpu, const std::string& features = "");

enum class FileKind { Object, Assembly, LlvmIr };

/// Writes m as an object, assembly or LLVM IR to `path`.
Status writeModule(llvm::Module& m, llvm::TargetMachine& tm, FileKind kind, const std::string& path);

}  // namespace bertc::codegen
