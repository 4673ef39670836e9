// Times bertc GEMMs (codegen_cpu/kernels/gemm.h) on BERT's shapes, with the
// bias epilogue unless told otherwise, single-threaded or with --threads T on
// a bertc_rt pool (gemm_parallel.h), and prints one line per shape:
//
//   gemm isa=avx512 epilogue=bias threads=1 M=128 N=768 K=768 best_ms=... median_ms=... gflops=... peak_pct=...
//
// gflops is 2 M N K over the best time; peak_pct sets it against T times
// this machine's single-core FMA peak for the widest ISA, measured here first
// (the loop of bench/fma_peak.c) unless --peak GFLOPS (per core) gives it.
//
//   bertc_gemm_bench [--isa avx2|avx512] [--epilogue none|bias|gelu|gelu_tanh|residual]
//                    [--shapes M,N,K;M,N,K...] [--min-time S] [--peak GFLOPS] [--threads T]
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gemm.h"
#include "gemm_parallel.h"

using namespace bertc::cpu;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

volatile float gSeed = 0.999f;

/// 24 independent FMA chains, as bench/fma_peak.c: GFLOP/s of one core.
#define FMA_PEAK_BODY(V, SET1, FMA, LANES)                                  \
  constexpr int kChains = 24;                                               \
  const long iters = 10 * 1000 * 1000;                                      \
  double best = 0;                                                          \
  for (int trial = 0; trial < 3; ++trial) {                                 \
    V a = SET1(gSeed), b = SET1(1e-6f), c[kChains];                         \
    for (int k = 0; k < kChains; ++k) c[k] = SET1(gSeed + k);               \
    const double t0 = now();                                                \
    for (long i = 0; i < iters; ++i) {                                      \
      _Pragma("GCC unroll 24") for (int k = 0; k < kChains; ++k) c[k] = FMA(a, c[k], b); \
    }                                                                       \
    const double dt = now() - t0;                                           \
    for (int k = 1; k < kChains; ++k) c[0] = FMA(a, c[0], c[k]);            \
    float sink[LANES];                                                      \
    std::memcpy(sink, &c[0], sizeof sink);                                  \
    gSeed = gSeed + sink[0] * 0.0f;                                         \
    best = std::max(best, iters * double(kChains) * LANES * 2 / dt / 1e9);  \
  }                                                                         \
  return best;

__attribute__((target("avx2,fma"))) double peakAvx2() { FMA_PEAK_BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, 8) }
__attribute__((target("avx512f"))) double peakAvx512() { FMA_PEAK_BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, 16) }

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
        sh.N < 1 || sh.K < 1) {
      std::fprintf(stderr, "gemm_bench: bad shape '%s' (want M,N,K)\n", s.substr(pos, end - pos).c_str());
      std::exit(2);
    }
    shapes.push_back(sh);
    pos = end + 1;
  }
  return shapes;
}

const struct {
  const char* name;
  Epilogue epilogue;
} kEpilogues[] = {{"none", Epilogue::None},
                  {"bias", Epilogue::Bias},
                  {"gelu", Epilogue::BiasGelu},
                  {"gelu_tanh", Epilogue::BiasGeluTanh},
                  {"residual", Epilogue::BiasResidual}};

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
  Epilogue epilogue{};
  bool known = false;
  for (const auto& e : kEpilogues)
    if (std::string(e.name) == epilogueName) epilogue = e.epilogue, known = true;
  if (!known) {
    std::fprintf(stderr, "gemm_bench: unknown epilogue '%s'\n", epilogueName);
    return 2;
  }
  if (!isaSupported(isa)) {
    std::fprintf(stderr, "gemm_bench: this CPU lacks %s\n", isaName(isa));
    return 2;
  }
  if (peak <= 0) {
    peak = isaSupported(Isa::Avx512) ? peakAvx512() : peakAvx2();
    std::printf("peak isa=%s gflops=%.2f\n", isaName(bestIsa()), peak);
  }
  if (threads < 1) {
    std::fprintf(stderr, "gemm_bench: --threads must be >= 1\n");
    return 2;
  }
  // One thread runs gemm() itself, with no pool in the way.
  bertc_rt_pool* pool = threads > 1 ? bertc_rt_pool_create(threads) : nullptr;
  if (threads > 1 && !pool) {
    std::fprintf(stderr, "gemm_bench: %s\n", bertc_rt_last_error());
    return 1;
  }
  auto run = [&](const GemmArgs& g) {
    if (pool) gemmParallel(g, pool);
    else gemm(g);
  };
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
    GemmArgs g;
    g.A = A.data();
    g.lda = s.K;
    g.B = &packed;
    g.bias = bias.data();
    g.residual = R.data();
    g.ldr = s.N;
    g.C = C.data();
    g.ldc = s.N;
    g.M = s.M;
    g.epilogue = epilogue;
    run(g);  // warm-up: pages, caches
    std::vector<double> times;
    const double start = now();
    while (times.size() < 5 || now() - start < minTime) {
      const double t0 = now();
      run(g);
      times.push_back(now() - t0);
    }
    std::sort(times.begin(), times.end());
    const double best = times.front(), median = times[times.size() / 2];
    const double gflops = 2.0 * s.M * s.N * s.K / best / 1e9;
    std::printf(
        "gemm isa=%s epilogue=%s threads=%d M=%d N=%d K=%d best_ms=%.4f median_ms=%.4f gflops=%.2f peak_pct=%.1f\n",
        isaName(isa), epilogueName, threads, s.M, s.N, s.K, best * 1e3, median * 1e3, gflops,
        100 * gflops / (threads * peak));
  }
  bertc_rt_pool_destroy(pool);
  return 0;
}
