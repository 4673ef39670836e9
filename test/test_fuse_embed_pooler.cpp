// fuse-embed-layernorm and fuse-pooler on hand-built embeddings and pooler:
// golden IR after the passes, the old ops gone, the same outputs on the
// reference interpreter, and the misses explained. fuse-pooler's own golden
// tests start from text (test/golden/fuse_pooler*.in.ir).
#include <catch2/catch.hpp>

#include "ir/printer.h"
#include "ir/verify.h"
#include "passes/fusions.h"
#include "test/fusion_graphs.h"
#include "test/golden.h"

using namespace bertc;
using ir::OpKind;

namespace {

const ir::Node* findOp(const ir::Graph& g, OpKind op) {
  for (const auto& n : g.nodes())
    if (n->op == op) return n.get();
  return nullptr;
}

void runBoth(ir::Graph& g, passes::PassContext& ctx) {
  ctx.explain = true;
  CHECK(passes::fuseEmbedLayerNorm(g, ctx) == 1);
  CHECK(passes::fusePooler(g, ctx) == 1);
  REQUIRE(ir::verify(g).ok());
  CHECK(test::countOps(g, OpKind::EmbedLayerNorm) == 1);
  CHECK(test::countOps(g, OpKind::LayerNorm) == 0);
  CHECK(test::countOps(g, OpKind::Linear) == 1);
  CHECK(test::countOps(g, OpKind::Tanh) == 0);
  CHECK(test::countOps(g, OpKind::MatMul) == 0);
  CHECK(test::countOps(g, OpKind::Gather) == 1);  // the pooler's first token stays
  // The graph outputs keep their names.
  CHECK(g.outputs()[0]->name == "embeddings_norm");
  CHECK(g.outputs()[1]->name == "pooler_output");
}

}  // namespace

TEST_CASE("fuse-embed-layernorm: BERT, positions sliced from an arange buffer are the default", "[fusion]") {
  auto g = test::buildEmbeddingsAndPooler(/*robertaPositions=*/false, test::TokenTypes::Input);
  passes::PassContext ctx;
  runBoth(*g, ctx);
  const ir::Node* e = findOp(*g, OpKind::EmbedLayerNorm);
  REQUIRE(e);
  CHECK(e->operands.size() == 7);  // no PositionIds
  CHECK(e->operand(1) == g->inputs()[1]);
  CHECK(test::countOps(*g, OpKind::Slice) == 0);
  test::checkGolden(*g, "fuse_embed_layernorm_bert");
  CHECK(test::fusedVsUnfusedError(*test::buildEmbeddingsAndPooler(false, test::TokenTypes::Input), *g) <= 1e-5);
}

TEST_CASE("fuse-embed-layernorm: RoBERTa's computed position ids are kept", "[fusion]") {
  auto g = test::buildEmbeddingsAndPooler(/*robertaPositions=*/true, test::TokenTypes::Input);
  passes::PassContext ctx;
  runBoth(*g, ctx);
  const ir::Node* e = findOp(*g, OpKind::EmbedLayerNorm);
  REQUIRE(e);
  REQUIRE(e->operands.size() == 8);
  CHECK(e->operand(7)->name == "position_ids");
  CHECK(test::countOps(*g, OpKind::CumSum) == 1);
  test::checkGolden(*g, "fuse_embed_layernorm_roberta");
  CHECK(test::fusedVsUnfusedError(*test::buildEmbeddingsAndPooler(true, test::TokenTypes::Input), *g) <= 1e-5);
}

TEST_CASE("fuse-embed-layernorm: DistilBERT has no token types", "[fusion]") {
  auto g = test::buildEmbeddingsAndPooler(/*robertaPositions=*/false, test::TokenTypes::None);
  passes::PassContext ctx;
  runBoth(*g, ctx);
  const ir::Node* e = findOp(*g, OpKind::EmbedLayerNorm);
  REQUIRE(e);
  CHECK(e->operand(1) == nullptr);
  CHECK(e->operand(4) == nullptr);
  test::checkGolden(*g, "fuse_embed_layernorm_distilbert");
  CHECK(test::fusedVsUnfusedError(*test::buildEmbeddingsAndPooler(false, test::TokenTypes::None), *g) <= 1e-5);
}

TEST_CASE("fuse-embed-layernorm and fuse-pooler: misses say why", "[fusion]") {
  auto g = test::buildEmbeddingsAndPooler(false, test::TokenTypes::Input);
  // Make the embedding sum a graph output too, and the pooler read the last
  // token instead of the first: neither may fuse.
  for (const auto& n : g->nodes()) {
    if (n->name == "embeddings") g->addOutput(n->result());
    if (n->name == "first_token")
      n->operands[1] = g->addConstant("last_idx", ir::Tensor::fromVector(ir::DType::I64, {}, std::vector<int64_t>{-1}));
  }
  passes::PassContext ctx;
  ctx.explain = true;
  CHECK(passes::fuseEmbedLayerNorm(*g, ctx) == 0);
  CHECK(passes::fusePooler(*g, ctx) == 0);
  REQUIRE(ctx.notes.size() == 2);
  CHECK(ctx.notes[0] ==
        "fuse-embed-layernorm: node 'embeddings_norm' (LayerNorm): embed-layernorm: node 'embeddings' (Add) "
        "is also used outside the embedding sum");
  CHECK(ctx.notes[1] == "fuse-pooler: node 'pooler_output' (Tanh): pooler: node 'first_token' (Gather): "
                        "the dense layer does not read the first token");
}

TEST_CASE("fuse-embed-layernorm: all-zero token types fold into the position table", "[fusion]") {
  auto g = test::buildEmbeddingsAndPooler(/*robertaPositions=*/false, test::TokenTypes::ZeroBuffer);
  passes::PassContext ctx;
  runBoth(*g, ctx);
  const ir::Node* e = findOp(*g, OpKind::EmbedLayerNorm);
  REQUIRE(e);
  CHECK(e->operands.size() == 7);  // no PositionIds
  CHECK(e->operand(1) == nullptr);  // no SegmentIds
  CHECK(e->operand(4) == nullptr);  // no Seg
  CHECK(e->operand(3)->name == "position_table_with_token_type_0");
  // The zero ids' Slice/Expand chain is dead with the lookup.
  CHECK(test::countOps(*g, OpKind::Expand) == 0);
  CHECK(test::countOps(*g, OpKind::Slice) == 0);
  test::checkGolden(*g, "fuse_embed_layernorm_zero_token_types");
  CHECK(test::fusedVsUnfusedError(*test::buildEmbeddingsAndPooler(false, test::TokenTypes::ZeroBuffer), *g) <= 1e-5);
}

TEST_CASE("fuse-embed-layernorm: token types that are not provably zero are not folded", "[fusion]") {
  // The same graph with a single 1 in the buffer: the ids are a computed
  // position-like lookup then, and there are two of those.
  auto g = test::buildEmbeddingsAndPooler(false, test::TokenTypes::ZeroBuffer);
  for (const auto& n : g->nodes())
    if (n->name == "type_slice") {
      std::vector<int64_t> buffer(16);
      buffer[3] = 1;
      n->operands[0] = g->addConstant("token_type_buffer_1", ir::Tensor::fromVector(ir::DType::I64, {1, 16}, buffer));
    }
  passes::PassContext ctx;
  ctx.explain = true;
  CHECK(passes::fuseEmbedLayerNorm(*g, ctx) == 0);
  REQUIRE(ctx.notes.size() == 1);
  CHECK(ctx.notes[0] == "fuse-embed-layernorm: node 'embeddings_norm' (LayerNorm): embed-layernorm: not exactly one "
                        "position lookup among the terms");
}

TEST_CASE("fuse-pooler golden: the bias after or before the MatMul, or none, becomes a tanh Linear", "[fusion]") {
  auto run = test::checkPassGolden("fuse_pooler", passes::fusePooler, {OpKind::Tanh, OpKind::MatMul, OpKind::Add});
  CHECK(run.changes == 3);
  CHECK(test::countOps(*run.after, OpKind::Linear) == 3);
  CHECK(test::countOps(*run.after, OpKind::Gather) == 3);  // the first token stays a strided read
  CHECK(test::fusedVsUnfusedError(*run.before, *run.after) <= 1e-6);
}

TEST_CASE("fuse-pooler golden: near misses stay and say why", "[fusion]") {
  auto run = test::checkPassGolden("fuse_pooler_misses", passes::fusePooler, {OpKind::Linear});
  CHECK(run.changes == 0);
  CHECK(ir::printGraph(*run.after) == ir::printGraph(*run.before));
  std::string notes;
  for (const auto& n : run.ctx.notes) notes += n + "\n";
  CHECK_THAT(notes, Catch::Contains("node 'pooled_last' (Tanh): pooler: node 'last_token' (Gather): the dense layer "
                                    "does not read the first token"));
  CHECK_THAT(notes, Catch::Contains("node 'dense_dynamic' (MatMul): the weight is not a constant matrix"));
  CHECK_THAT(notes, Catch::Contains("node 'pooled_shared' (Tanh): pooler: node 'biased_shared' (Add) is also used "
                                    "outside the pooler"));
  CHECK_THAT(notes, Catch::Contains("node 'plain_tanh' (Tanh): pooler: 'h': not a dense layer X W + b"));
}
