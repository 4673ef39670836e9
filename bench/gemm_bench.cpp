// Times bertc GEMMs (codegen_cpu/kernels/gemm.h) on BERT's shapes, with the
// bias epilogue unless told otherwise, single-threaded or with --threads T on
// a bertc_rt pool (gemm_parallel.h), and prints one line per shape:
//
//   gemm isa=avx512 weights=fp32 epilogue=bias threads=1 M=128 N=768 K=768 best_ms=... median_ms=... gflops=...
//        peak_pct=...
//
// gflops is 2 M N K over the best time; peak_pct sets it against T times
// this machine's single-core FMA peak for the widest ISA, measured here first
// (the loop of bench/fma_peak.c) unless --peak GFLOPS (per core) gives it.
//
//   bertc_gemm_bench [--isa avx2|avx512] [--weights fp32|bf16] [--tier avx2|avx512|avx512_bf16]
//                    [--epilogue none|bias|gelu|gelu_tanh|residual]
//                    [--shapes M,N,K;M,N,K...] [--min-time S] [--peak GFLOPS] [--threads T]
//
// bf16 weights (gemm_bf16.h: packed for --isa's panel width, run on --tier)
// run on one thread here; bertc_libmodel_gemm_bench splits them as models do.
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
#include "gemm_bench_driver.h"
#include "gemm_parallel.h"

using namespace bertc::cpu;

namespace {

using bertc::bench::now;

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
  bertc::bench::GemmBenchOptions o = bertc::bench::parseOptions("gemm_bench", argc, argv);
  Epilogue epilogue{};
  bool known = false;
  for (const auto& e : kEpilogues)
    if (o.epilogue == e.name) epilogue = e.epilogue, known = true;
  if (!known) bertc::bench::die(o.program, "unknown epilogue '" + o.epilogue + "'");
  if (o.peak <= 0) {
    o.peak = isaSupported(Isa::Avx512) ? peakAvx512() : peakAvx2();
    std::printf("peak isa=%s gflops=%.2f\n", isaName(bestIsa()), o.peak);
  }
  if (o.bf16 && o.threads > 1) bertc::bench::die(o.program, "--weights bf16 runs on one thread");
  // One thread runs gemm() itself, with no pool in the way.
  bertc_rt_pool* pool = o.threads > 1 ? bertc_rt_pool_create(o.threads) : nullptr;
  if (o.threads > 1 && !pool) bertc::bench::die(o.program, bertc_rt_last_error(), 1);
  for (const bertc::bench::GemmShape& s : o.shapes) {
    bertc::bench::GemmOperands x(s);
    if (o.bf16) {
      const PackedB16 packed = packB16(x.B.data(), s.K, s.N, panelWidth(o.isa));
      std::vector<float> scratch(kGemmBf16ScratchFloats);
      GemmBf16Args g;
      g.A = x.A.data();
      g.lda = s.K;
      g.B = packed.view();
      g.bias = x.bias.data();
      g.residual = x.R.data();
      g.ldr = s.N;
      g.C = x.C.data();
      g.ldc = s.N;
      g.M = s.M;
      g.epilogue = epilogue;
      g.scratch = scratch.data();
      bertc::bench::timeShape(o, s, [&] { gemmBf16(g, o.tier); });
      continue;
    }
    const PackedB packed = packB(x.B.data(), s.K, s.N, o.isa);
    GemmArgs g;
    g.A = x.A.data();
    g.lda = s.K;
    g.B = &packed;
    g.bias = x.bias.data();
    g.residual = x.R.data();
    g.ldr = s.N;
    g.C = x.C.data();
    g.ldc = s.N;
    g.M = s.M;
    g.epilogue = epilogue;
    bertc::bench::timeShape(o, s, [&] {
      if (pool) gemmParallel(g, pool);
      else gemm(g);
    });
  }
  bertc_rt_pool_destroy(pool);
  return 0;
}
