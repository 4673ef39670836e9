// bertc_k_linear_bf16: the bf16-weight GEMM of kernels/gemm_bf16_kernel.inc
// on weights the compiler packed with packB16 for this library's panel
// width, on the best tier this CPU runs (bertc_k_cpu_tier), split over the
// context's pool as bertc_k_linear is.
//
// Unlike the rest of the library, whose ISA is fixed by -march, the tier is
// chosen at run time: the weights are the same for every tier, and
// AVX512_BF16 is in neither x86-64 level. Each tier's kernel is built with
// its own flags (linear_bf16_*.cpp) and called only where CPUID says so.
#include <stdlib.h>

#include "internal.h"

namespace bertc::cpu {
namespace {

/// Whether C strings a and b are equal (strcmp is not among the library's
/// imports: check_undefined.sh).
bool sameName(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}

/// The tier: the CPU's best, capped by BERTC_CPU_TIER (`cap`, may be null);
/// -1 when cap names no tier.
int chooseTier(const char* cap) {
  const int best = static_cast<int>(bestTier());
  if (!cap || !*cap) return best;
  for (int t = 0; t < kTierCount; ++t)
    if (sameName(cap, tierName(static_cast<Tier>(t)))) return std::min(best, t);
  return -1;
}

using RowsFn = void (*)(const GemmBf16Args&, int, int);
constexpr RowsFn kTierRows[kTierCount] = {libmodel::linearBf16RowsAvx2, libmodel::linearBf16RowsAvx512,
                                          libmodel::linearBf16RowsAvx512Bf16};

struct LinearBf16Job {
  GemmBf16Args g;  ///< all but g.scratch, which is the worker's
  RowsFn rows;
  const bertc_k_exec* exec;
  libmodel::LinearSplit split;
};

void runLinearBf16(void* ctx, size_t begin, size_t end, int worker) {
  const LinearBf16Job& job = *static_cast<const LinearBf16Job*>(ctx);
  job.split.forEachRun(begin, end, [&](int m0, int m1, int n0, int n1) {
    GemmBf16Args g = job.g;
    g.B = job.g.B.columns(n0, n1 - n0);
    g.C += n0;
    if (g.bias) g.bias += n0;
    if (g.residual) g.residual += n0;
    g.scratch = job.exec->worker_scratch + static_cast<size_t>(worker) * job.exec->worker_scratch_floats;
    job.rows(g, m0, m1);
  });
}

}  // namespace
}  // namespace bertc::cpu

using namespace bertc::cpu;

static_assert(BERTC_K_TIER_AVX2 == static_cast<int>(Tier::Avx2) &&
                  BERTC_K_TIER_AVX512 == static_cast<int>(Tier::Avx512) &&
                  BERTC_K_TIER_AVX512_BF16 == static_cast<int>(Tier::Avx512Bf16) && kTierCount == 3,
              "BERTC_K_TIER_* follow bertc::cpu::Tier");
static_assert(BERTC_K_LINEAR_BF16_SCRATCH_FLOATS == kGemmBf16ScratchFloats);

extern "C" int bertc_k_cpu_tier(void) { return chooseTier(getenv("BERTC_CPU_TIER")); }

extern "C" const char* bertc_k_cpu_tier_name(int tier) {
  return tier >= 0 && tier < kTierCount ? tierName(static_cast<Tier>(tier)) : "unknown";
}

extern "C" int bertc_k_linear_bf16(const bertc_k_exec* exec, const float* A, int64_t lda, int64_t M,
                                   const uint16_t* packedB, int64_t K, int64_t N, const float* bias,
                                   const float* residual, int64_t ldr, float* C, int64_t ldc, int epilogue) {
  if (const int status = libmodel::checkLinearEpilogue(exec, epilogue, bias, residual, "linear_bf16"))
    return status;
  if (M <= 0) return BERTC_OK;  // no tokens (every mask entry zero)
  const char* cap = getenv("BERTC_CPU_TIER");
  const int tier = chooseTier(cap);
  if (tier < 0)
    return bertc_rt_error_set(exec->err, BERTC_ERR_INVALID,
                              "linear_bf16: BERTC_CPU_TIER=%s is not avx2, avx512 or avx512_bf16", cap);
  if (!exec->worker_scratch || exec->worker_scratch_floats < BERTC_K_LINEAR_BF16_SCRATCH_FLOATS)
    return bertc_rt_error_set(exec->err, BERTC_ERR_INVALID,
                              "linear_bf16: needs %d scratch floats per worker, the context has %zu",
                              BERTC_K_LINEAR_BF16_SCRATCH_FLOATS,
                              exec->worker_scratch ? exec->worker_scratch_floats : size_t{0});
  const Tier t = static_cast<Tier>(tier);
  LinearBf16Job job;
  job.g.A = A;
  job.g.lda = lda;
  job.g.B = PackedB16View{packedB, static_cast<int>(K), static_cast<int>(N), libmodel::kPanelWidth};
  job.g.bias = bias;
  job.g.residual = residual;
  job.g.ldr = ldr;
  job.g.C = C;
  job.g.ldc = ldc;
  job.g.M = static_cast<int>(M);
  job.g.epilogue = static_cast<Epilogue>(epilogue);  // as bertc_k_linear
  job.rows = kTierRows[tier];
  job.exec = exec;
  // Groups of columns start on a panel and hold whole tiles.
  job.split = libmodel::LinearSplit(M, microkernelRows(t), N, std::max(libmodel::kPanelWidth, microkernelCols(t)),
                                    exec->num_workers);
  return libmodel::parallelFor(exec, job.split.items(), runLinearBf16, &job, "linear_bf16");
}
