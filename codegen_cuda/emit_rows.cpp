// The row family (kernels/norm.cuh, activation.cuh): EmbedLayerNorm over the
// packed tokens, LayerNorm and SkipLayerNorm, bias + activation, and Add.
//
//   EmbedLayerNorm(ids, seg?, W, P, S?, g, b, pos?)
//                                        gather_ids x3, then embed_layernorm
//   LayerNorm(X, g, b) / SkipLayerNorm(X, R, g, b?, bias?)
//                                        layernorm(X, R?, bias?, g, b)
//   BiasGelu(X, b) / FastGelu(X, b?) / Gelu(X)
//                                        bias_act(X, b?, gelu | gelu_tanh)
//   Add(X, Y) / Add(X, row)              add_rows(X, Y or the row broadcast)
#include <fmt/core.h>

#include "codegen_cuda/emitter.h"
#include "ir/ops.h"

namespace bertc::cuda {
namespace {

int64_t tableRows(const ir::Value* t) { return t->type.shape.at(0).constValue().value_or(0); }

}  // namespace

void emitEmbedLayerNorm(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const int64_t h = widthOf(s.out);
  // The ids of the packed tokens, as int64 [T], in the step's temp: ids at
  // +0, segment ids at +8, positions at +16 bytes per slot.
  const int gather = e.add("gather_ids", "bertc_gather_ids", {}, 256, &n);
  auto gatherIds = [&](bertc_cuda_arg src, int dtype, int mode, int64_t at) {
    const bertc_cuda_arg dst = Emitter::temp(s, 0, at);
    e.launch(gather, BERTC_CUDA_GRID_ELEMENTS, 0,
             {src, i32(dtype), i32(mode), arg(BERTC_CUDA_ARG_TOK), arg(BERTC_CUDA_ARG_NUM_ROWS),
              arg(BERTC_CUDA_ARG_SEQ), dst});
    return dst;
  };
  auto full = [&](const ir::Value* v, int64_t at) {  // IDS_FULL: a [batch, seq] tensor
    return gatherIds(e.at(v), static_cast<int>(v->type.dtype), 0, at);
  };
  const bertc_cuda_arg ids = full(n.operand(0), 0);
  const bertc_cuda_arg seg = n.operand(1) && n.operand(4) ? full(n.operand(1), 8) : nullArg();
  bertc_cuda_arg pos;
  if (const ir::Value* p = n.operand(7)) {
    // A constant row of positions every sequence shares is IDS_ROW.
    pos = p->isConstant() ? gatherIds(e.weight(p, Form::Raw), static_cast<int>(p->type.dtype), 1, 16) : full(p, 16);
  } else {
    pos = gatherIds(nullArg(), 0, 2, 16);  // IDS_POSITIONS: s itself
  }
  const int k = e.rowKernel("embed_layernorm", fmt::format("bertc_embed_layernorm_h{}", h), n, h,
                            {{"eps", floatLiteral(n.getFloat("epsilon", 1e-12))}});
  const ir::Value* segTable = n.operand(1) ? n.operand(4) : nullptr;
  e.launch(k, BERTC_CUDA_GRID_ROWS, 0,
           {ids, seg, pos, e.weight(n.operand(2), Form::Store), i64(tableRows(n.operand(2))),
            e.weight(n.operand(3), Form::Store), i64(tableRows(n.operand(3))), e.weight(segTable, Form::Store),
            i64(segTable ? tableRows(segTable) : 0), e.weight(n.operand(5), Form::Store),
            e.weight(n.operand(6), Form::Store), e.buffer(s.out), arg(BERTC_CUDA_ARG_NUM_ROWS),
            arg(BERTC_CUDA_ARG_BAD_TOKEN)});
}

void emitLayerNorm(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const bool skip = n.op == ir::OpKind::SkipLayerNorm;
  const Layout l = e.plan().layoutOf(n.operand(0));
  const int64_t h = widthOf(s.out);
  const ir::Value* gamma = n.operand(skip ? 2 : 1);
  const ir::Value* beta = n.operand(skip ? 3 : 2);
  const ir::Value* bias = skip ? n.operand(4) : nullptr;
  const int k = e.rowKernel("layernorm", fmt::format("bertc_layernorm_h{}", h), n, h,
                            {{"eps", floatLiteral(n.getFloat("epsilon", 1e-5))}});
  e.launch(k, gridOf(l), 0,
           {e.buffer(n.operand(0)), i64(h), skip ? e.buffer(n.operand(1)) : nullArg(), i64(skip ? h : 0),
            e.weight(bias, Form::Store), e.weight(gamma, Form::Store), e.weight(beta, Form::Store), e.buffer(s.out),
            i64(h), rowsOf(l)});
}

void emitBiasAct(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const Layout l = e.plan().layoutOf(n.operand(0));
  const bool exact =
      n.op == ir::OpKind::BiasGelu || (n.op == ir::OpKind::Gelu && n.getString("approximate", "none") != "tanh");
  const ir::Value* bias = n.op == ir::OpKind::Gelu ? nullptr : n.operand(1);
  e.biasAct(n, l, e.buffer(n.operand(0)), bias, e.buffer(s.out), widthOf(s.out), exact ? "gelu" : "gelu_tanh",
            exact ? 1 : 2);
}

void emitAdd(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const ir::Value* a = n.operand(0);
  const ir::Value* b = n.operand(1);
  if (a->isConstant()) std::swap(a, b);
  const Layout l = e.plan().layoutOf(a);
  const int64_t w = widthOf(s.out);
  const bool row = b->isConstant();
  const int k = e.rowKernel("add_rows", fmt::format("bertc_add_n{}", w), n, w);
  e.launch(k, gridOf(l), 0,
           {e.buffer(a), i64(w), row ? e.weight(b, Form::Store) : e.buffer(b), i64(row ? 0 : w), e.buffer(s.out), i64(w),
            rowsOf(l)});
}

}  // namespace bertc::cuda
