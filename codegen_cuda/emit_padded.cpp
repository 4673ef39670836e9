// The [batch, seq] family and the token bookkeeping: the integer arithmetic
// exporters leave on ids and masks (kernels/padded.cuh), packing the tokens
// by the mask, one token per sequence (the pooler's [CLS]), mean pooling,
// and the copies of the outputs to the caller's layouts (kernels/tokens.cuh).
#include <fmt/core.h>

#include "codegen_cuda/emitter.h"
#include "ir/ops.h"

namespace bertc::cuda {

void emitPack(Emitter& e, const Step& s) {
  (void)s;
  const int k = e.add("pack", "bertc_pack", {}, 1024, nullptr);
  const ir::Value* mask = e.plan().mask;
  e.launch(k, BERTC_CUDA_GRID_ONE, 0,
           {mask ? e.at(mask) : nullArg(), i32(mask ? static_cast<int>(mask->type.dtype) : 0),
            arg(BERTC_CUDA_ARG_BATCH), arg(BERTC_CUDA_ARG_SEQ), arg(BERTC_CUDA_ARG_TOK), arg(BERTC_CUDA_ARG_ROW_OF),
            arg(BERTC_CUDA_ARG_SEQ_START)});
}

void emitElementwise(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const int k = e.add("elementwise", "bertc_elementwise", {}, 256, &n);
  std::vector<bertc_cuda_arg> args = {i32(elementwiseCode(n.op)), e.buffer(s.out),
                                      i32(static_cast<int>(s.out->type.dtype)), arg(BERTC_CUDA_ARG_SLOTS)};
  for (size_t j = 0; j < 3; ++j) {
    const ir::Value* v = n.operand(j);
    if (!v) {
      args.insert(args.end(), {nullArg(), i32(0), i64(0)});
      continue;
    }
    const bool c = v->isConstant();
    args.insert(args.end(), {c ? e.weight(v, Form::Raw) : e.at(v), i32(static_cast<int>(v->type.dtype)),
                             c ? i64(1) : arg(BERTC_CUDA_ARG_SLOTS)});
  }
  e.launch(k, BERTC_CUDA_GRID_ELEMENTS, 0, std::move(args));
}

void emitCumSum(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const int k = e.add("cumsum", "bertc_cumsum", {}, 128, &n);
  e.launch(k, BERTC_CUDA_GRID_ELEMENTS, 0,
           {e.buffer(s.out), e.at(n.operand(0)), i32(static_cast<int>(s.out->type.dtype)),
            arg(BERTC_CUDA_ARG_BATCH_I64), arg(BERTC_CUDA_ARG_SEQ_I64), i32(n.getInt("exclusive", 0)),
            i32(n.getInt("reverse", 0))});
}

void emitGatherToken(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const int64_t index = n.operand(1)->constant->getInt(0);
  const int64_t w = widthOf(s.out);
  const int k = e.add("gather_token", fmt::format("bertc_gather_token_n{}", w), {w, rowThreads(w)}, rowThreads(w), &n);
  e.launch(k, BERTC_CUDA_GRID_BATCH, 0,
           {e.buffer(n.operand(0)), arg(BERTC_CUDA_ARG_ROW_OF), arg(BERTC_CUDA_ARG_SEQ), i32(index), e.buffer(s.out)});
}

void emitMeanPool(Emitter& e, const Step& s) {
  const ir::Node& n = *s.node;
  const int64_t w = widthOf(s.out);
  const int k = e.add("mean_pool", fmt::format("bertc_mean_pool_n{}", w), {w, 128}, 128, &n,
                      {{"eps", floatLiteral(n.getFloat("epsilon", 1e-9))}});
  e.launch(k, BERTC_CUDA_GRID_COLUMNS, static_cast<int>(w),
           {e.buffer(n.operand(0)), arg(BERTC_CUDA_ARG_SEQ_START), e.buffer(s.out)});
}

/// Output o, as float32 in the caller's shape; [batch, seq] data (an input
/// passed through, or computed from one) copied in its own dtype.
void emitOutput(Emitter& e, size_t o) {
  const ir::Value* out = e.graph().outputs()[o];
  const ir::Value* src = e.plan().resolve(out);
  const bertc_cuda_arg from = e.at(src);
  const auto dst = arg(BERTC_CUDA_ARG_OUTPUT, static_cast<int64_t>(o));
  LaunchPlan& lp = e.launchPlan();
  const Layout l = e.plan().layoutOf(out);
  if (l == Layout::Padded) {
    const int dt = static_cast<int>(out->type.dtype);
    const int k = e.add("elementwise", "bertc_elementwise", {}, 256, nullptr);
    e.launch(k, BERTC_CUDA_GRID_ELEMENTS, 0,
             {i32(elementwiseCode(ir::OpKind::Cast)), dst, i32(dt), arg(BERTC_CUDA_ARG_SLOTS), from,
              i32(static_cast<int>(src->type.dtype)), arg(BERTC_CUDA_ARG_SLOTS), nullArg(), i32(0), i64(0), nullArg(),
              i32(0), i64(0)});
    lp.outputs.push_back({out->name, BERTC_CUDA_OUT_PADDED, dt, 0});
    return;
  }
  const int64_t n = widthOf(out);
  if (l == Layout::Token) {
    const int k = e.add("scatter_rows", fmt::format("bertc_scatter_rows_n{}", n), {n, rowThreads(n)}, rowThreads(n),
                        nullptr);
    e.launch(k, BERTC_CUDA_GRID_SLOTS, 0, {from, arg(BERTC_CUDA_ARG_ROW_OF), dst});
    lp.outputs.push_back({out->name, BERTC_CUDA_OUT_TOKENS, 1, n});
  } else {
    const int k = e.add("to_float", fmt::format("bertc_to_float_n{}", n), {n, rowThreads(n)}, rowThreads(n), nullptr);
    e.launch(k, BERTC_CUDA_GRID_BATCH, 0, {from, dst});
    lp.outputs.push_back({out->name, BERTC_CUDA_OUT_SEQUENCES, 1, n});
  }
}

}  // namespace bertc::cuda
