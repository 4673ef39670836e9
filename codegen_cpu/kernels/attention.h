// The core of the Attention op (ops.def) for one (sequence, head) block,
// given the QKV projection already computed by a GEMM:
//
//   qkv: `length` rows (tokens of one sequence) of Q | K | V, each H wide;
//        head h of each is columns [h*d, (h+1)*d), d = H / heads.
//   P_i = softmax_j (Q_h[i] . K_h[j] * scale + (mask && mask[j] == 0 ? maskFilterValue : 0)),
//         over keys j < length only;
//   context[i, h*d : (h+1)*d] = sum_j P_i[j] V_h[j].
//
// Keys at or past `length` do not exist for the kernel: a padded sequence is
// handled either by its real length (right padding, padding-free execution)
// or by a mask row (any padding), or both. Softmax is fp32 with the row's max
// subtracted; the exponentials are normalised once, on the output. Each call
// first transposes the head's keys into scratch (d x length floats), so a
// caller should give each call many queries, not one.
//
// No threads inside: attentionRows() computes a query range of one head, and
// calls on disjoint (head, query range) pairs write disjoint context elements.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gemm.h"  // Isa

namespace bertc::cpu {

/// One sequence's attention. Pointers are not owned; context must not overlap qkv.
struct AttentionArgs {
  const float* qkv = nullptr;     ///< the sequence's first token: [length, 3H] with leading dimension ldqkv
  std::ptrdiff_t ldqkv = 0;
  const std::int32_t* mask = nullptr;  ///< optional [length]: 0 = masked key (adds maskFilterValue)
  float* context = nullptr;       ///< [length, H] with leading dimension ldctx
  std::ptrdiff_t ldctx = 0;
  int H = 0;                      ///< hidden size, a multiple of heads
  int heads = 0;
  int length = 0;                 ///< tokens (queries and keys) of the sequence, >= 1
  float scale = 0.0f;             ///< 0 = 1/sqrt(d), as ops.def
  float maskFilterValue = -10000.0f;
};

/// Floats of scratch attentionRows needs: the head's keys transposed,
/// [d][keys padded to 16], and 4 rows of scores (4 being the kernels' query
/// block). No alignment needed.
inline int attentionScratchFloats(const AttentionArgs& args) {
  return (args.H / args.heads + 4) * ((args.length + 15) / 16 * 16);
}

/// Computes head `head`'s context for queries [q0, q1) of the sequence, on
/// `isa`'s kernel. `scratch` holds attentionScratchFloats(args) floats, one
/// per concurrent caller.
void attentionRows(const AttentionArgs& args, int head, int q0, int q1, float* scratch, Isa isa = bestIsa());

namespace detail {
void attentionRowsAvx2(const AttentionArgs& args, int head, int q0, int q1, float* scratch);
void attentionRowsAvx512(const AttentionArgs& args, int head, int q0, int q1, float* scratch);
}  // namespace detail

}  // namespace bertc::cpu
