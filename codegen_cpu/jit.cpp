// JitModel: the same module as `bertc compile` writes, run in process
// through LLVM's ORC LLJIT. The runtime stub's functions resolve to the copy
// linked into bertc; libc's to the process.
#include <fmt/core.h>
#include <chrono>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>

#include "bertc_rt.h"
#include "codegen_cpu/compile.h"
#include "codegen_cpu/jit_symbols.h"
#include "codegen_cpu/module.h"

namespace bertc::cpu {

struct JitModel::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
};

namespace {

/// --profile: the generated body calls bertc_profile_mark(i) as step i
/// starts. Runs are on the caller's thread, one at a time per process in
/// `bertc bench`, so one table serves.
struct ProfileTable {
  std::vector<double> seconds;
  std::chrono::steady_clock::time_point last;
  int lastStep = -1;
};
ProfileTable gProfile;

extern "C" void bertcProfileMark(int step) {
  const auto now = std::chrono::steady_clock::now();
  if (step > 0 && gProfile.lastStep == step - 1 && static_cast<size_t>(step) <= gProfile.seconds.size())
    gProfile.seconds[static_cast<size_t>(step - 1)] += std::chrono::duration<double>(now - gProfile.last).count();
  gProfile.last = now;
  gProfile.lastStep = step;
}

}  // namespace

std::vector<double> JitModel::profile() const { return gProfile.seconds; }

llvm::orc::SymbolMap runtimeSymbols(llvm::orc::LLJIT& jit) {
  llvm::orc::SymbolMap map;
  auto add = [&](const char* name, auto* fn) {
    map[jit.mangleAndIntern(name)] = {llvm::orc::ExecutorAddr::fromPtr(fn), llvm::JITSymbolFlags::Exported};
  };
  add("bertc_rt_status_string", &bertc_rt_status_string);
  add("bertc_rt_error_set", &bertc_rt_error_set);
  add("bertc_rt_last_error", &bertc_rt_last_error);
  add("bertc_rt_last_status", &bertc_rt_last_status);
  add("bertc_rt_clear_error", &bertc_rt_clear_error);
  add("bertc_rt_pool_create", &bertc_rt_pool_create);
  add("bertc_rt_pool_from_scheduler", &bertc_rt_pool_from_scheduler);
  add("bertc_rt_pool_destroy", &bertc_rt_pool_destroy);
  add("bertc_rt_pool_num_workers", &bertc_rt_pool_num_workers);
  add("bertc_rt_parallel_for", &bertc_rt_parallel_for);
  add("bertc_rt_arena_init", &bertc_rt_arena_init);
  add("bertc_rt_arena_create", &bertc_rt_arena_create);
  add("bertc_rt_arena_alloc", &bertc_rt_arena_alloc);
  add("bertc_rt_arena_reset", &bertc_rt_arena_reset);
  add("bertc_rt_arena_used", &bertc_rt_arena_used);
  add("bertc_rt_arena_peak", &bertc_rt_arena_peak);
  add("bertc_rt_arena_destroy", &bertc_rt_arena_destroy);
  add("bertc_rt_checksum", &bertc_rt_checksum);
  add("bertc_rt_weights_open", &bertc_rt_weights_open);
  add("bertc_rt_weights_close", &bertc_rt_weights_close);
  add("bertc_rt_weights_write", &bertc_rt_weights_write);
  return map;
}


JitModel::~JitModel() = default;

namespace {

std::string errorText(llvm::Error e) { return llvm::toString(std::move(e)); }

}  // namespace

Result<std::unique_ptr<JitModel>> JitModel::create(const ir::Graph& g, const std::string& file,
                                                   const CompileOptions& opts) {
  auto context = std::make_unique<llvm::LLVMContext>();
  CompileOptions jitOpts = opts;
  jitOpts.weightsFile.clear();  // in process the weights stay in the module
  auto gen = buildModule(*context, g, file, jitOpts);
  if (!gen) return gen.status();
  auto target = gen->target;
  if (!isaSupported(target.isa))
    return Status::error(fmt::format("--cpu={}: this CPU cannot run {} code", opts.cpu, isaName(target.isa)));
  auto tm = makeTargetMachine(target);
  optimizeModule(*gen->module, *tm);

  llvm::orc::JITTargetMachineBuilder jtmb{llvm::Triple(gen->module->getTargetTriple())};
  jtmb.setCPU(target.cpu);
  jtmb.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(jtmb)).create();
  if (!jit) return Status::error("LLVM JIT: " + errorText(jit.takeError()));
  llvm::orc::JITDylib& lib = (*jit)->getMainJITDylib();
  llvm::orc::SymbolMap symbols = runtimeSymbols(**jit);
  symbols[(*jit)->mangleAndIntern("bertc_profile_mark")] = {llvm::orc::ExecutorAddr::fromPtr(&bertcProfileMark),
                                                             llvm::JITSymbolFlags::Exported};
  if (auto e = lib.define(llvm::orc::absoluteSymbols(std::move(symbols)))) return Status::error("LLVM JIT: " + errorText(std::move(e)));
  auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess((*jit)->getDataLayout().getGlobalPrefix());
  if (!process) return Status::error("LLVM JIT: " + errorText(process.takeError()));
  lib.addGenerator(std::move(*process));
  if (auto e = (*jit)->addIRModule(llvm::orc::ThreadSafeModule(std::move(gen->module), std::move(context))))
    return Status::error("LLVM JIT: " + errorText(std::move(e)));

  std::unique_ptr<JitModel> model(new JitModel);
  model->plan_ = std::move(gen->plan);
  gProfile = ProfileTable{std::vector<double>(model->plan_.steps.size(), 0.0), {}, -1};
  auto look = [&](const std::string& suffix, auto& fn) -> Status {
    auto addr = (*jit)->lookup(opts.name + suffix);
    if (!addr) return Status::error("LLVM JIT: " + errorText(addr.takeError()));
    fn = addr->toPtr<std::remove_reference_t<decltype(fn)>>();
    return Status();
  };
  for (Status s : {look("_create", model->createContext), look("_destroy", model->destroyContext),
                   look("_run_v", model->runV), look("_scratch_bytes", model->scratchBytes),
                   look("_last_error", model->lastError), look("_cpu_tier", model->cpuTier)})
    if (!s.ok()) return s;
  model->impl_ = std::make_unique<Impl>();
  model->impl_->jit = std::move(*jit);
  return model;
}

}  // namespace bertc::cpu
