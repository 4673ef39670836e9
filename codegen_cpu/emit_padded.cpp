// The [batch, seq] family: the small integer arithmetic exporters leave on
// ids and masks (RoBERTa's position ids: CumSum(ids != pad) * (ids != pad) +
// pad), run on the caller's padded layout before packing; and Gather of one
// token per sequence (the pooler's [CLS]).
#include <fmt/core.h>

#include "codegen_cpu/emitter.h"
#include "codegen_cpu/libmodel/bertc_k.h"
#include "ir/ops.h"

namespace bertc::cpu {
namespace {

int elementwiseCode(const ir::Node& n) {
  switch (n.op) {
    case ir::OpKind::Add: return BERTC_K_EW_ADD;
    case ir::OpKind::Sub: return BERTC_K_EW_SUB;
    case ir::OpKind::Mul: return BERTC_K_EW_MUL;
    case ir::OpKind::Div: return BERTC_K_EW_DIV;
    case ir::OpKind::Equal: return BERTC_K_EW_EQUAL;
    case ir::OpKind::Less: return BERTC_K_EW_LESS;
    case ir::OpKind::Greater: return BERTC_K_EW_GREATER;
    case ir::OpKind::And: return BERTC_K_EW_AND;
    case ir::OpKind::Or: return BERTC_K_EW_OR;
    case ir::OpKind::Not: return BERTC_K_EW_NOT;
    case ir::OpKind::Cast: return BERTC_K_EW_CAST;
    case ir::OpKind::Where: return BERTC_K_EW_WHERE;
    default: return -1;
  }
}

}  // namespace

void emitElementwise(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const int code = elementwiseCode(n);
  BERTC_INTERNAL_ASSERT(code >= 0, "the plan gave a padded step of another op");
  std::vector<llvm::Value*> args{e.i32(code), e.addr(s.out), e.i32(dtypeCode(s.out)), e.slots()};
  for (size_t i = 0; i < 3; ++i) {
    const ir::Value* v = n.operand(i);
    if (!v) {
      args.insert(args.end(), {e.null(), e.i32(0), e.i64(0)});
      continue;
    }
    llvm::Value* count = v->isConstant() ? e.i64(1) : e.slots();
    args.insert(args.end(), {e.addrOrNull(v), e.i32(dtypeCode(v)), count});
  }
  e.call("bertc_k_elementwise", std::move(args));
}

void emitCumSum(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  e.call("bertc_k_cumsum", {e.addr(s.out), e.addr(n.operand(0)), e.i32(dtypeCode(s.out)), e.batch(), e.seq(),
                            e.i32(n.getInt("exclusive", 0)), e.i32(n.getInt("reverse", 0))});
}

void emitGatherToken(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const int64_t index = n.operand(1)->constant->getInt(0);
  // A sequence shorter than the index has no such token: an error, as in ONNX.
  if (index > 0) {
    llvm::Value* what = e.b().CreateGlobalString(n.describe(), "gather_node");
    e.callChecked("bertc_k_check_token_index", {e.exec(), e.seq(), e.i64(index), what});
  }
  const int64_t w = s.out->type.shape.back().constValue().value();
  e.call("bertc_k_gather_token", {e.addr(n.operand(0)), e.rowOf(), e.batch(), e.seq(), e.i64(index), e.i64(w), e.addr(s.out)});
}

/// MeanPool(X, mask) over the packed tokens: each sequence's rows are its
/// real tokens, so the mean is their sum over their count (plan.cpp checks
/// the mask is the packing one, with 0/1 values).
void emitMeanPool(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const int64_t w = s.out->type.shape.back().constValue().value();
  e.call("bertc_k_mean_pool", {e.addr(n.operand(0)), e.seqStart(), e.batch(), e.i64(w),
                               e.f32(n.getFloat("epsilon", 1e-9)), e.addr(s.out)});
}

}  // namespace bertc::cpu
