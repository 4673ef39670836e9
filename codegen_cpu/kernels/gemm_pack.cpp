// Packing B into the microkernel's panel layout, and the ISA queries.
#include "gemm.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace bertc::cpu {

const char* isaName(Isa isa) { return isa == Isa::Avx512 ? "avx512" : "avx2"; }

bool isaSupported(Isa isa) {
  switch (isa) {
    case Isa::Avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::Avx512: return __builtin_cpu_supports("avx512f");
  }
  return false;
}

Isa bestIsa() { return isaSupported(Isa::Avx512) ? Isa::Avx512 : Isa::Avx2; }

int panelWidth(Isa isa) { return isa == Isa::Avx512 ? 32 : 16; }

PackedB packB(const float* B, int K, int N, Isa isa, bool transposed) {
  PackedB p;
  p.isa = isa;
  p.K = K;
  p.N = N;
  p.nr = panelWidth(isa);
  const std::size_t count = static_cast<std::size_t>(p.panels()) * K * p.nr;
  // aligned_alloc wants a size that is a multiple of the alignment.
  const std::size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
  p.data.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
  if (!p.data) throw std::bad_alloc();
  std::memset(p.data.get(), 0, bytes);
  for (int j = 0; j < p.panels(); ++j) {
    float* panel = p.data.get() + static_cast<std::ptrdiff_t>(j) * K * p.nr;
    const int n0 = j * p.nr, width = std::min(p.nr, N - n0);
    for (int k = 0; k < K; ++k)
      for (int c = 0; c < width; ++c)
        panel[static_cast<std::ptrdiff_t>(k) * p.nr + c] =
            transposed ? B[static_cast<std::ptrdiff_t>(n0 + c) * K + k]
                       : B[static_cast<std::ptrdiff_t>(k) * N + n0 + c];
  }
  return p;
}

}  // namespace bertc::cpu
