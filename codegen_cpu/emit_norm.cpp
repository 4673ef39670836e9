// The row family: LayerNorm and SkipLayerNorm not folded into a GEMM, bias +
// activation and Add on their own, and EmbedLayerNorm over the packed tokens.
//
//   LayerNorm(X, g, b) {axis = -1}           layernorm(X, -, -, g, b)
//   SkipLayerNorm(X, R, g, b?, bias?)        layernorm(X, R, bias, g, b)
//   BiasGelu(X, b) / FastGelu(X, b?) / Gelu  bias_act(X, b or 0, act)
//   Add(X, Y) / Add(X, row)                  add(X, Y) / add(X, row broadcast)
//   EmbedLayerNorm(ids, seg?, W, P, S?, g, b, pos?)
//                                            gather the packed tokens' ids, then embed_layernorm
#include "codegen_cpu/emitter.h"
#include "codegen_cpu/libmodel/bertc_k.h"
#include "ir/ops.h"

namespace bertc::cpu {
namespace {

int64_t lastDim(const ir::Value* v) { return v->type.shape.back().constValue().value(); }

int64_t tableRows(const ir::Value* t) { return t->type.shape.at(0).constValue().value(); }

}  // namespace

void emitLayerNorm(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const ir::Value* x = n.operand(0);
  const int64_t h = lastDim(x);
  const bool skipForm = n.op == ir::OpKind::SkipLayerNorm;
  const ir::Value* skip = skipForm ? n.operand(1) : nullptr;
  const ir::Value* gamma = skipForm ? n.operand(2) : n.operand(1);
  const ir::Value* beta = skipForm ? n.operand(3) : n.operand(2);
  const ir::Value* bias = skipForm ? n.operand(4) : nullptr;
  llvm::Value* out = e.addr(s.out);
  e.callChecked("bertc_k_layernorm", {e.exec(), e.addr(x), e.i64(h), skip ? e.addr(skip) : e.null(), e.i64(skip ? h : 0),
                                      e.addrOrNull(bias), e.weight(gamma), e.addrOrNull(beta), out, e.i64(h), e.i64(h),
                                      e.rows(x), e.f32(n.getFloat("epsilon", 1e-5))});
}

void emitBiasAct(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const ir::Value* x = n.operand(0);
  const int64_t w = lastDim(x);
  int act = BERTC_K_EPI_BIAS_GELU;
  const ir::Value* bias = nullptr;
  if (n.op == ir::OpKind::BiasGelu) {
    bias = n.operand(1);
  } else if (n.op == ir::OpKind::FastGelu) {
    act = BERTC_K_EPI_BIAS_GELU_TANH;
    bias = n.operand(1);
  } else if (n.getString("approximate", "none") == "tanh") {
    act = BERTC_K_EPI_BIAS_GELU_TANH;
  }
  e.callChecked("bertc_k_bias_act", {e.exec(), e.addr(x), e.i64(w), bias ? e.weight(bias) : e.zeros(w), e.addr(s.out),
                                     e.i64(w), e.i64(w), e.rows(x), e.i32(act)});
}

void emitAdd(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const ir::Value* a = n.operand(0);
  const ir::Value* c = n.operand(1);
  if (a->isConstant()) std::swap(a, c);
  const int64_t w = lastDim(s.out);
  if (c->isConstant()) {
    e.callChecked("bertc_k_add", {e.exec(), e.addr(a), e.i64(w), e.weight(c), e.i64(0), e.addr(s.out), e.i64(w), e.i64(w),
                                  e.rows(a)});
    return;
  }
  e.callChecked("bertc_k_add", {e.exec(), e.addr(a), e.i64(w), e.addr(c), e.i64(w), e.addr(s.out), e.i64(w), e.i64(w),
                                e.rows(a)});
}

void emitEmbedLayerNorm(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const ir::Value* ids = n.operand(0);
  const ir::Value* segIds = n.operand(1);
  const ir::Value* word = n.operand(2);
  const ir::Value* pos = n.operand(3);
  const ir::Value* seg = n.operand(4);
  const ir::Value* posIds = n.operand(7);
  const int64_t h = lastDim(word);
  // The ids of the packed tokens, as int64: 8 bytes per slot each.
  llvm::Value* idsBuf = e.temp(s, 0);
  llvm::Value* segBuf = e.temp(s, 0, 8);
  llvm::Value* posBuf = e.temp(s, 0, 16);
  auto gather = [&](const ir::Value* v, llvm::Value* dst) {
    e.call("bertc_k_gather_ids", {e.addr(v), e.i32(dtypeCode(v)), e.tok(), e.tokens(), dst});
  };
  gather(ids, idsBuf);
  if (seg && segIds) gather(segIds, segBuf);
  if (posIds) {
    gather(posIds, posBuf);
  } else {
    e.call("bertc_k_positions", {e.tok(), e.tokens(), e.seq(), posBuf});
  }
  e.callChecked("bertc_k_embed_layernorm",
                {e.exec(), idsBuf, seg && segIds ? segBuf : e.null(), posBuf, e.weight(word), e.i64(tableRows(word)),
                 e.weight(pos), e.i64(tableRows(pos)), seg ? e.weight(seg) : e.null(), e.i64(seg ? tableRows(seg) : 0),
                 e.weight(n.operand(5)), e.addrOrNull(n.operand(6)), e.addr(s.out), e.i64(h), e.tokens(),
                 e.f32(n.getFloat("epsilon", 1e-12)), e.tok(), e.seq()});
}

}  // namespace bertc::cpu
