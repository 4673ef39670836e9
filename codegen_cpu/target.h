// The CPU target as the lowering plan (passes/plan.h) sees it, and what the
// CPU code generator adds to a plan: its kernels' epilogue codes and the
// attention kernel's per-worker scratch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ir/graph.h"
#include "ir/status.h"
#include "passes/plan.h"

namespace bertc::cpu {

using plan::Buffer;
using plan::Layout;
using plan::Plan;
using plan::Step;

/// What `--precision` asks of the CPU target. fp32 is exact; bf16 stores
/// the GEMM weights in bfloat16 (half the bytes) and multiplies them on
/// AVX512-BF16 where the CPU has it, accumulating in fp32; activations,
/// LayerNorm, softmax and GELU stay fp32.
enum class Precision { Fp32, Bf16 };

const char* precisionName(Precision p);
/// "fp32" or "bf16"; nullopt for anything else.
std::optional<Precision> parsePrecision(const std::string& name);

/// fp32 activations; the packing arrays at the arena's start; 64-byte
/// (cache line, AVX-512 vector) alignment; GEMMs that fold every epilogue;
/// GEMM weights in the precision asked for.
const plan::TargetCaps& targetCaps(Precision p = Precision::Fp32);

/// plan::planGraph for the CPU target; 0 for a bound takes the default.
Result<Plan> planGraph(const ir::Graph& g, int64_t maxBatch, int64_t maxSeq, const std::string& file,
                       Precision p = Precision::Fp32);

/// The model library's BERTC_K_EPI_* constant of an epilogue.
int epilogueCode(plan::Epilogue e);

/// Attention's per-worker scratch at the plan's longest sequence, in floats.
int64_t workerScratchFloats(const ir::Graph& g, const Plan& p);

}  // namespace bertc::cpu
