/// Pooler fusion: the dense + tanh on the first token becomes a Linear with a
/// tanh epilogue.
///
///   Tanh(MatMul(Gather(H, 0, axis = 1), W) + b)
///     -> Linear(Gather(H, 0, axis = 1), W, b) {activation = tanh}
///
/// Legal because Linear is defined as act(X W + B) over X's last axis, which
/// is this expression term for term. The Gather (the [batch, hidden] first
/// token) stays: it is a strided read a backend folds into the GEMM's
/// addressing.
///
/// Exporter variants matched: the pooler's Gemm (TorchScript), which
/// canonicalize turns into MatMul + Add, and dynamo's MatMul + Add, the bias
/// on either side; a pooler without bias gives a Linear without B. Only the
/// first-token pooler is matched: a Tanh elsewhere (ALBERT's tanh-form GELU)
/// is left to the GELU fusions.
#include "passes/fusions.h"
#include "passes/pattern.h"

namespace bertc::passes {
namespace {

using ir::Node;
using ir::OpKind;
using ir::Value;

constexpr const char* kPass = "fuse-pooler";

MatchResult fuse(Node& tanh, Rewriter& rw) {
  Value* v = tanh.operand(0);
  Node* add = defOf(v, OpKind::Add);
  Node* mm = defOf(v, OpKind::MatMul);
  Value* bias = nullptr;
  for (size_t k = 0; add && k < 2 && !mm; ++k)
    if ((mm = defOf(add->operand(k), OpKind::MatMul))) bias = add->operand(1 - k);
  if (!mm) return MatchResult::miss(describeDef(v) + ": not a dense layer X W + b");
  Value* x = mm->operand(0);
  Value* w = mm->operand(1);
  auto n = constDim(w, 1);
  if (!w->isConstant() || w->type.rank() != 2 || !n || w->type.dtype != x->type.dtype)
    return MatchResult::miss(mm->describe() + ": the weight is not a constant matrix");
  if (bias && (!isConstVector(bias, *n) || bias->type.rank() != 1 || bias->type.dtype != x->type.dtype))
    return MatchResult::miss(add->describe() + ": the bias is not a constant [" + std::to_string(*n) + "] vector");
  Node* first = defOf(x, OpKind::Gather);
  if (!first || first->getInt("axis", 0) != 1 || first->operand(1)->type.rank() != 0 ||
      constScalar(first->operand(1)) != 0.0 || x->type.rank() != 2)
    return MatchResult::miss(describeDef(x) + ": the dense layer does not read the first token");
  std::vector<const Node*> absorbed{&tanh, mm};
  if (bias) absorbed.push_back(add);
  if (const Node* s = survivingNode(rw.graph(), absorbed, tanh.result()))
    return MatchResult::miss(s->describe() + " is also used outside the pooler");
  std::vector<Value*> operands{x, w};
  if (bias) operands.push_back(bias);
  Node* linear =
      rw.create(&tanh, OpKind::Linear, tanh.name + "_linear", operands, {{"activation", std::string("tanh")}});
  rw.replace(tanh.result(), linear->result());
  return MatchResult::ok();
}

}  // namespace

size_t fusePooler(ir::Graph& g, PassContext& ctx) {
  return applyPatterns(g, ctx, kPass, {{"pooler", OpKind::Tanh, fuse}});
}

}  // namespace bertc::passes
