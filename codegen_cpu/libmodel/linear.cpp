// bertc_k_linear: the GEMM of kernels/gemm_kernel.inc on weights the
// compiler packed (packB's layout for this library's ISA), split over the
// context's pool along M and, when M has too few register tiles to go round,
// along N too.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>

#include "internal.h"

namespace bertc::cpu {
namespace {

#include "vec_isa.inc"

constexpr int MR = microkernelRows(libmodel::kIsa);
#include "gemm_kernel.inc"

/// Work items per worker below which N is split too: with parallel_for's
/// near-equal contiguous chunks, 4 items each keeps the imbalance under 25%.
constexpr int kItemsPerWorker = 4;

/// One linear call cut into items: item i is register tile (i % mTiles) of M
/// on panel group (i / mTiles) of B, a group being panelsPerGroup panels.
struct LinearJob {
  GemmArgs g;  ///< A, C, bias, residual, M, epilogue (g.B unused)
  PackedBView B;
  int mTiles, panelsPerGroup;
};

void runLinear(void* ctx, size_t begin, size_t end, int /*worker*/) {
  const LinearJob& job = *static_cast<const LinearJob*>(ctx);
  // A chunk of items is a few runs of consecutive tiles of one group: one
  // gemmRowsImpl call per run keeps the kernel's MC blocking.
  for (size_t i = begin; i < end;) {
    const int group = static_cast<int>(i / job.mTiles);
    const int t0 = static_cast<int>(i % job.mTiles);
    const int t1 = static_cast<int>(std::min<size_t>(job.mTiles, t0 + (end - i)));
    const int n0 = group * job.panelsPerGroup * NR;
    const PackedBView part{job.B.panel(group * job.panelsPerGroup), job.B.K,
                           std::min(job.B.N - n0, job.panelsPerGroup * NR), NR};
    GemmArgs g = job.g;
    g.C += n0;
    if (g.bias) g.bias += n0;
    if (g.residual) g.residual += n0;
    gemmRowsImpl(g, part, t0 * MR, std::min(t1 * MR, g.M));
    i += static_cast<size_t>(t1 - t0);
  }
}

}  // namespace
}  // namespace bertc::cpu

using namespace bertc::cpu;

extern "C" int bertc_k_linear(const bertc_k_exec* exec, const float* A, int64_t lda, int64_t M,
                              const float* packedB, int64_t K, int64_t N, const float* bias, const float* residual,
                              int64_t ldr, float* C, int64_t ldc, int epilogue) {
  if (epilogue < BERTC_K_EPI_NONE || epilogue > BERTC_K_EPI_BIAS_RELU)
    return bertc_rt_error_set(exec->err, BERTC_ERR_INVALID, "linear: unknown epilogue %d", epilogue);
  if ((epilogue != BERTC_K_EPI_NONE && !bias) || (epilogue == BERTC_K_EPI_BIAS_RESIDUAL && !residual))
    return bertc_rt_error_set(exec->err, BERTC_ERR_NULL_ARG, "linear: epilogue %d without its bias or residual",
                              epilogue);
  if (M <= 0) return BERTC_OK;  // no tokens (every mask entry zero)
  LinearJob job;
  job.g.A = A;
  job.g.lda = lda;
  job.g.bias = bias;
  job.g.residual = residual;
  job.g.ldr = ldr;
  job.g.C = C;
  job.g.ldc = ldc;
  job.g.M = static_cast<int>(M);
  // BERTC_K_EPI_* are Epilogue's values in order (bertc_k.h).
  job.g.epilogue = static_cast<Epilogue>(epilogue);
  job.B = PackedBView{packedB, static_cast<int>(K), static_cast<int>(N), NR};
  job.mTiles = static_cast<int>((M + MR - 1) / MR);
  const int panels = job.B.panels();
  const int want = kItemsPerWorker * exec->num_workers;
  const int groups = exec->num_workers > 1 && job.mTiles < want ? std::min(panels, (want + job.mTiles - 1) / job.mTiles)
                                                                 : 1;
  job.panelsPerGroup = (panels + groups - 1) / groups;
  const int usedGroups = (panels + job.panelsPerGroup - 1) / job.panelsPerGroup;
  return libmodel::parallelFor(exec, static_cast<size_t>(job.mTiles) * usedGroups, runLinear, &job, "linear");
}

static_assert(static_cast<int>(Epilogue::BiasResidual) == BERTC_K_EPI_BIAS_RESIDUAL &&
                  static_cast<int>(Epilogue::BiasTanh) == BERTC_K_EPI_BIAS_TANH &&
                  static_cast<int>(Epilogue::BiasRelu) == BERTC_K_EPI_BIAS_RELU,
              "BERTC_K_EPI_* follow bertc::cpu::Epilogue");
