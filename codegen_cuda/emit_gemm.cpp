// The GEMM family: MatMul / Linear as cuBLASLt calls with their epilogue,
// and Attention (QKV GEMM, the attention kernel of kernels/attention.cuh,
// output GEMM).
//
// cuBLASLt's epilogues here are bias and ReLU; its GELU epilogue is the tanh
// form, so exact GELU and tanh run as a bias_act kernel after the GEMM, in
// place:
//   Linear(X, W, b) {activation}   gemm(X, W, b, relu?) [; bias_act(act)]
//   MatMul(X, W) -> consumer       gemm(X, W, bias of an Add) [; bias_act(act, b)]
//   Attention(X, Wqkv, Bqkv, mask, Wout)
//                                  gemm(X, Wqkv, Bqkv) -> attention -> gemm(ctx, Wout)
// The mask is not passed to the attention kernel: the tokens are packed by it.
#include <fmt/core.h>

#include <cmath>

#include "codegen_cuda/emitter.h"
#include "ir/ops.h"

namespace bertc::cuda {

void emitLinear(Emitter& e, const Step& s) {
  using plan::Epilogue;
  const ir::Node& n = *s.node;
  const ir::Value* x = n.operand(0);
  const Layout l = e.plan().layoutOf(x);
  const int64_t w = widthOf(s.out);
  const bertc_cuda_arg d = e.buffer(s.out);
  // The GEMM's own bias, and the one a folded consumer (BiasGelu, FastGelu,
  // Add) brings: an Add's goes to the GEMM, an activation's to bias_act.
  const ir::Value* gemmBias = n.op == ir::OpKind::Linear ? n.operand(2) : nullptr;
  const ir::Value* actBias = nullptr;
  if (const ir::Node* f = s.fused) {
    BERTC_INTERNAL_ASSERT(s.epilogue != Epilogue::BiasResidual, "the CUDA target folds no SkipLayerNorm");
    if (f->op == ir::OpKind::Add) gemmBias = f->operand(0) == n.result() ? f->operand(1) : f->operand(0);
    else if (f->op != ir::OpKind::Gelu) actBias = f->operand(1);
  }
  e.gemm(n, l, e.buffer(x), widthOf(x), n.operand(1), gemmBias, s.epilogue == Epilogue::BiasRelu, d);
  switch (s.epilogue) {
    case Epilogue::None:
    case Epilogue::Bias:
    case Epilogue::BiasRelu: break;
    case Epilogue::BiasGelu: e.biasAct(n, l, d, actBias, d, w, "gelu", 1); break;
    case Epilogue::BiasGeluTanh: e.biasAct(n, l, d, actBias, d, w, "gelu_tanh", 2); break;
    case Epilogue::BiasTanh: e.biasAct(n, l, d, actBias, d, w, "tanh", 3); break;
    case Epilogue::BiasResidual: BERTC_INTERNAL_ASSERT(false, "the CUDA target folds no SkipLayerNorm");
  }
}

void emitAttention(Emitter& e, const Step& s) {
  BERTC_INTERNAL_ASSERT(!s.fused, "the CUDA target folds nothing into Attention");
  const ir::Node& n = *s.node;
  const ir::Value* x = n.operand(0);
  const Layout l = e.plan().layoutOf(x);
  const int64_t h3 = widthOf(n.operand(1));
  const int64_t heads = n.getInt("num_heads", 1);
  const int64_t hidden = h3 / 3, d = hidden / heads;
  double scale = n.getFloat("scale", 0.0);
  if (scale == 0.0) scale = 1.0 / std::sqrt(static_cast<double>(d));
  const int k = e.add("attention", fmt::format("bertc_attention_d{}_h{}", d, heads), {d, heads}, 128, &n,
                      {{"scale", floatLiteral(scale)}});
  const bertc_cuda_arg qkv = Emitter::temp(s, 0);
  e.gemm(n, l, e.buffer(x), widthOf(x), n.operand(1), n.operand(2), false, qkv);
  const ir::Value* wout = n.operand(4);
  const bertc_cuda_arg context = wout ? Emitter::temp(s, 1) : e.buffer(s.out);
  e.launch(k, BERTC_CUDA_GRID_ATTENTION, static_cast<int>(heads),
           {qkv, i64(h3), context, i64(hidden), arg(BERTC_CUDA_ARG_SEQ_START)});
  if (wout) e.gemm(n, l, context, hidden, wout, nullptr, false, e.buffer(s.out));
}

}  // namespace bertc::cuda
