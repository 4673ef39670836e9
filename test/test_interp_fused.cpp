// Reference semantics of the fused ops (ir/interp_fused.cpp): each fused op
// against the unfused IR graph its ops.def row describes, on the same
// interpreter with seeded random data, within 1e-6 normalised max error (the
// unfused graph rounds its intermediates to f32; the fused kernels do not).
// ONNX Runtime's contrib ops are the independent check, in
// test/python/test_contrib_ops.py.
#include <catch2/catch.hpp>

#include "ir/shape_infer.h"
#include "ir/verify.h"
#include "test/graph_builder.h"
#include "test/model_fixtures.h"

using namespace bertc;
using ir::OpKind;
using test::GraphBuilder;

namespace {

constexpr double kTol = 1e-6;

/// Builds the graph, checks it against the shape rules, runs it and returns
/// the normalised max error between outputs 0 (fused) and 1 (unfused).
double fusedVsUnfused(GraphBuilder& b, ir::Value* fused, ir::Value* unfused) {
  b.g.addOutput(fused);
  b.g.addOutput(unfused);
  auto st = ir::inferShapes(b.g);
  INFO(st.message());
  REQUIRE(st.ok());
  auto v = ir::verify(b.g);
  INFO(v.message());
  REQUIRE(v.ok());
  auto out = b.run();
  REQUIRE(out[0].shape() == out[1].shape());
  return test::normalizedMaxError(out[0], out[1]);
}

}  // namespace

TEST_CASE("fused: SkipLayerNorm is LayerNorm(X + Skip + Bias)", "[interp][fused]") {
  for (bool withBeta : {false, true}) {
    for (bool withBias : {false, true}) {
      GraphBuilder b;
      const int64_t H = 16;
      auto* x = b.input("x", b.uniform({2, 5, H}, -3, 3), {"batch", "seq"});
      auto* skip = b.input("skip", b.uniform({2, 5, H}, -3, 3), {"batch", "seq"});
      auto* gamma = b.constant(b.uniform({H}, 0.5, 1.5));
      auto* beta = withBeta ? b.constant(b.uniform({H})) : nullptr;
      auto* bias = withBias ? b.constant(b.uniform({H})) : nullptr;
      auto* fused = b.op(OpKind::SkipLayerNorm, {x, skip, gamma, beta, bias}, {{"epsilon", 1e-5}});
      auto* sum = b.op(OpKind::Add, {x, skip});
      if (bias) sum = b.op(OpKind::Add, {sum, bias});
      auto* unfused = b.op(OpKind::LayerNorm, {sum, gamma, beta}, {{"epsilon", 1e-5}});
      INFO("beta " << withBeta << " bias " << withBias);
      CHECK(fusedVsUnfused(b, fused, unfused) <= kTol);
    }
  }
}

TEST_CASE("fused: BiasGelu, FastGelu and Linear are their unfused chains", "[interp][fused]") {
  const int64_t H = 12;
  SECTION("BiasGelu = Gelu(X + Bias), exact") {
    GraphBuilder b;
    auto* x = b.input("x", b.uniform({3, 4, H}, -4, 4));
    auto* bias = b.constant(b.uniform({H}));
    auto* fused = b.op(OpKind::BiasGelu, {x, bias});
    auto* unfused = b.op(OpKind::Gelu, {b.op(OpKind::Add, {x, bias})});
    CHECK(fusedVsUnfused(b, fused, unfused) <= kTol);
  }
  SECTION("FastGelu = tanh Gelu(X + Bias), with and without bias") {
    for (bool withBias : {false, true}) {
      GraphBuilder b;
      auto* x = b.input("x", b.uniform({3, 4, H}, -4, 4));
      auto* bias = withBias ? b.constant(b.uniform({H})) : nullptr;
      auto* fused = b.op(OpKind::FastGelu, {x, bias});
      auto* y = bias ? b.op(OpKind::Add, {x, bias}) : x;
      auto* unfused = b.op(OpKind::Gelu, {y}, {{"approximate", std::string("tanh")}});
      CHECK(fusedVsUnfused(b, fused, unfused) <= kTol);
    }
  }
  SECTION("FastGelu is 0.5 y (1 + tanh(sqrt(2/pi) (y + 0.044715 y^3)))") {
    GraphBuilder b;
    auto* x = b.input("x", ir::Tensor::fromVector(ir::DType::F64, {3}, std::vector<double>{-1.5, 0.25, 2.0}));
    auto* bias = b.constant(ir::Tensor::fromVector(ir::DType::F64, {3}, std::vector<double>{0.5, 0.0, -1.0}));
    b.g.addOutput(b.op(OpKind::FastGelu, {x, bias}));
    auto out = b.run();
    for (int i = 0; i < 3; ++i) {
      double y = b.feeds[0].getDouble(i) + std::vector<double>{0.5, 0.0, -1.0}[i];
      double want = 0.5 * y * (1 + std::tanh(0.7978845608028654 * (y + 0.044715 * y * y * y)));
      CHECK(out[0].getDouble(i) == Approx(want).epsilon(1e-15));
    }
  }
  SECTION("Linear = act(X W + B) for every activation") {
    for (const char* act : {"none", "tanh", "gelu", "relu"}) {
      for (bool withBias : {false, true}) {
        GraphBuilder b;
        auto* x = b.input("x", b.uniform({2, 3, 8}), {"batch", "seq"});
        auto* w = b.constant(b.uniform({8, H}));
        auto* bias = withBias ? b.constant(b.uniform({H})) : nullptr;
        auto* fused = b.op(OpKind::Linear, {x, w, bias}, {{"activation", std::string(act)}});
        auto* y = b.op(OpKind::MatMul, {x, w});
        if (bias) y = b.op(OpKind::Add, {y, bias});
        std::string a = act;
        if (a == "tanh") y = b.op(OpKind::Tanh, {y});
        if (a == "relu") y = b.op(OpKind::Relu, {y});
        if (a == "gelu") y = b.op(OpKind::Gelu, {y});
        INFO("activation " << act << " bias " << withBias);
        CHECK(fusedVsUnfused(b, fused, y) <= kTol);
      }
    }
  }
}

namespace {

/// The unfused BERT self-attention graph of the Attention row in ops.def.
ir::Value* unfusedAttention(GraphBuilder& b, ir::Value* x, ir::Value* w, ir::Value* bqkv, ir::Value* mask,
                            ir::Value* wout, int64_t B, int64_t S, int64_t H, int64_t heads, double scale,
                            double maskFilter) {
  const int64_t d = H / heads;
  auto* qkv = b.op(OpKind::Add, {b.op(OpKind::MatMul, {x, w}), bqkv});
  ir::Node* split = b.node(OpKind::Split, {qkv}, {{"axis", int64_t{2}}, {"split", std::vector<int64_t>{H, H, H}}}, 3);
  auto heads4 = [&](ir::Value* v, std::vector<int64_t> perm) {
    auto* r = b.op(OpKind::Reshape, {v, b.i64s({B, S, heads, d})});
    return b.op(OpKind::Transpose, {r}, {{"perm", perm}});
  };
  auto* q = heads4(split->result(0), {0, 2, 1, 3});
  auto* kT = heads4(split->result(1), {0, 2, 3, 1});
  auto* v = heads4(split->result(2), {0, 2, 1, 3});
  auto* scores = b.op(OpKind::Mul, {b.op(OpKind::MatMul, {q, kT}), b.scalar(scale)});
  if (mask) {
    // (mask == 0) * maskFilter, as [B, 1, 1, S]
    auto* zero = b.op(OpKind::Equal, {mask, b.constant(ir::Tensor::scalar(mask->type.dtype, 0))});
    auto* add = b.op(OpKind::Mul, {b.op(OpKind::Cast, {zero}, {{"to", int64_t{1}}}), b.scalar(maskFilter)});
    scores = b.op(OpKind::Add, {scores, b.op(OpKind::Reshape, {add, b.i64s({B, 1, 1, S})})});
  }
  auto* p = b.op(OpKind::Softmax, {scores}, {{"axis", int64_t{-1}}});
  auto* ctx = b.op(OpKind::Transpose, {b.op(OpKind::MatMul, {p, v})}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
  auto* merged = b.op(OpKind::Reshape, {ctx, b.i64s({B, S, H})});
  return wout ? b.op(OpKind::MatMul, {merged, wout}) : merged;
}

}  // namespace

TEST_CASE("fused: Attention is the unfused multi-head attention graph", "[interp][fused]") {
  const int64_t B = 3, S = 6, Hin = 12, H = 16;
  struct Case {
    int64_t heads;
    double scale;  // 0: the default 1/sqrt(d)
    double maskFilter;
    bool mask, wout;
    ir::DType maskType;
  };
  for (const Case& c : {Case{2, 0, -10000, true, true, ir::DType::I64}, Case{4, 0.3, -10000, true, false, ir::DType::I32},
                        Case{1, 0, -1e9, true, true, ir::DType::F32}, Case{4, 0, -10000, false, true, ir::DType::I64},
                        Case{8, 0.125, -3.4e38, true, false, ir::DType::Bool}}) {
    GraphBuilder b;
    auto* x = b.input("x", b.uniform({B, S, Hin}));
    auto* mask = c.mask ? b.input("mask", GraphBuilder::paddingMask(B, S, c.maskType)) : nullptr;
    auto* w = b.constant(b.uniform({Hin, 3 * H}));
    auto* bqkv = b.constant(b.uniform({3 * H}));
    auto* wout = c.wout ? b.constant(b.uniform({H, 10})) : nullptr;
    std::map<std::string, ir::Attr> attrs{{"num_heads", c.heads}, {"mask_filter_value", c.maskFilter}};
    if (c.scale != 0) attrs["scale"] = c.scale;
    auto* fused = b.op(OpKind::Attention, {x, w, bqkv, mask, wout}, attrs);
    double scale = c.scale != 0 ? c.scale : 1.0 / std::sqrt(double(H / c.heads));
    auto* unfused = unfusedAttention(b, x, w, bqkv, mask, wout, B, S, H, c.heads, scale, c.maskFilter);
    INFO("heads " << c.heads << " scale " << c.scale << " mask " << c.mask << " wout " << c.wout);
    CHECK(fusedVsUnfused(b, fused, unfused) <= kTol);
  }
}

namespace {

bool embedSegmentsOptional() {
  // ops.def's arity check requires operands [0, min_operands): with
  // min_operands 6, SegmentIds (operand 1) and Seg (4) cannot be left out.
  if (ir::opInfo(OpKind::EmbedLayerNorm).minOperands <= 1) return true;
  WARN("EmbedLayerNorm's row in ops.def has min_operands " << ir::opInfo(OpKind::EmbedLayerNorm).minOperands
                                                          << ", so its optional SegmentIds cannot be absent; skipped");
  return false;
}

}  // namespace

TEST_CASE("fused: EmbedLayerNorm is LayerNorm of the gathered embeddings", "[interp][fused]") {
  const int64_t B = 2, S = 5, H = 8, V = 30, P = 7, T = 2;
  for (int posForm : {0, 1, 2}) {  // default positions, [1, S], [B, S]
    for (bool withSeg : {false, true}) {
      if (!withSeg && !embedSegmentsOptional()) continue;
      GraphBuilder b;
      // A constant [1, S] PositionIds needs a constant seq to pass the shape rule.
      std::vector<std::string> dims = posForm == 1 ? std::vector<std::string>{} : std::vector<std::string>{"batch", "seq"};
      auto* ids = b.input("ids", b.ints({B, S}, V), dims);
      auto* segIds = withSeg ? b.input("seg", b.ints({B, S}, T, ir::DType::I32), dims) : nullptr;
      ir::Value* posIds = nullptr;
      if (posForm == 1) posIds = b.constant(ir::Tensor::fromVector(ir::DType::I64, {1, S}, std::vector<int64_t>{2, 3, 4, 5, 6}));
      if (posForm == 2) posIds = b.input("pos", b.ints({B, S}, P), dims);
      auto* word = b.constant(b.uniform({V, H}));
      auto* pos = b.constant(b.uniform({P, H}));
      auto* seg = withSeg ? b.constant(b.uniform({T, H})) : nullptr;
      auto* gamma = b.constant(b.uniform({H}, 0.5, 1.5));
      auto* beta = b.constant(b.uniform({H}));
      auto* fused = b.op(OpKind::EmbedLayerNorm, {ids, segIds, word, pos, seg, gamma, beta, posIds}, {{"epsilon", 1e-6}});
      ir::Value* positions = posIds ? posIds : b.i64s({0, 1, 2, 3, 4});
      auto* sum = b.op(OpKind::Add, {b.op(OpKind::Gather, {word, ids}), b.op(OpKind::Gather, {pos, positions})});
      if (seg) sum = b.op(OpKind::Add, {sum, b.op(OpKind::Gather, {seg, segIds})});
      auto* unfused = b.op(OpKind::LayerNorm, {sum, gamma, beta}, {{"epsilon", 1e-6}});
      INFO("position form " << posForm << " segments " << withSeg);
      CHECK(fusedVsUnfused(b, fused, unfused) <= kTol);
    }
  }
}

TEST_CASE("fused: bad operands are errors naming the node", "[interp][fused]") {
  auto errorOf = [](GraphBuilder& b, ir::Value* out) {
    b.g.addOutput(out);
    auto r = ir::interpret(b.g, b.feeds);
    REQUIRE_FALSE(r.ok());
    return r.message();
  };
  SECTION("token id out of range") {
    GraphBuilder b;
    auto* ids = b.input("ids", ir::Tensor::fromVector(ir::DType::I64, {1, 3}, std::vector<int64_t>{1, 40, 2}));
    auto* seg = b.input("seg", ir::Tensor::allocate(ir::DType::I64, {1, 3}));
    auto* out = b.op(OpKind::EmbedLayerNorm,
                     {ids, seg, b.constant(b.uniform({30, 4})), b.constant(b.uniform({8, 4})),
                      b.constant(b.uniform({2, 4})), b.constant(b.uniform({4})), b.constant(b.uniform({4}))},
                     {}, "embed");
    CHECK(errorOf(b, out) ==
          "node 'embed' (EmbedLayerNorm): InputIds[0, 1] = 40 is out of range for Word with 30 rows");
  }
  SECTION("sequence longer than the position table") {
    GraphBuilder b;
    auto* ids = b.input("ids", b.ints({1, 9}, 30));
    auto* seg = b.input("seg", ir::Tensor::allocate(ir::DType::I64, {1, 9}));
    auto* out = b.op(OpKind::EmbedLayerNorm,
                     {ids, seg, b.constant(b.uniform({30, 4})), b.constant(b.uniform({8, 4})),
                      b.constant(b.uniform({2, 4})), b.constant(b.uniform({4})), b.constant(b.uniform({4}))},
                     {}, "embed");
    CHECK(errorOf(b, out) == "node 'embed' (EmbedLayerNorm): position[0, 8] = 8 is out of range for Pos with 8 rows");
  }
  SECTION("mask of the wrong shape") {
    GraphBuilder b;
    auto* x = b.input("x", b.uniform({2, 3, 4}));
    auto* mask = b.input("mask", ir::Tensor::allocate(ir::DType::I32, {2, 4}));
    auto* out = b.op(OpKind::Attention,
                     {x, b.constant(b.uniform({4, 12})), b.constant(b.uniform({12})), mask}, {{"num_heads", int64_t{2}}},
                     "att");
    CHECK(errorOf(b, out) == "node 'att' (Attention): Mask must be [batch, seq] = [2, 3], got [2, 4]");
  }
  SECTION("heads that do not divide the hidden size") {
    GraphBuilder b;
    auto* x = b.input("x", b.uniform({2, 3, 4}));
    auto* out = b.op(OpKind::Attention, {x, b.constant(b.uniform({4, 12})), b.constant(b.uniform({12}))},
                     {{"num_heads", int64_t{3}}}, "att");
    CHECK(errorOf(b, out) ==
          "node 'att' (Attention): num_heads 3 must be positive and divide the hidden size 4");
  }
}
