// fuse-attention on hand-built attention blocks, one per exporter form:
// golden IR after the pass, the old ops gone, the same outputs on the
// reference interpreter (padded masks, 1e-5 normalised), and near misses
// that must not fuse, with the --explain note that says why.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>

#include "ir/graph.h"
#include "ir/shape_infer.h"
#include "ir/verify.h"
#include "passes/fusions.h"
#include "test/fusion_graphs.h"
#include "test/golden.h"

using namespace bertc;
using ir::OpKind;
using test::MaskForm;

namespace {

const ir::Node* findOp(const ir::Graph& g, OpKind op) {
  for (const auto& n : g.nodes())
    if (n->op == op) return n.get();
  return nullptr;
}

/// Runs fuse-attention with --explain on; returns the change count.
size_t runFuse(ir::Graph& g, passes::PassContext& ctx) {
  ctx.explain = true;
  size_t changes = passes::fuseAttention(g, ctx);
  REQUIRE(ir::verify(g).ok());
  return changes;
}

bool anyNoteContains(const passes::PassContext& ctx, const std::string& text) {
  for (const auto& n : ctx.notes)
    if (n.find(text) != std::string::npos) return true;
  return false;
}

/// The block is one Attention node: nothing of the unfused form is left.
void checkFused(const ir::Graph& g, double scale, bool masked) {
  CHECK(test::countOps(g, OpKind::Attention) == 1);
  for (OpKind op : {OpKind::Softmax, OpKind::MatMul, OpKind::Transpose, OpKind::Reshape, OpKind::Where,
                    OpKind::IsNaN, OpKind::Cast, OpKind::Unsqueeze, OpKind::Expand, OpKind::Div})
    CHECK(test::countOps(g, op) == 0);
  const ir::Node* a = findOp(g, OpKind::Attention);
  REQUIRE(a);
  CHECK(a->getInt("num_heads", 0) == test::kHeads);
  CHECK(a->getFloat("scale", 0) == Approx(scale).epsilon(1e-6));
  CHECK(a->getFloat("mask_filter_value", 0) == -10000.0);
  REQUIRE(a->operands.size() == 5);
  CHECK((a->operand(3) == nullptr) == !masked);
  if (masked) CHECK(a->operand(3) == g.inputs()[1]);
  CHECK(a->operand(4)->isConstant());
  // The output projection's bias stays for SkipLayerNorm.
  CHECK(test::countOps(g, OpKind::Add) == 1);
}

}  // namespace

TEST_CASE("fuse-attention: HF eager (1 - mask) * min, scores / sqrt(d)", "[fusion]") {
  auto g = test::buildAttention(MaskForm::HfEager);
  passes::PassContext ctx;
  CHECK(runFuse(*g, ctx) == 1);
  checkFused(*g, 0.5, true);
  test::checkGolden(*g, "fuse_attention_hf_eager");
  CHECK(test::fusedVsUnfusedError(*test::buildAttention(MaskForm::HfEager), *g) <= 1e-5);
}

TEST_CASE("fuse-attention: DistilBERT Where(mask == 0, min, scores), q / sqrt(d)", "[fusion]") {
  auto g = test::buildAttention(MaskForm::DistilBert);
  passes::PassContext ctx;
  CHECK(runFuse(*g, ctx) == 1);
  checkFused(*g, 0.5, true);
  CHECK(test::countOps(*g, OpKind::Equal) == 0);
  test::checkGolden(*g, "fuse_attention_distilbert");
  CHECK(test::fusedVsUnfusedError(*test::buildAttention(MaskForm::DistilBert), *g) <= 1e-5);
}

TEST_CASE("fuse-attention: SDPA boolean mask, sqrt(scale) on Q and K, NaN guard", "[fusion]") {
  auto g = test::buildAttention(MaskForm::Sdpa);
  passes::PassContext ctx;
  CHECK(runFuse(*g, ctx) == 1);
  checkFused(*g, std::sqrt(0.5f) * std::sqrt(0.5f), true);
  test::checkGolden(*g, "fuse_attention_sdpa");
  CHECK(test::fusedVsUnfusedError(*test::buildAttention(MaskForm::Sdpa), *g) <= 1e-5);
}

TEST_CASE("fuse-attention: no mask input gives no Mask operand", "[fusion]") {
  auto g = test::buildAttention(MaskForm::None);
  passes::PassContext ctx;
  CHECK(runFuse(*g, ctx) == 1);
  checkFused(*g, 0.5, false);
  CHECK(test::fusedVsUnfusedError(*test::buildAttention(MaskForm::None), *g) <= 1e-5);
}

TEST_CASE("fuse-attention: a causal mask does not fuse, and --explain says why", "[fusion]") {
  auto g = test::buildAttention(MaskForm::Causal);
  passes::PassContext ctx;
  CHECK(runFuse(*g, ctx) == 0);
  CHECK(test::countOps(*g, OpKind::Attention) == 0);
  CHECK(test::countOps(*g, OpKind::Softmax) == 1);
  INFO("notes: " << (ctx.notes.empty() ? "(none)" : ctx.notes[0]));
  REQUIRE(ctx.notes.size() == 1);
  CHECK(ctx.notes[0].rfind("fuse-attention: node 'softmax' (Softmax): attention: node 'mask_add' (Add): "
                            "the added term is not a key-padding mask: node 'causal' (LessOrEqual): "
                            "a comparison that depends on the query and key position",
                            0) == 0);
}

TEST_CASE("fuse-attention: a mask read per query does not fuse", "[fusion]") {
  auto g = test::buildAttention(MaskForm::PerQuery);
  passes::PassContext ctx;
  CHECK(runFuse(*g, ctx) == 0);
  CHECK(anyNoteContains(ctx, "somewhere other than [batch, key]"));
}

TEST_CASE("fuse-attention: a fill that is not large and negative does not fuse", "[fusion]") {
  auto g = test::buildAttention(MaskForm::SmallFill);
  passes::PassContext ctx;
  CHECK(runFuse(*g, ctx) == 0);
  CHECK(anyNoteContains(ctx, "to padded keys, not <= -1e4"));
}

TEST_CASE("fuse-attention: a bias added with the mask does not fuse", "[fusion]") {
  auto g = test::buildAttention(MaskForm::HeadBias);
  passes::PassContext ctx;
  CHECK(runFuse(*g, ctx) == 0);
  CHECK(anyNoteContains(ctx, "an index into constant 'bias_table' depends on the position"));
}

TEST_CASE("fuse-attention: a weight that is not a constant does not fuse", "[fusion]") {
  auto g = test::buildAttention(MaskForm::HfEager);
  ir::Value* w = g->addInput("wq_runtime", g->constants()[0]->type);
  for (const auto& n : g->nodes())
    if (n->name == "q_matmul") n->operands[1] = w;
  passes::PassContext ctx;
  CHECK(runFuse(*g, ctx) == 0);
  CHECK(anyNoteContains(ctx, "Q path: node 'q_matmul' (MatMul): the weight is not a constant matrix"));
}

TEST_CASE("fuse-attention: an intermediate used outside the block does not fuse", "[fusion]") {
  auto g = test::buildAttention(MaskForm::HfEager);
  // Expose the K projection as a graph output: fusing would compute it twice.
  for (const auto& n : g->nodes())
    if (n->name == "k_bias") g->addOutput(n->result());
  passes::PassContext ctx;
  CHECK(runFuse(*g, ctx) == 0);
  CHECK(anyNoteContains(ctx, "node 'k_bias' (Add) is also used outside the attention block"));
}

TEST_CASE("fuse-attention: ALBERT-style shared weights share one Wqkv", "[fusion]") {
  auto g = test::buildAttention(MaskForm::HfEager, /*layers=*/2);
  passes::PassContext ctx;
  CHECK(runFuse(*g, ctx) == 2);
  std::vector<const ir::Node*> attn;
  for (const auto& n : g->nodes())
    if (n->op == OpKind::Attention) attn.push_back(n.get());
  REQUIRE(attn.size() == 2);
  CHECK(attn[0]->operand(1) == attn[1]->operand(1));
  CHECK(attn[0]->operand(2) == attn[1]->operand(2));
  CHECK(test::fusedVsUnfusedError(*test::buildAttention(MaskForm::HfEager, 2), *g) <= 1e-5);
}
