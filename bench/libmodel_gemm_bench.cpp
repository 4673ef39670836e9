// Times the GEMM that generated code runs: the model library's bertc_k_linear
// (codegen_cpu/libmodel/linear.cpp) as clang-19 compiled it to the bitcode
// embedded in bertc (libmodel_bitcode.h), JIT-compiled here with LLVM's ORC
// LLJIT the way codegen_cpu/jit.cpp runs a model. bench/gemm_bench.cpp times
// the GCC-built kernels/gemm.h instead; the two share gemm_kernel.inc but not
// the compiler. Weights are packed with packB() for the bitcode's ISA, the
// layout bertc_k_linear reads. Output lines are gemm_bench's:
//
//   gemm isa=avx512 epilogue=bias threads=1 M=128 N=768 K=768 best_ms=... median_ms=... gflops=... peak_pct=...
//
// gflops is 2 M N K over the best time; peak_pct (only with --peak GFLOPS, the
// single-core FMA peak that bench/fma.py measures) sets it against T times it.
//
//   bertc_libmodel_gemm_bench [--isa avx2|avx512] [--epilogue none|bias|gelu|gelu_tanh|residual]
//                             [--shapes M,N,K;M,N,K...] [--min-time S] [--peak GFLOPS] [--threads T]
//
// The call goes through a function pointer with run-time shapes: the model's
// code calls the same function with constant ones, which LLVM may specialise
// after linking, so this is the unspecialised kernel.
#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "bertc_k.h"
#include "bertc_rt.h"
#include "codegen_cpu/jit_symbols.h"
#include "codegen_cpu/libmodel_bitcode.h"
#include "gemm_bench_driver.h"
#include "gemm.h"

using namespace bertc::cpu;

namespace {

using LinearFn = int (*)(const bertc_k_exec*, const float*, int64_t, int64_t, const float*, int64_t, int64_t,
                         const float*, const float*, int64_t, float*, int64_t, int);

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "libmodel_gemm_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T orFail(llvm::Expected<T> v, const char* what) {
  if (!v) fail(std::string(what) + ": " + llvm::toString(v.takeError()));
  return std::move(*v);
}

/// JIT-compiles the embedded bitcode for `isa` and returns bertc_k_linear.
/// The JIT stays alive for the rest of the program (it owns the code).
LinearFn jitLinear(Isa isa) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  const std::string_view bc = libmodelBitcode(isa);
  auto buffer = llvm::MemoryBuffer::getMemBuffer(llvm::StringRef(bc.data(), bc.size()), "libmodel", false);
  auto context = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> module = orFail(llvm::parseBitcodeFile(buffer->getMemBufferRef(), *context),
                                                "parsing the libmodel bitcode");
  // The functions carry the bitcode's -march in their attributes; the JIT's
  // own CPU is set to match, as jit.cpp sets the model's.
  llvm::orc::JITTargetMachineBuilder jtmb{llvm::Triple(module->getTargetTriple())};
  jtmb.setCPU(isa == Isa::Avx512 ? "x86-64-v4" : "x86-64-v3");
  jtmb.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  static std::unique_ptr<llvm::orc::LLJIT> jit;
  jit = orFail(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(jtmb)).create(), "LLJIT");
  llvm::orc::JITDylib& lib = jit->getMainJITDylib();
  if (auto e = lib.define(llvm::orc::absoluteSymbols(runtimeSymbols(*jit))))
    fail("defining bertc_rt symbols: " + llvm::toString(std::move(e)));
  lib.addGenerator(orFail(llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
                              jit->getDataLayout().getGlobalPrefix()),
                          "process symbols"));
  if (auto e = jit->addIRModule(llvm::orc::ThreadSafeModule(std::move(module), std::move(context))))
    fail("adding the module: " + llvm::toString(std::move(e)));
  return orFail(jit->lookup("bertc_k_linear"), "looking up bertc_k_linear").toPtr<LinearFn>();
}

const struct {
  const char* name;
  int epilogue;
} kEpilogues[] = {{"none", BERTC_K_EPI_NONE},
                  {"bias", BERTC_K_EPI_BIAS},
                  {"gelu", BERTC_K_EPI_BIAS_GELU},
                  {"gelu_tanh", BERTC_K_EPI_BIAS_GELU_TANH},
                  {"residual", BERTC_K_EPI_BIAS_RESIDUAL}};

}  // namespace

int main(int argc, char** argv) {
  const bertc::bench::GemmBenchOptions o = bertc::bench::parseOptions("libmodel_gemm_bench", argc, argv);
  int epilogue = -1;
  for (const auto& e : kEpilogues)
    if (o.epilogue == e.name) epilogue = e.epilogue;
  if (epilogue < 0) fail("unknown epilogue '" + o.epilogue + "'");

  const LinearFn linear = jitLinear(o.isa);
  // One thread runs inline (no pool), as a model context created with one thread does.
  bertc_rt_pool* pool = o.threads > 1 ? bertc_rt_pool_create(o.threads) : nullptr;
  if (o.threads > 1 && !pool) fail(bertc_rt_last_error());
  bertc_rt_error err{};
  const bertc_k_exec exec{pool, bertc_rt_pool_num_workers(pool), nullptr, 0, &err, nullptr};

  for (const bertc::bench::GemmShape& s : o.shapes) {
    bertc::bench::GemmOperands x(s);
    const PackedB packed = packB(x.B.data(), s.K, s.N, o.isa);
    bertc::bench::timeShape(o, s, [&] {
      if (linear(&exec, x.A.data(), s.K, s.M, packed.data.get(), s.K, s.N, x.bias.data(), x.R.data(), s.N,
                 x.C.data(), s.N, epilogue) != BERTC_OK)
        fail(std::string("bertc_k_linear: ") + err.message);
    });
  }
  bertc_rt_pool_destroy(pool);
  return 0;
}
