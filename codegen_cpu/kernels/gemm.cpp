// Run-time dispatch to the kernel the weight was packed for.
#include "gemm.h"

#include <cstdio>
#include <cstdlib>

namespace bertc::cpu {

void gemmRows(const GemmArgs& args, int m0, int m1) {
  if (m0 >= m1) return;
  const Isa isa = args.B->isa;
  // Packing chose the ISA (like -march); running it on a CPU without it is a
  // caller's bug, caught here rather than as SIGILL in the kernel.
  if (!isaSupported(isa)) {
    std::fprintf(stderr, "bertc internal error: GEMM weight packed for %s, which this CPU lacks\n",
                 isaName(isa));
    std::abort();
  }
  if (isa == Isa::Avx512)
    detail::gemmRowsAvx512(args, m0, m1);
  else
    detail::gemmRowsAvx2(args, m0, m1);
}

void gemm(const GemmArgs& args) { gemmRows(args, 0, args.M); }

}  // namespace bertc::cpu
