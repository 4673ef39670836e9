// Run-time dispatch of the attention kernel to the ISA the caller chose.
#include "attention.h"

#include "layernorm.h"  // detail::requireIsa

namespace bertc::cpu {

void attentionRows(const AttentionArgs& args, int head, int q0, int q1, float* scratch, Isa isa) {
  if (q0 >= q1) return;
  detail::requireIsa(isa, "Attention");
  if (isa == Isa::Avx512)
    detail::attentionRowsAvx512(args, head, q0, q1, scratch);
  else
    detail::attentionRowsAvx2(args, head, q0, q1, scratch);
}

}  // namespace bertc::cpu
