// The bf16 GEMM's packing and its dispatch to a tier (gemm_bf16.h).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "gemm_bf16.h"

namespace bertc::cpu {

PackedB16 packB16(const float* B, int K, int N, int nr, bool transposed) {
  if (nr != 16 && nr != 32)
    throw std::invalid_argument("packB16: panel width " + std::to_string(nr) + " is not 16 or 32");
  PackedB16 p;
  p.K = K;
  p.N = N;
  p.nr = nr;
  // aligned_alloc wants a size that is a multiple of the alignment.
  const std::size_t bytes = (p.count() * sizeof(std::uint16_t) + 63) / 64 * 64;
  p.data.reset(static_cast<std::uint16_t*>(std::aligned_alloc(64, bytes)));
  if (!p.data) throw std::bad_alloc();
  std::fill_n(p.data.get(), bytes / sizeof(std::uint16_t), std::uint16_t{0});
  const PackedB16View v = p.view();
  for (int j = 0; j < v.panels(); ++j) {
    std::uint16_t* panel = p.data.get() + (v.panel(j) - v.data);
    const int n0 = j * nr, width = std::min(nr, N - n0);
    for (int k = 0; k < K; ++k)
      for (int c = 0; c < width; ++c) {
        const float x = transposed ? B[static_cast<std::ptrdiff_t>(n0 + c) * K + k]
                                   : B[static_cast<std::ptrdiff_t>(k) * N + n0 + c];
        panel[static_cast<std::ptrdiff_t>(k / 2) * 2 * nr + 2 * c + (k & 1)] = floatToBf16(x);
      }
  }
  return p;
}

void gemmBf16Rows(const GemmBf16Args& args, int m0, int m1, Tier tier) {
  if (m0 >= m1) return;
  // Running a tier this CPU lacks, or on a weight no packB16 made, is a
  // caller's bug: caught here rather than as SIGILL or garbage.
  if (!tierSupported(tier) || (args.B.nr != 16 && args.B.nr != 32)) {
    std::fprintf(stderr, "bertc internal error: bf16 GEMM on tier %s (%s) with panel width %d\n", tierName(tier),
                 tierSupported(tier) ? "supported" : "which this CPU lacks", args.B.nr);
    std::abort();
  }
  switch (tier) {
    case Tier::Avx2: detail::gemmBf16RowsAvx2(args, m0, m1); return;
    case Tier::Avx512: detail::gemmBf16RowsAvx512(args, m0, m1); return;
    case Tier::Avx512Bf16:
      if (args.scratch) {
        detail::gemmBf16RowsAvx512Bf16(args, m0, m1);
      } else {
        std::vector<float> scratch(kGemmBf16ScratchFloats);
        GemmBf16Args withScratch = args;
        withScratch.scratch = scratch.data();
        detail::gemmBf16RowsAvx512Bf16(withScratch, m0, m1);
      }
      return;
  }
}

void gemmBf16(const GemmBf16Args& args, Tier tier) { gemmBf16Rows(args, 0, args.M, tier); }

}  // namespace bertc::cpu
