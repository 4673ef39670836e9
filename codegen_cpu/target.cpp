#include "codegen_cpu/target.h"

#include <algorithm>

#include "codegen_cpu/libmodel/bertc_k.h"
#include "kernels/attention.h"

namespace bertc::cpu {

const char* precisionName(Precision p) { return p == Precision::Bf16 ? "bf16" : "fp32"; }

std::optional<Precision> parsePrecision(const std::string& name) {
  if (name == "fp32") return Precision::Fp32;
  if (name == "bf16") return Precision::Bf16;
  return std::nullopt;
}

const plan::TargetCaps& targetCaps(Precision p) {
  using plan::Epilogue;
  using plan::epilogueBit;
  auto make = [](Precision p) {
    plan::TargetCaps c;
    c.name = "CPU";
    c.store = ir::DType::F32;
    c.slotAlign = 64;
    c.packBytesPerSlot = 64;
    // libmodel/internal.h's loadInt / store.
    c.paddedDtypes = {ir::DType::F32, ir::DType::F64, ir::DType::U8,  ir::DType::I8,
                      ir::DType::I32, ir::DType::I64, ir::DType::Bool};
    c.foldedEpilogues = epilogueBit(Epilogue::Bias) | epilogueBit(Epilogue::BiasGelu) |
                        epilogueBit(Epilogue::BiasGeluTanh) | epilogueBit(Epilogue::BiasResidual);
    c.constPositionIds = false;
    c.gemmWeights = p == Precision::Bf16 ? ir::DType::BF16 : ir::DType::F32;
    return c;
  };
  static const plan::TargetCaps fp32 = make(Precision::Fp32), bf16 = make(Precision::Bf16);
  return p == Precision::Bf16 ? bf16 : fp32;
}

Result<Plan> planGraph(const ir::Graph& g, int64_t maxBatch, int64_t maxSeq, const std::string& file, Precision p) {
  return plan::planGraph(g, targetCaps(p), plan::PlanOptions{maxBatch, maxSeq}, file);
}

int epilogueCode(plan::Epilogue e) {
  switch (e) {
    case plan::Epilogue::None: return BERTC_K_EPI_NONE;
    case plan::Epilogue::Bias: return BERTC_K_EPI_BIAS;
    case plan::Epilogue::BiasRelu: return BERTC_K_EPI_BIAS_RELU;
    case plan::Epilogue::BiasGelu: return BERTC_K_EPI_BIAS_GELU;
    case plan::Epilogue::BiasGeluTanh: return BERTC_K_EPI_BIAS_GELU_TANH;
    case plan::Epilogue::BiasTanh: return BERTC_K_EPI_BIAS_TANH;
    case plan::Epilogue::BiasResidual: return BERTC_K_EPI_BIAS_RESIDUAL;
  }
  return BERTC_K_EPI_NONE;
}

int64_t workerScratchFloats(const ir::Graph& g, const Plan& p) {
  (void)g;
  int64_t scratch = 0;
  for (const Step& s : p.steps)
    if (s.kind == Step::Kind::Attention) {
      AttentionArgs a;
      a.H = static_cast<int>(s.node->operand(1)->type.shape.at(1).constValue().value() / 3);
      a.heads = static_cast<int>(s.node->getInt("num_heads", 1));
      a.length = static_cast<int>(p.maxSeq);
      scratch = std::max<int64_t>(scratch, attentionScratchFloats(a));
    }
  // The bf16 GEMM converts blocks of A to bf16 in the worker's scratch.
  for (const auto& [v, dtype] : p.precision)
    if (v->isConstant() && dtype == ir::DType::BF16)
      scratch = std::max<int64_t>(scratch, BERTC_K_LINEAR_BF16_SCRATCH_FLOATS);
  return (scratch + 15) / 16 * 16;
}

}  // namespace bertc::cpu
