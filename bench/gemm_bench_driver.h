// The command line, operands, timing loop and output line shared by the two
// GEMM benchmarks: gemm_bench.cpp (kernels/gemm.h as GCC built it) and
// libmodel_gemm_bench.cpp (bertc_k_linear from the embedded bitcode, JIT-
// compiled). Each supplies only how one GEMM runs, so their lines compare.
//
//   PROGRAM [--isa avx2|avx512] [--weights fp32|bf16] [--tier avx2|avx512|avx512_bf16]
//           [--epilogue none|bias|gelu|gelu_tanh|residual]
//           [--shapes M,N,K;M,N,K...] [--min-time S] [--peak GFLOPS] [--threads T]
//
// --weights bf16 times the bf16-weight GEMM (gemm_bf16.h) on --tier (default
// the CPU's best), its weight packed for --isa's panel width. One line per
// shape (tier= only with bf16 weights):
//   gemm isa=avx512 weights=bf16 tier=avx512_bf16 epilogue=bias threads=1 M=128 N=768 K=768 best_ms=...
//        median_ms=... gflops=... peak_pct=...
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "gemm.h"

namespace bertc::bench {

using cpu::Isa;

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] inline void die(const char* program, const std::string& what, int code = 2) {
  std::fprintf(stderr, "%s: %s\n", program, what.c_str());
  std::exit(code);
}

struct GemmShape {
  int M, N, K;
};

struct GemmBenchOptions {
  const char* program = "gemm_bench";
  Isa isa = cpu::bestIsa();
  bool bf16 = false;  ///< --weights bf16
  cpu::Tier tier = cpu::bestTier();
  std::string epilogue = "bias";  ///< none | bias | gelu | gelu_tanh | residual
  double minTime = 0.5;
  double peak = 0;  ///< GFLOP/s of one core; 0: not given
  int threads = 1;
  std::vector<GemmShape> shapes;
};

inline std::vector<GemmShape> parseShapes(const char* program, const std::string& s) {
  std::vector<GemmShape> shapes;
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t end = s.find(';', pos);
    if (end == std::string::npos) end = s.size();
    GemmShape sh{};
    if (std::sscanf(s.substr(pos, end - pos).c_str(), "%d,%d,%d", &sh.M, &sh.N, &sh.K) != 3 || sh.M < 1 ||
        sh.N < 1 || sh.K < 1)
      die(program, "bad shape '" + s.substr(pos, end - pos) + "' (want M,N,K)");
    shapes.push_back(sh);
    pos = end + 1;
  }
  return shapes;
}

inline bool parseTier(const std::string& name, cpu::Tier& tier) {
  for (cpu::Tier t : {cpu::Tier::Avx2, cpu::Tier::Avx512, cpu::Tier::Avx512Bf16})
    if (name == cpu::tierName(t)) return tier = t, true;
  return false;
}

/// The command line; a usage message and exit 2 for anything else, and for
/// an ISA this CPU lacks or fewer than one thread.
inline GemmBenchOptions parseOptions(const char* program, int argc, char** argv) {
  GemmBenchOptions o;
  o.program = program;
  std::string shapes = "128,768,768;128,2304,768;128,3072,768;128,768,3072;"
                       "1024,768,768;1024,2304,768;1024,3072,768;1024,768,3072";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--isa" && v) o.isa = std::string(v) == "avx2" ? Isa::Avx2 : Isa::Avx512, ++i;
    else if (a == "--weights" && v && (std::string(v) == "fp32" || std::string(v) == "bf16"))
      o.bf16 = std::string(v) == "bf16", ++i;
    else if (a == "--tier" && v && parseTier(v, o.tier)) ++i;
    else if (a == "--epilogue" && v) o.epilogue = v, ++i;
    else if (a == "--shapes" && v) shapes = v, ++i;
    else if (a == "--min-time" && v) o.minTime = std::atof(v), ++i;
    else if (a == "--peak" && v) o.peak = std::atof(v), ++i;
    else if (a == "--threads" && v) o.threads = std::atoi(v), ++i;
    else
      die(program, std::string("usage: ") + argv[0] +
                       " [--isa avx2|avx512] [--weights fp32|bf16] [--tier avx2|avx512|avx512_bf16]\n"
                       "          [--epilogue none|bias|gelu|gelu_tanh|residual]\n"
                       "          [--shapes M,N,K;...] [--min-time S] [--peak GFLOPS] [--threads T]");
  }
  if (!cpu::isaSupported(o.isa)) die(program, std::string("this CPU lacks ") + cpu::isaName(o.isa));
  if (o.bf16 && !cpu::tierSupported(o.tier))
    die(program, std::string("this CPU lacks the bf16 tier ") + cpu::tierName(o.tier));
  if (o.threads < 1) die(program, "--threads must be >= 1");
  o.shapes = parseShapes(program, shapes);
  return o;
}

/// Seeded random operands of one shape: A [M, K], B [K, N], bias [N], the
/// residual R [M, N] and the output C [M, N].
struct GemmOperands {
  std::vector<float> A, B, bias, R, C;
  explicit GemmOperands(const GemmShape& s)
      : A(static_cast<std::size_t>(s.M) * s.K), B(static_cast<std::size_t>(s.K) * s.N), bias(s.N),
        R(static_cast<std::size_t>(s.M) * s.N), C(R.size()) {
    std::mt19937 rng(s.M * 31 + s.N * 7 + s.K);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (auto* v : {&A, &B, &bias, &R})
      for (float& x : *v) x = dist(rng);
  }
};

/// Runs `run` once to warm up, then at least 5 times and --min-time seconds;
/// prints the shape's line.
template <class Run>
void timeShape(const GemmBenchOptions& o, const GemmShape& s, Run&& run) {
  run();  // warm-up: pages, caches
  std::vector<double> times;
  const double start = now();
  while (times.size() < 5 || now() - start < o.minTime) {
    const double t0 = now();
    run();
    times.push_back(now() - t0);
  }
  std::sort(times.begin(), times.end());
  const double best = times.front(), median = times[times.size() / 2];
  const double gflops = 2.0 * s.M * s.N * s.K / best / 1e9;
  std::printf("gemm isa=%s weights=%s", cpu::isaName(o.isa), o.bf16 ? "bf16" : "fp32");
  if (o.bf16) std::printf(" tier=%s", cpu::tierName(o.tier));
  std::printf(" epilogue=%s threads=%d M=%d N=%d K=%d best_ms=%.4f median_ms=%.4f gflops=%.2f", o.epilogue.c_str(),
              o.threads, s.M, s.N, s.K, best * 1e3, median * 1e3, gflops);
  if (o.peak > 0) std::printf(" peak_pct=%.1f", 100 * gflops / (o.threads * o.peak));
  std::printf("\n");
}

}  // namespace bertc::bench
