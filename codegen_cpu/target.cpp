#include "codegen_cpu/target.h"

#include <algorithm>

#include "codegen_cpu/libmodel/bertc_k.h"
#include "kernels/attention.h"

namespace bertc::cpu {

const plan::TargetCaps& targetCaps() {
  using plan::Epilogue;
  using plan::epilogueBit;
  static const plan::TargetCaps caps = [] {
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
    return c;
  }();
  return caps;
}

Result<Plan> planGraph(const ir::Graph& g, int64_t maxBatch, int64_t maxSeq, const std::string& file) {
  return plan::planGraph(g, targetCaps(), plan::PlanOptions{maxBatch, maxSeq}, file);
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
  return (scratch + 15) / 16 * 16;
}

}  // namespace bertc::cpu
