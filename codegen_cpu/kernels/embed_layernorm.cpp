// EmbedLayerNorm: every index of the range is checked against its table
// first, then the ISA's kernel runs over rows it may read unchecked.
#include "embed_layernorm.h"

#include "layernorm.h"  // detail::requireIsa

namespace bertc::cpu {

EmbedError embedLayerNormRows(const EmbedLayerNormArgs& a, int t0, int t1, Isa isa) {
  auto outside = [](std::int64_t i, std::int64_t rows) { return i < 0 || i >= rows; };
  for (int t = t0; t < t1; ++t) {
    if (outside(a.ids[t], a.vocab)) return {EmbedError::InputId, t, a.ids[t]};
    const std::int64_t p = a.posIds ? a.posIds[a.posBroadcast ? t % a.seq : t] : t % a.seq;
    if (outside(p, a.positions)) return {EmbedError::PositionId, t, p};
    if (a.seg && outside(a.segIds[t], a.types)) return {EmbedError::SegmentId, t, a.segIds[t]};
  }
  if (t0 >= t1) return {};
  detail::requireIsa(isa, "EmbedLayerNorm");
  if (isa == Isa::Avx512)
    detail::embedLayerNormRowsAvx512(a, t0, t1);
  else
    detail::embedLayerNormRowsAvx2(a, t0, t1);
  return {};
}

}  // namespace bertc::cpu
