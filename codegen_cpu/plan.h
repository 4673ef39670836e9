// The CPU target's plan of a fused graph: which kernel runs each node (with
// GEMM epilogues folded in), where each activation lives in the scratch
// arena, and what the generated code checks and exports. No LLVM here: the
// emitters (emit_*.cpp) turn a Plan into code, and tests can read it.
//
// Layouts. The generated code runs padding-free: activations of shape
// [batch, seq, N] hold only the real tokens (attention mask nonzero), packed
// in (b, s) order as T <= batch*seq rows of N floats. So every value is one of
//   Padded  a [batch, seq] tensor as the caller gives it (ids, masks, and the
//           integer arithmetic exporters do on them);
//   Token   [batch, seq, N] floats, stored packed: T rows of N;
//   Batch   [batch, N] floats (pooler, mean pooling).
// All sizes are bounded by a multiple of batch*seq, so the memory plan is in
// bytes per batch*seq "slot": buffer offset = offsetPerSlot * batch * seq.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/status.h"

namespace bertc::cpu {

enum class Layout { Padded, Token, Batch };

/// One kernel call of the body, in execution order.
struct Step {
  enum class Kind {
    Elementwise,    ///< padded-layout integer/bool op: Add, Sub, Mul, Div, Equal, Less, Greater, And, Or, Not, Cast, Where
    CumSum,         ///< padded layout, along seq
    EmbedLayerNorm, ///< gathers ids of the packed tokens, then the embedding kernel
    Linear,         ///< MatMul / Linear over a constant weight, epilogue folded in
    LayerNorm,      ///< LayerNorm, or SkipLayerNorm (after a Linear it folded: in place)
    BiasAct,        ///< BiasGelu, FastGelu, Gelu on their own
    Add,            ///< Token/Batch + Token/Batch or a constant row
    Attention,      ///< QKV GEMM, attention core, output GEMM (+ SkipLayerNorm's bias and residual)
    GatherToken,    ///< Gather(X, index, axis=1) of a token-layout X: one token per sequence
    MeanPool,       ///< masked mean over each sequence's real tokens
  };
  Kind kind = Kind::Elementwise;
  const ir::Node* node = nullptr;               ///< the IR node it lowers
  const ir::Node* fused = nullptr;    ///< the consumer folded into it (epilogue or SkipLayerNorm)
  ir::Value* out = nullptr;           ///< the value it defines (the fused consumer's result when folded)
  std::vector<const ir::Value*> reads;  ///< non-constant values it reads
  /// Scratch it needs only while it runs, in bytes per slot (e.g. the QKV
  /// projection of Attention), and where the plan put each.
  std::vector<int64_t> tempBytes;
  std::vector<int64_t> tempOffsets;
  int epilogue = 0;                   ///< BERTC_K_EPI_* for Linear and Attention's output GEMM
};

/// Where a planned value lives: offsetPerSlot * batch * seq bytes into the arena.
struct Buffer {
  int64_t offsetPerSlot = 0;
  int64_t bytesPerSlot = 0;
  Layout layout = Layout::Padded;
  int64_t width = 1;  ///< N: floats per token row (Token) or per sequence (Batch)
};

struct Plan {
  /// The symbols of the batch and sequence dims (as in the graph's inputs).
  ir::SymExpr batchDim, seqDim;
  int64_t maxBatch = 1, maxSeq = 1;
  std::vector<Step> steps;
  std::map<const ir::Value*, Buffer> buffers;  ///< every non-constant, non-input value
  std::map<const ir::Value*, Layout> layouts;  ///< every non-constant value
  /// The [batch, seq] value that decides which tokens are real, or null
  /// (every token real). Every Attention's mask must be it.
  const ir::Value* mask = nullptr;
  /// The packing arrays (bertc_k_pack): tok and rowOf 4 bytes per slot,
  /// seqStart 8 (it holds batch + 1 entries).
  int64_t tokOffset = 0, rowOfOffset = 0, seqStartOffset = 0;
  /// Arena bytes per slot in all; scratch_bytes(b, s) = bytesPerSlot * b * s.
  int64_t bytesPerSlot = 0;
  /// Attention's per-worker scratch at maxSeq, in floats.
  int64_t workerScratchFloats = 0;
  /// Values that are another under a new name (Identity): alias -> source.
  std::map<const ir::Value*, const ir::Value*> aliases;
  /// Graph inputs used as embedding ids: valid range [0, table rows).
  std::map<const ir::Value*, int64_t> idRanges;
};

/// The largest --max-batch and --max-seq a plan takes. Far past any real
/// encoder, and small enough that the arena's sizes (tokens x width x 4
/// bytes, per slot) cannot overflow 64 bits.
inline constexpr int64_t kMaxBatchBound = int64_t{1} << 20;
inline constexpr int64_t kMaxSeqBound = int64_t{1} << 20;

struct PlanOptions {
  int64_t maxBatch = 0;  ///< 0: the batch symbol's upper bound, else 64
  int64_t maxSeq = 0;    ///< 0: the largest position the model embeds
};

/// Plans `g`, which must have been through the default pass pipeline. A node
/// the CPU target cannot lower is an error naming it and its op. `file` is
/// for messages.
Result<Plan> planGraph(const ir::Graph& g, const PlanOptions& opts, const std::string& file);

/// A readable dump of the plan (steps, layouts, offsets), for -v and tests.
std::string describePlan(const ir::Graph& g, const Plan& plan);

}  // namespace bertc::cpu
