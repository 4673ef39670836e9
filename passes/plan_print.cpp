// printPlan: the plan as stable text, one line per value and step.
#include <fmt/core.h>

#include "ir/ops.h"
#include "passes/plan.h"

namespace bertc::plan {

const char* kindName(Step::Kind k) {
  switch (k) {
    case Step::Kind::Elementwise: return "elementwise";
    case Step::Kind::CumSum: return "cumsum";
    case Step::Kind::Pack: return "pack";
    case Step::Kind::EmbedLayerNorm: return "embed_layernorm";
    case Step::Kind::Linear: return "linear";
    case Step::Kind::LayerNorm: return "layernorm";
    case Step::Kind::BiasAct: return "bias_act";
    case Step::Kind::Add: return "add";
    case Step::Kind::Attention: return "attention";
    case Step::Kind::GatherToken: return "gather_token";
    case Step::Kind::MeanPool: return "mean_pool";
  }
  return "?";
}

const char* layoutName(Layout l) {
  switch (l) {
    case Layout::Padded: return "padded";
    case Layout::Token: return "token";
    case Layout::Batch: return "batch";
  }
  return "?";
}

const char* epilogueName(Epilogue e) {
  switch (e) {
    case Epilogue::None: return "none";
    case Epilogue::Bias: return "bias";
    case Epilogue::BiasRelu: return "bias_relu";
    case Epilogue::BiasGelu: return "bias_gelu";
    case Epilogue::BiasGeluTanh: return "bias_gelu_tanh";
    case Epilogue::BiasTanh: return "bias_tanh";
    case Epilogue::BiasResidual: return "bias_residual";
  }
  return "?";
}

namespace {

std::string valueText(const Plan& plan, const ir::Value* v) {
  std::string s = "%" + v->name;
  if (auto a = plan.aliases.find(v); a != plan.aliases.end()) s += " (= %" + a->second->name + ")";
  return s;
}

std::string where(const Plan& plan, const ir::Value* v) {
  auto l = plan.layouts.find(v);
  std::string s = fmt::format("{} {}", l == plan.layouts.end() ? "?" : layoutName(l->second),
                              ir::dtypeName(plan.precision.count(v) ? plan.precision.at(v) : v->type.dtype));
  if (auto b = plan.buffers.find(v); b != plan.buffers.end())
    s += fmt::format("[{}] @{} +{}", b->second.width, b->second.offsetPerSlot, b->second.bytesPerSlot);
  else if (v->isInput)
    s += " (input)";
  return s;
}

}  // namespace

std::string printPlan(const ir::Graph& g, const Plan& plan) {
  std::string out = fmt::format("plan for the {} target\n", plan.target);
  out += fmt::format("  batch: dim {}, at most {}\n", plan.batchDim.str(g.symbols()), plan.maxBatch);
  out += fmt::format("  seq: dim {}, at most {}, at least {}\n", plan.seqDim.str(g.symbols()), plan.maxSeq, plan.minSeq);
  out += fmt::format("  arena: {} bytes per batch*seq slot", plan.bytesPerSlot);
  if (plan.seqStartOffset > 0)
    out += fmt::format("; packing arrays tok @{}, row_of @{}, seq_start @{}", plan.tokOffset, plan.rowOfOffset,
                       plan.seqStartOffset);
  out += "\n";
  out += fmt::format("  mask: {}\n", plan.mask ? valueText(plan, plan.mask) : std::string("none (every token real)"));
  for (const ir::Value* in : g.inputs()) {
    out += fmt::format("  input {}: {}", valueText(plan, in), where(plan, in));
    if (auto it = plan.idLimits.find(in); it != plan.idLimits.end()) out += fmt::format(", values in [0, {})", it->second);
    out += "\n";
  }
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const Step& s = plan.steps[i];
    out += fmt::format("  step {} {}", i, kindName(s.kind));
    if (s.node) out += " " + s.node->describe();
    out += "\n";
    if (s.out) out += fmt::format("      -> {}: {}\n", valueText(plan, s.out), where(plan, s.out));
    if (s.kind == Step::Kind::Linear || s.kind == Step::Kind::Attention)
      out += fmt::format("      epilogue {}, weights {}\n", epilogueName(s.epilogue),
                         ir::dtypeName(plan.precision.at(s.node->operand(1))));
    if (s.fused) out += fmt::format("      folds {}\n", s.fused->describe());
    if (!s.reads.empty()) {
      out += "      reads";
      for (const ir::Value* r : s.reads) out += " " + valueText(plan, r);
      out += "\n";
    }
    for (const Step::Temp& t : s.temps)
      out += fmt::format("      temp @{} +{}: {}\n", t.offsetPerSlot, t.bytesPerSlot, t.what);
  }
  for (const ir::Value* o : g.outputs())
    out += fmt::format("  output {}: {}\n", valueText(plan, o), where(plan, plan.resolve(o)));
  return out;
}

}  // namespace bertc::plan
