// Run-time dispatch of the row kernels to the ISA the caller chose.
#include "layernorm.h"

#include <cstdio>
#include <cstdlib>

namespace bertc::cpu {

void detail::requireIsa(Isa isa, const char* kernel) {
  // Running a kernel on a CPU without its ISA is a caller's bug, caught here
  // rather than as SIGILL.
  if (!isaSupported(isa)) {
    std::fprintf(stderr, "bertc internal error: %s kernel for %s, which this CPU lacks\n", kernel, isaName(isa));
    std::abort();
  }
}

void layerNormRows(const LayerNormArgs& args, int r0, int r1, Isa isa) {
  if (r0 >= r1) return;
  detail::requireIsa(isa, "LayerNorm");
  if (isa == Isa::Avx512)
    detail::layerNormRowsAvx512(args, r0, r1);
  else
    detail::layerNormRowsAvx2(args, r0, r1);
}

}  // namespace bertc::cpu
