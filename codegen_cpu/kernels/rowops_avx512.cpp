// The AVX-512 (runs only where isaSupported(Isa::Avx512)) row kernels of layernorm.h, attention.h and
// embed_layernorm.h, built with this ISA's -m flags (see CMakeLists.txt).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "attention.h"
#include "embed_layernorm.h"
#include "layernorm.h"

namespace bertc::cpu {
namespace {

#include "vec_avx512.inc"
#include "rowops_kernel.inc"

}  // namespace

void detail::layerNormRowsAvx512(const LayerNormArgs& args, int r0, int r1) { layerNormRowsImpl(args, r0, r1); }
void detail::embedLayerNormRowsAvx512(const EmbedLayerNormArgs& args, int t0, int t1) {
  embedLayerNormRowsImpl(args, t0, t1);
}
void detail::attentionRowsAvx512(const AttentionArgs& args, int head, int q0, int q1, float* scratch) {
  attentionRowsImpl(args, head, q0, q1, scratch);
}

}  // namespace bertc::cpu
