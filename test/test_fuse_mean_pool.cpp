// fuse-mean-pool on hand-built sentence-transformers heads: golden IR after
// the pass, the old ops gone, the same outputs on the reference interpreter
// (padded masks, normalised max error <= 1e-5), the misses explained; and
// MeanPool's reference semantics on masks that are not 0/1.
#include <catch2/catch.hpp>

#include "ir/shape_infer.h"
#include "ir/verify.h"
#include "passes/fusions.h"
#include "test/fusion_graphs.h"
#include "test/golden.h"
#include "test/graph_builder.h"
#include "test/model_fixtures.h"

using namespace bertc;
using ir::OpKind;

namespace {

void checkFused(test::MeanPoolForm form, const std::string& golden) {
  auto g = test::buildMeanPool(form);
  passes::PassContext ctx;
  ctx.explain = true;
  CHECK(passes::fuseMeanPool(*g, ctx) == 1);
  CHECK(ctx.notes.empty());
  REQUIRE(ir::verify(*g).ok());
  const ir::Node& pool = test::onlyNode(*g, OpKind::MeanPool);
  CHECK(pool.operand(1) == g->inputs()[1]);  // the [batch, seq] mask itself
  CHECK(pool.getFloat("epsilon", 0) == Approx(1e-9));
  for (OpKind op : {OpKind::ReduceSum, OpKind::Div, OpKind::Clip, OpKind::Max, OpKind::Mul, OpKind::Cast,
                    OpKind::Expand, OpKind::Unsqueeze, OpKind::Shape})
    CHECK(test::countOps(*g, op) == 0);
  CHECK(g->outputs()[0]->name == "sentence_embedding");
  test::checkGolden(*g, golden);
  CHECK(test::fusedVsUnfusedError(*test::buildMeanPool(form), *g) <= 1e-5);
}

}  // namespace

TEST_CASE("fuse-mean-pool: torch.onnx's Unsqueeze/Expand/Cast, Mul(X, w), Clip", "[fusion]") {
  checkFused(test::MeanPoolForm::TorchScript, "fuse_mean_pool_torchscript");
}

TEST_CASE("fuse-mean-pool: broadcasting Mul(w, X) without Expand, Max(eps, sum), axis -2", "[fusion]") {
  checkFused(test::MeanPoolForm::Broadcast, "fuse_mean_pool_broadcast");
}

TEST_CASE("fuse-mean-pool: near misses say why", "[fusion]") {
  SECTION("a sum over the hidden axis") {
    auto g = test::buildMeanPool(test::MeanPoolForm::HiddenAxis);
    passes::PassContext ctx;
    ctx.explain = true;
    CHECK(passes::fuseMeanPool(*g, ctx) == 0);
    REQUIRE(ctx.notes.size() == 1);
    CHECK(ctx.notes[0] == "fuse-mean-pool: node 'sentence_embedding' (Div): mean-pool: numerator: node "
                          "'sum_embeddings' (ReduceSum): not a sum over axis 1 (the sequence) of a [batch, seq, "
                          "hidden] tensor");
  }
  SECTION("the count of another mask") {
    auto g = test::buildMeanPool(test::MeanPoolForm::OtherMask);
    passes::PassContext ctx;
    ctx.explain = true;
    CHECK(passes::fuseMeanPool(*g, ctx) == 0);
    REQUIRE(ctx.notes.size() == 1);
    CHECK(ctx.notes[0] == "fuse-mean-pool: node 'sentence_embedding' (Div): mean-pool: node 'sum_mask' (ReduceSum): "
                          "does not sum the numerator's mask weights");
  }
  SECTION("the weighted sum also a graph output") {
    auto g = test::buildMeanPool(test::MeanPoolForm::TorchScript);
    for (const auto& n : g->nodes())
      if (n->name == "sum_embeddings") g->addOutput(n->result());
    passes::PassContext ctx;
    ctx.explain = true;
    CHECK(passes::fuseMeanPool(*g, ctx) == 0);
    REQUIRE(ctx.notes.size() == 1);
    CHECK(ctx.notes[0] == "fuse-mean-pool: node 'sentence_embedding' (Div): mean-pool: node 'sum_embeddings' "
                          "(ReduceSum) is also used outside the pooling");
  }
}

TEST_CASE("MeanPool counts every nonzero mask value as one real token", "[fusion][interp]") {
  // Mask values 0, 1, 2 and 0.5 (an f32 mask), and a row with none
  // kept. A mask marks tokens (README, "The attention mask"), so the
  // reference is the unfused chain weighing by Cast(Cast(mask, bool), f32):
  // what `bertc optimize` writes back, and what the compiled code packs.
  test::GraphBuilder b;
  auto* x = b.input("hidden", b.uniform({2, 4, 3}));
  ir::Tensor m = ir::Tensor::fromVector(ir::DType::F32, {2, 4}, std::vector<float>{0, 1, 2, 0.5f, 0, 0, 0, 0});
  auto* mask = b.input("mask", m);
  auto* pooled = b.op(OpKind::MeanPool, {x, mask}, {{"epsilon", 1e-9}});
  auto* kept = b.op(OpKind::Cast, {mask}, {{"to", static_cast<int64_t>(ir::DType::Bool)}});
  auto* w = b.op(OpKind::Unsqueeze, {b.op(OpKind::Cast, {kept}, {{"to", static_cast<int64_t>(ir::DType::F32)}})},
                 {{"axes", std::vector<int64_t>{2}}});
  std::map<std::string, ir::Attr> overSeq{{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}};
  auto* sum = b.op(OpKind::ReduceSum, {b.op(OpKind::Mul, {x, w})}, overSeq);
  auto* count = b.op(OpKind::ReduceSum, {w}, overSeq);
  auto* unfused = b.op(OpKind::Div, {sum, b.op(OpKind::Max, {count, b.scalar(1e-9)})});
  b.g.addOutput(pooled);
  b.g.addOutput(unfused);
  REQUIRE(ir::inferShapes(b.g).ok());
  auto out = b.run();
  CHECK(test::normalizedMaxError(out[0], out[1]) <= 1e-6);
  for (int64_t h = 0; h < 3; ++h) CHECK(out[0].getDouble(static_cast<size_t>(3 + h)) == 0.0);  // none kept: 0 / eps
}
