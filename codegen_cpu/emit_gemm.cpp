// The GEMM family: MatMul / Linear over a prepacked weight with its folded
// epilogue, and Attention (QKV GEMM, attention core, output GEMM).
//
//   MatMul(X, W) -> BiasGelu(., b)              linear(X, W, b, BIAS_GELU)
//   MatMul(X, W) -> FastGelu(., b?) / Gelu(.)    linear(X, W, b or 0, BIAS_GELU[_TANH])
//   MatMul(X, W) -> Add(., b)                   linear(X, W, b, BIAS)
//   MatMul(X, W) -> SkipLayerNorm(., R, g, be, b?)
//                                               linear(X, W, b or 0, BIAS_RESIDUAL, R); layernorm in place
//   Attention(X, Wqkv, Bqkv, mask, Wout) -> SkipLayerNorm(., R, ...)
//                                               linear(X, Wqkv, Bqkv) -> attention -> linear(ctx, Wout, b, R); layernorm
// The mask is not passed to the attention core: the tokens are packed by it
// (plan.h), so every key a sequence has is real.
#include "codegen_cpu/emitter.h"
#include "codegen_cpu/libmodel/bertc_k.h"
#include "ir/ops.h"

namespace bertc::cpu {
namespace {

int64_t lastDim(const ir::Value* v) { return v->type.shape.back().constValue().value(); }

/// The SkipLayerNorm folded into a GEMM that writes `produced`: its residual
/// and bias operands.
struct FoldedSkip {
  const ir::Value* residual;
  const ir::Value* bias;
};

FoldedSkip foldedSkip(const ir::Node& sln, const ir::Value* produced) {
  const ir::Value* residual = sln.operand(0) == produced ? sln.operand(1) : sln.operand(0);
  return {residual, sln.operand(4)};
}

/// C = epilogue(A W + bias (+ residual)) then, for a folded SkipLayerNorm,
/// LayerNorm of C in place.
void gemmWithEpilogue(Emitter& e, const Step& s, const ir::Value* produced, llvm::Value* a, int64_t k,
                      llvm::Value* rows, const ir::Value* weight, const ir::Value* ownBias) {
  const int64_t n = lastDim(weight);
  llvm::Value* out = e.addr(s.out);
  const ir::Value* bias = ownBias;
  llvm::Value* residual = e.null();
  const ir::Node* f = s.fused;
  if (f) {
    if (f->op == ir::OpKind::SkipLayerNorm) {
      FoldedSkip fs = foldedSkip(*f, produced);
      residual = e.addr(fs.residual);
      bias = fs.bias;
    } else if (f->op == ir::OpKind::Add) {
      bias = f->operand(0) == produced ? f->operand(1) : f->operand(0);
    } else if (f->op == ir::OpKind::BiasGelu || f->op == ir::OpKind::FastGelu) {
      bias = f->operand(1);
    }
  }
  const bool needsBias = s.epilogue != plan::Epilogue::None;
  llvm::Value* biasAddr = bias ? e.weight(bias) : (needsBias ? e.zeros(n) : e.null());
  e.callChecked(e.linearFunction(weight), {e.exec(), a, e.i64(k), rows, e.packedWeight(weight), e.i64(k), e.i64(n), biasAddr,
                                   residual, e.i64(n), out, e.i64(n), e.i32(epilogueCode(s.epilogue))});
  if (f && f->op == ir::OpKind::SkipLayerNorm)
    e.callChecked("bertc_k_layernorm", {e.exec(), out, e.i64(n), e.null(), e.i64(0), e.null(), e.weight(f->operand(2)),
                                        e.addrOrNull(f->operand(3)), out, e.i64(n), e.i64(n), rows,
                                        e.f32(f->getFloat("epsilon", 1e-12))});
}

}  // namespace

void emitLinear(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const ir::Value* x = n.operand(0);
  const ir::Value* w = n.operand(1);
  const int64_t k = w->type.shape[0].constValue().value();
  gemmWithEpilogue(e, s, n.result(), e.addr(x), k, e.rows(x), w, n.op == ir::OpKind::Linear ? n.operand(2) : nullptr);
}

void emitAttention(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const ir::Value* x = n.operand(0);
  const ir::Value* wqkv = n.operand(1);
  const int64_t hin = lastDim(x);
  const int64_t h3 = lastDim(wqkv);
  const int64_t h = h3 / 3;
  const int64_t heads = n.getInt("num_heads", 0);
  llvm::Value* rows = e.rows(x);
  llvm::Value* qkv = e.temp(s, 0);
  e.callChecked(e.linearFunction(wqkv), {e.exec(), e.addr(x), e.i64(hin), rows, e.packedWeight(wqkv), e.i64(hin), e.i64(h3),
                                   e.weight(n.operand(2)), e.null(), e.i64(0), qkv, e.i64(h3), e.i32(BERTC_K_EPI_BIAS)});
  const ir::Value* wout = n.operand(4);
  llvm::Value* context = wout ? e.temp(s, 1) : e.addr(s.out);
  e.callChecked("bertc_k_attention", {e.exec(), qkv, e.i64(h3), context, e.i64(h), e.i64(h), e.i64(heads), e.seqStart(),
                                      e.batch(), e.f32(n.getFloat("scale", 0.0))});
  if (wout) gemmWithEpilogue(e, s, n.result(), context, h, rows, wout, nullptr);
}

}  // namespace bertc::cpu
