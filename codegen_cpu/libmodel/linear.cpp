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

struct LinearJob {
  GemmArgs g;  ///< A, C, bias, residual, M, epilogue (g.B unused)
  PackedBView B;
  libmodel::LinearSplit split;
};

void runLinear(void* ctx, size_t begin, size_t end, int /*worker*/) {
  const LinearJob& job = *static_cast<const LinearJob*>(ctx);
  job.split.forEachRun(begin, end, [&](int m0, int m1, int n0, int n1) {
    const PackedBView part{job.B.panel(n0 / NR), job.B.K, n1 - n0, NR};
    GemmArgs g = job.g;
    g.C += n0;
    if (g.bias) g.bias += n0;
    if (g.residual) g.residual += n0;
    gemmRowsImpl(g, part, m0, m1);
  });
}

}  // namespace
}  // namespace bertc::cpu

using namespace bertc::cpu;

extern "C" int bertc_k_linear(const bertc_k_exec* exec, const float* A, int64_t lda, int64_t M,
                              const float* packedB, int64_t K, int64_t N, const float* bias, const float* residual,
                              int64_t ldr, float* C, int64_t ldc, int epilogue) {
  if (const int status = libmodel::checkLinearEpilogue(exec, epilogue, bias, residual, "linear"))
    return status;
  if (M <= 0) return BERTC_OK;  // no tokens (every mask entry zero)
  GemmArgs g;
  g.A = A;
  g.lda = lda;
  g.bias = bias;
  g.residual = residual;
  g.ldr = ldr;
  g.C = C;
  g.ldc = ldc;
  g.M = static_cast<int>(M);
  // BERTC_K_EPI_* are Epilogue's values in order (bertc_k.h).
  g.epilogue = static_cast<Epilogue>(epilogue);
  LinearJob job{g, PackedBView{packedB, static_cast<int>(K), static_cast<int>(N), NR},
                libmodel::LinearSplit(M, MR, N, NR, exec->num_workers)};
  return libmodel::parallelFor(exec, job.split.items(), runLinear, &job, "linear");
}

static_assert(static_cast<int>(Epilogue::BiasResidual) == BERTC_K_EPI_BIAS_RESIDUAL &&
                  static_cast<int>(Epilogue::BiasTanh) == BERTC_K_EPI_BIAS_TANH &&
                  static_cast<int>(Epilogue::BiasRelu) == BERTC_K_EPI_BIAS_RELU,
              "BERTC_K_EPI_* follow bertc::cpu::Epilogue");
