#include "codegen_common/llvm_target.h"

#include <fmt/core.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetOptions.h>

namespace bertc::codegen {

void initLlvmTarget() {
  static bool done = [] {
    LLVMInitializeX86TargetInfo();
    LLVMInitializeX86Target();
    LLVMInitializeX86TargetMC();
    LLVMInitializeX86AsmPrinter();
    LLVMInitializeX86AsmParser();
    return true;
  }();
  (void)done;
}

std::unique_ptr<llvm::TargetMachine> makeTargetMachine(const std::string& cpu, const std::string& features) {
  initLlvmTarget();
  std::string err;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(kTriple, err);
  BERTC_INTERNAL_ASSERT(target != nullptr, "LLVM has no x86 target: " + err);
  llvm::TargetOptions to;
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      kTriple, cpu, features, to, llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
}

Status writeModule(llvm::Module& m, llvm::TargetMachine& tm, FileKind kind, const std::string& path) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec) return Status::error(fmt::format("{}: cannot write: {}", path, ec.message()));
  if (kind == FileKind::LlvmIr) {
    m.print(os, nullptr);
  } else {
    llvm::legacy::PassManager pm;
    auto type = kind == FileKind::Object ? llvm::CodeGenFileType::ObjectFile : llvm::CodeGenFileType::AssemblyFile;
    BERTC_INTERNAL_ASSERT(!tm.addPassesToEmitFile(pm, os, nullptr, type), "LLVM cannot emit this file type");
    pm.run(m);
  }
  os.close();
  if (os.has_error()) return Status::error(fmt::format("{}: write failed: {}", path, os.error().message()));
  return Status();
}

}  // namespace bertc::codegen
