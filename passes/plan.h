// The lowering plan of a fused graph: the one description of how it runs
// that every code generator reads (codegen_cpu/, codegen_cuda/). It says, for
// a target described by data (TargetCaps):
//   * where each value lives (its layout) and in what precision;
//   * the ordered kernel steps, each with its node, the consumer folded into
//     it, its GEMM epilogue, the values it reads and the scratch it needs;
//   * the packing mask and the limits on the inputs' values;
//   * the memory plan: every buffer's offset in one scratch arena.
// All checks of what a target can lower are here, with one set of messages;
// a backend only maps each step to its kernels.
//
// Layouts. The generated code runs padding-free: activations of shape
// [batch, seq, N] hold only the real tokens (attention mask nonzero), packed
// in (b, s) order as T <= batch*seq rows of N. So every value is one of
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

namespace bertc::plan {

enum class Layout { Padded, Token, Batch };

/// What a GEMM applies to A W before storing: each backend maps these to
/// its own kernel constants.
enum class Epilogue {
  None,          ///< A W
  Bias,          ///< A W + b
  BiasRelu,      ///< relu(A W + b)
  BiasGelu,      ///< gelu(A W + b), the exact (erf) form
  BiasGeluTanh,  ///< gelu(A W + b), the tanh approximation
  BiasTanh,      ///< tanh(A W + b)
  BiasResidual,  ///< A W + b + R (a folded SkipLayerNorm's residual; the LayerNorm runs in place after)
};
inline constexpr int kNumEpilogues = 7;
inline constexpr uint32_t epilogueBit(Epilogue e) { return 1u << static_cast<int>(e); }

/// What a code generator can do, as data: everything target-specific the
/// planner needs.
struct TargetCaps {
  std::string name;                    ///< in messages: "the <name> target ..."
  ir::DType store = ir::DType::F32;    ///< how float activations are stored (F32 or F16)
  /// How GEMM weights (MatMul, Linear, Attention) are stored: F32, F16, or
  /// BF16 (the CPU's reduced precision; products accumulate in fp32).
  ir::DType gemmWeights = ir::DType::F32;
  int64_t slotAlign = 64;              ///< buffers of this many bytes per slot or more start at multiples of it
  /// Bytes per slot at the arena's start for the packing arrays (tok and
  /// rowOf 4 bytes per slot, seqStart batch + 1 entries of 4), or 0 when
  /// the runtime keeps them elsewhere.
  int64_t packBytesPerSlot = 0;
  std::vector<ir::DType> paddedDtypes;  ///< what [batch, seq] kernels read and write (inputs, padded results)
  /// Epilogues a GEMM absorbs from a consumer node (MatMul -> BiasGelu,
  /// Attention -> SkipLayerNorm): a bit per Epilogue.
  uint32_t foldedEpilogues = 0;
  bool constPositionIds = false;  ///< EmbedLayerNorm may take a constant row of position ids
  int64_t maxTokens = 0;          ///< max batch x max seq allowed (0: only the plan's own bounds)
  int64_t maxHeadSize = 0;        ///< the attention kernel's largest head size (0: any)
};

/// One kernel call (or a few for one node) of the body, in execution order.
struct Step {
  enum class Kind {
    Elementwise,     ///< padded-layout integer/bool op: Add, Sub, Mul, Div, Equal, Less, Greater, And, Or, Not, Cast, Where
    CumSum,          ///< padded layout, along seq
    Pack,            ///< packs the tokens by the mask (no node): after the padded steps, before the rest
    EmbedLayerNorm,  ///< gathers ids of the packed tokens, then the embedding kernel
    Linear,          ///< MatMul / Linear over a constant weight, epilogue folded in
    LayerNorm,       ///< LayerNorm, or SkipLayerNorm (after a GEMM that folded it: in place)
    BiasAct,         ///< BiasGelu, FastGelu, Gelu on their own
    Add,             ///< Token/Batch + Token/Batch or a constant row
    Attention,       ///< QKV GEMM, attention core, output GEMM (+ a folded SkipLayerNorm's bias and residual)
    GatherToken,     ///< Gather(X, index, axis=1) of a token-layout X: one token per sequence
    MeanPool,        ///< masked mean over each sequence's real tokens
  };
  /// Scratch a step needs only while it runs.
  struct Temp {
    std::string what;           ///< for the printed plan
    int64_t bytesPerSlot = 0;
    int64_t offsetPerSlot = 0;  ///< set by the memory plan
  };
  Kind kind = Kind::Elementwise;
  const ir::Node* node = nullptr;   ///< the IR node it lowers (null for Pack)
  const ir::Node* fused = nullptr;  ///< the consumer folded into it (epilogue or SkipLayerNorm)
  const ir::Value* out = nullptr;   ///< the value it defines (the fused consumer's result when folded; null for Pack)
  Epilogue epilogue = Epilogue::None;  ///< Linear, and Attention's output GEMM
  std::vector<const ir::Value*> reads;  ///< non-constant values it reads
  std::vector<Temp> temps;
};

/// Where a planned value lives: offsetPerSlot * batch * seq bytes into the arena.
struct Buffer {
  int64_t offsetPerSlot = 0;
  int64_t bytesPerSlot = 0;
  Layout layout = Layout::Padded;
  int64_t width = 1;  ///< N: elements per token row (Token) or per sequence (Batch); 1 for Padded
};

struct Plan {
  std::string target;  ///< TargetCaps::name
  /// The symbols of the batch and sequence dims (as in the graph's inputs).
  ir::SymExpr batchDim, seqDim;
  int64_t maxBatch = 1, maxSeq = 1;
  int64_t minSeq = 1;  ///< the shortest sequence a run may have (a gathered token's index + 1)
  std::vector<Step> steps;
  std::map<const ir::Value*, Layout> layouts;       ///< every non-constant value
  /// Every non-constant value, and every GEMM weight: its dtype in memory.
  std::map<const ir::Value*, ir::DType> precision;
  std::map<const ir::Value*, Buffer> buffers;       ///< every value a step defines
  /// Values that are another under a new name (Identity): alias -> source.
  std::map<const ir::Value*, const ir::Value*> aliases;
  /// The [batch, seq] value that decides which tokens are real, or null
  /// (every token real). Every Attention's mask and every MeanPool's is it.
  const ir::Value* mask = nullptr;
  /// Graph inputs used as embedding ids: their values must lie in [0, limit).
  std::map<const ir::Value*, int64_t> idLimits;
  /// The packing arrays' offsets per slot (when TargetCaps::packBytesPerSlot).
  int64_t tokOffset = 0, rowOfOffset = 0, seqStartOffset = 0;
  /// Arena bytes per slot in all: the arena is bytesPerSlot * batch * seq.
  int64_t bytesPerSlot = 0;

  /// v, or what it aliases.
  const ir::Value* resolve(const ir::Value* v) const {
    auto it = aliases.find(v);
    return it == aliases.end() ? v : it->second;
  }
  Layout layoutOf(const ir::Value* v) const { return layouts.at(resolve(v)); }
  const Buffer& bufferOf(const ir::Value* v) const { return buffers.at(resolve(v)); }
};

/// The largest --max-batch and --max-seq a plan takes. Far past any real
/// encoder, and small enough that the arena's sizes (tokens x width x 4
/// bytes, per slot) cannot overflow 64 bits.
inline constexpr int64_t kMaxBatchBound = int64_t{1} << 20;
inline constexpr int64_t kMaxSeqBound = int64_t{1} << 20;

struct PlanOptions {
  int64_t maxBatch = 0;  ///< 0: the batch dim's fixed size, else 64
  int64_t maxSeq = 0;    ///< 0: the seq dim's fixed size, else the position table's rows
};

/// Plans `g`, which must have been through the default pass pipeline, for
/// the target `caps` describes. A node the target cannot lower is an error
/// naming it and its op; `file` is for messages.
Result<Plan> planGraph(const ir::Graph& g, const TargetCaps& caps, const PlanOptions& opts, const std::string& file);

/// The plan as stable text (`bertc compile --print-plan`, golden tests).
std::string printPlan(const ir::Graph& g, const Plan& plan);

const char* kindName(Step::Kind k);
const char* layoutName(Layout l);
const char* epilogueName(Epilogue e);

}  // namespace bertc::plan
