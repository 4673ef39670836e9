// Times the GEMM that generated code runs: the model library's bertc_k_linear
// (codegen_cpu/libmodel/linear.cpp) as clang-19 compiled it to the bitcode
// embedded in bertc (libmodel_bitcode.h), JIT-compiled here with LLVM's ORC
// LLJIT the way codegen_cpu/jit.cpp runs a model. bench/gemm_bench.cpp times
// the GCC-built kernels/gemm.h instead; the two share gemm_kernel.inc but not
// the compiler. Weights are packed with packB() for the bitcode's ISA, the
// layout bertc_k_linear reads; with --weights bf16, with packB16() for its
// panel width, and bertc_k_linear_bf16 runs on --tier (BERTC_CPU_TIER is set
// to it, and the tier the library reports checked). Each shape's result is
// first checked against the GCC-built kernel's (gemm_bf16.h: the same tier;
// gemm.h), so the figures are of a GEMM that computes the right thing.
// Output lines are gemm_bench's:
//
//   gemm isa=avx512 weights=fp32 epilogue=bias threads=1 M=128 N=768 K=768 best_ms=... median_ms=... gflops=...
//        peak_pct=...
//
// gflops is 2 M N K over the best time; peak_pct (only with --peak GFLOPS, the
// single-core FMA peak that bench/fma.py measures) sets it against T times it.
//
//   bertc_libmodel_gemm_bench [--isa avx2|avx512] [--weights fp32|bf16] [--tier avx2|avx512|avx512_bf16]
//                             [--epilogue none|bias|gelu|gelu_tanh|residual]
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
#include <cmath>
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
using LinearBf16Fn = int (*)(const bertc_k_exec*, const float*, int64_t, int64_t, const uint16_t*, int64_t, int64_t,
                             const float*, const float*, int64_t, float*, int64_t, int);
using TierFn = int (*)();

/// The model library's entry points, JIT-compiled.
struct Library {
  LinearFn linear;
  LinearBf16Fn linearBf16;
  TierFn cpuTier;
};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "libmodel_gemm_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T orFail(llvm::Expected<T> v, const char* what) {
  if (!v) fail(std::string(what) + ": " + llvm::toString(v.takeError()));
  return std::move(*v);
}

/// JIT-compiles the embedded bitcode for `isa`. The JIT stays alive for the
/// rest of the program (it owns the code).
Library jitLibrary(Isa isa) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  // The library's CPU detection is inline assembly (cpuid, xgetbv), which
  // the JIT assembles: codegen_common/llvm_target.cpp does the same.
  llvm::InitializeNativeTargetAsmParser();
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
  return {orFail(jit->lookup("bertc_k_linear"), "looking up bertc_k_linear").toPtr<LinearFn>(),
          orFail(jit->lookup("bertc_k_linear_bf16"), "looking up bertc_k_linear_bf16").toPtr<LinearBf16Fn>(),
          orFail(jit->lookup("bertc_k_cpu_tier"), "looking up bertc_k_cpu_tier").toPtr<TierFn>()};
}

/// Dies unless `got` is `want` within 1e-5 of want's largest magnitude:
/// clang's and GCC's code may round the activations differently.
void checkAgainst(const std::vector<float>& got, const std::vector<float>& want, const bertc::bench::GemmShape& s) {
  double err = 0, scale = 1e-30;
  for (std::size_t i = 0; i < got.size(); ++i) {
    err = std::max(err, std::fabs(double(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(double(want[i])));
  }
  if (!(err <= 1e-5 * scale))
    fail("M=" + std::to_string(s.M) + " N=" + std::to_string(s.N) + " K=" + std::to_string(s.K) +
         ": the JIT-compiled result differs from the GCC-built kernel's by " + std::to_string(err / scale));
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

  if (o.bf16) setenv("BERTC_CPU_TIER", tierName(o.tier), 1);
  const Library lib = jitLibrary(o.isa);
  if (o.bf16 && lib.cpuTier() != static_cast<int>(o.tier))
    fail(std::string("the library runs tier ") + std::to_string(lib.cpuTier()) + ", not " + tierName(o.tier));
  // One thread runs inline (no pool), as a model context created with one thread does.
  bertc_rt_pool* pool = o.threads > 1 ? bertc_rt_pool_create(o.threads) : nullptr;
  if (o.threads > 1 && !pool) fail(bertc_rt_last_error());
  bertc_rt_error err{};
  const int workers = bertc_rt_pool_num_workers(pool);
  std::vector<float> scratch(o.bf16 ? static_cast<std::size_t>(workers) * BERTC_K_LINEAR_BF16_SCRATCH_FLOATS : 1);
  const bertc_k_exec exec{pool, workers, scratch.data(), o.bf16 ? BERTC_K_LINEAR_BF16_SCRATCH_FLOATS : 0, &err, nullptr};

  for (const bertc::bench::GemmShape& s : o.shapes) {
    bertc::bench::GemmOperands x(s);
    // The GCC-built kernel's result, to check the JIT's against.
    std::vector<float> want(x.C.size());
    GemmArgs g;
    g.A = x.A.data();
    g.lda = s.K;
    g.bias = x.bias.data();
    g.residual = x.R.data();
    g.ldr = s.N;
    g.C = want.data();
    g.ldc = s.N;
    g.M = s.M;
    g.epilogue = static_cast<Epilogue>(epilogue);  // BERTC_K_EPI_* follow Epilogue
    if (o.bf16) {
      const PackedB16 packed = packB16(x.B.data(), s.K, s.N, panelWidth(o.isa));
      gemmBf16({g.A, g.lda, packed.view(), g.bias, g.residual, g.ldr, g.C, g.ldc, g.M, g.epilogue}, o.tier);
      auto run = [&] {
        if (lib.linearBf16(&exec, x.A.data(), s.K, s.M, packed.data.get(), s.K, s.N, x.bias.data(), x.R.data(), s.N,
                           x.C.data(), s.N, epilogue) != BERTC_OK)
          fail(std::string("bertc_k_linear_bf16: ") + err.message);
      };
      run();
      checkAgainst(x.C, want, s);
      bertc::bench::timeShape(o, s, run);
    } else {
      const PackedB packed = packB(x.B.data(), s.K, s.N, o.isa);
      g.B = &packed;
      gemm(g);
      auto run = [&] {
        if (lib.linear(&exec, x.A.data(), s.K, s.M, packed.data.get(), s.K, s.N, x.bias.data(), x.R.data(), s.N,
                       x.C.data(), s.N, epilogue) != BERTC_OK)
          fail(std::string("bertc_k_linear: ") + err.message);
      };
      run();
      checkAgainst(x.C, want, s);
      bertc::bench::timeShape(o, s, run);
    }
  }
  bertc_rt_pool_destroy(pool);
  return 0;
}
