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
#include "gemm.h"

using namespace bertc::cpu;

namespace {

using LinearFn = int (*)(const bertc_k_exec*, const float*, int64_t, int64_t, const float*, int64_t, int64_t,
                         const float*, const float*, int64_t, float*, int64_t, int);

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

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

struct Shape {
  int M, N, K;
};

std::vector<Shape> parseShapes(const std::string& s) {
  std::vector<Shape> shapes;
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t end = s.find(';', pos);
    if (end == std::string::npos) end = s.size();
    Shape sh{};
    if (std::sscanf(s.substr(pos, end - pos).c_str(), "%d,%d,%d", &sh.M, &sh.N, &sh.K) != 3 || sh.M < 1 ||
        sh.N < 1 || sh.K < 1)
      fail("bad shape '" + s.substr(pos, end - pos) + "' (want M,N,K)");
    shapes.push_back(sh);
    pos = end + 1;
  }
  return shapes;
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
  Isa isa = bestIsa();
  const char* epilogueName = "bias";
  double minTime = 0.5, peak = 0;
  int threads = 1;
  std::string shapeText = "128,768,768;128,2304,768;128,3072,768;128,768,3072;"
                          "1024,768,768;1024,2304,768;1024,3072,768;1024,768,3072";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--isa" && v) isa = std::string(v) == "avx2" ? Isa::Avx2 : Isa::Avx512, ++i;
    else if (a == "--epilogue" && v) epilogueName = v, ++i;
    else if (a == "--shapes" && v) shapeText = v, ++i;
    else if (a == "--min-time" && v) minTime = std::atof(v), ++i;
    else if (a == "--peak" && v) peak = std::atof(v), ++i;
    else if (a == "--threads" && v) threads = std::atoi(v), ++i;
    else {
      std::fprintf(stderr,
                   "usage: %s [--isa avx2|avx512] [--epilogue none|bias|gelu|gelu_tanh|residual]\n"
                   "          [--shapes M,N,K;...] [--min-time S] [--peak GFLOPS] [--threads T]\n",
                   argv[0]);
      return 2;
    }
  }
  int epilogue = -1;
  for (const auto& e : kEpilogues)
    if (std::string(e.name) == epilogueName) epilogue = e.epilogue;
  if (epilogue < 0) fail(std::string("unknown epilogue '") + epilogueName + "'");
  if (!isaSupported(isa)) fail(std::string("this CPU lacks ") + isaName(isa));
  if (threads < 1) fail("--threads must be >= 1");

  const LinearFn linear = jitLinear(isa);
  // One thread runs inline (no pool), as a model context created with one thread does.
  bertc_rt_pool* pool = threads > 1 ? bertc_rt_pool_create(threads) : nullptr;
  if (threads > 1 && !pool) fail(bertc_rt_last_error());
  bertc_rt_error err{};
  const bertc_k_exec exec{pool, bertc_rt_pool_num_workers(pool), nullptr, 0, &err};

  for (const Shape& s : parseShapes(shapeText)) {
    std::mt19937 rng(s.M * 31 + s.N * 7 + s.K);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> A(static_cast<std::size_t>(s.M) * s.K), B(static_cast<std::size_t>(s.K) * s.N), bias(s.N);
    std::vector<float> C(static_cast<std::size_t>(s.M) * s.N), R(C.size());
    for (float& x : A) x = dist(rng);
    for (float& x : B) x = dist(rng);
    for (float& x : bias) x = dist(rng);
    for (float& x : R) x = dist(rng);
    const PackedB packed = packB(B.data(), s.K, s.N, isa);
    auto run = [&] {
      if (linear(&exec, A.data(), s.K, s.M, packed.data.get(), s.K, s.N, bias.data(), R.data(), s.N, C.data(), s.N,
                 epilogue) != BERTC_OK)
        fail(std::string("bertc_k_linear: ") + err.message);
    };
    run();  // warm-up: pages, caches
    std::vector<double> times;
    const double start = now();
    while (times.size() < 5 || now() - start < minTime) {
      const double t0 = now();
      run();
      times.push_back(now() - t0);
    }
    std::sort(times.begin(), times.end());
    const double best = times.front(), median = times[times.size() / 2];
    const double gflops = 2.0 * s.M * s.N * s.K / best / 1e9;
    std::printf("gemm isa=%s epilogue=%s threads=%d M=%d N=%d K=%d best_ms=%.4f median_ms=%.4f gflops=%.2f", isaName(isa),
                epilogueName, threads, s.M, s.N, s.K, best * 1e3, median * 1e3, gflops);
    if (peak > 0) std::printf(" peak_pct=%.1f", 100 * gflops / (threads * peak));
    std::printf("\n");
  }
  bertc_rt_pool_destroy(pool);
  return 0;
}
