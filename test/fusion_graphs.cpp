#include "test/fusion_graphs.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "ir/interp.h"
#include "ir/shape_infer.h"
#include "passes/architecture.h"
#include "test/model_fixtures.h"

namespace bertc::test {
namespace {

using ir::DType;
using ir::Graph;
using ir::OpKind;
using ir::SymExpr;
using ir::Tensor;
using ir::Type;
using ir::Value;

/// A small deterministic generator (64-bit LCG), so weights are the same everywhere.
struct Rng {
  uint64_t state;
  double uniform() {  // [0, 1)
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  }
};

/// Builds nodes whose single result is named like the node.
struct Builder {
  Graph& g;
  Rng rng{42};

  Value* op(OpKind k, const std::string& name, std::vector<Value*> operands,
            std::map<std::string, ir::Attr> attrs = {}) {
    return g.addNode(k, name, std::move(operands), {name}, std::move(attrs))->result();
  }
  Value* weights(const std::string& name, std::vector<int64_t> shape, double scale = 0.5) {
    Tensor t = Tensor::allocate(DType::F32, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i) t.setDouble(static_cast<size_t>(i), (2 * rng.uniform() - 1) * scale);
    return g.addConstant(name, std::move(t));
  }
  Value* f32(const std::string& name, float v) {
    return g.addConstant(name, Tensor::fromVector(DType::F32, {}, std::vector<float>{v}));
  }
  Value* i64(const std::string& name, std::vector<int64_t> v, bool scalar = false) {
    std::vector<int64_t> shape = scalar ? std::vector<int64_t>{} : std::vector<int64_t>{static_cast<int64_t>(v.size())};
    return g.addConstant(name, Tensor::fromVector(DType::I64, shape, v));
  }
  Value* axes(const std::string& name, Value* x, std::vector<int64_t> a) {
    return op(OpKind::Unsqueeze, name, {x}, {{"axes", std::move(a)}});
  }
};

constexpr float kMin = std::numeric_limits<float>::lowest();
constexpr float kInf = std::numeric_limits<float>::infinity();

}  // namespace

std::unique_ptr<ir::Graph> buildAttention(MaskForm form, int layers) {
  auto gp = std::make_unique<Graph>();
  Builder b{*gp};
  SymExpr batch = SymExpr::symbol(gp->symbols().intern("batch")), seq = SymExpr::symbol(gp->symbols().intern("seq"));
  const int64_t d = kHidden / kHeads;
  Value* x = gp->addInput("x", Type{DType::F32, {batch, seq, SymExpr(kHidden)}});
  Value* mask = form == MaskForm::None ? nullptr : gp->addInput("attention_mask", Type{DType::I64, {batch, seq}});
  Value* wq = b.weights("wq", {kHidden, kHidden});
  Value* wk = b.weights("wk", {kHidden, kHidden});
  Value* wv = b.weights("wv", {kHidden, kHidden});
  Value* wo = b.weights("wo", {kHidden, kHidden});
  Value* bq = b.weights("bq", {kHidden}, 0.1);
  Value* bk = b.weights("bk", {kHidden}, 0.1);
  Value* bv = b.weights("bv", {kHidden}, 0.1);
  Value* bo = b.weights("bo", {kHidden}, 0.1);
  Value* split = b.i64("split_shape", {0, 0, kHeads, d});
  Value* merge = b.i64("merge_shape", {0, 0, kHidden});

  // The mask term, shared by every layer as the exporters share it.
  Value* ext = nullptr;
  switch (form) {
    case MaskForm::HfEager: case MaskForm::SmallFill: case MaskForm::PerQuery: case MaskForm::HeadBias: {
      std::vector<int64_t> axes = form == MaskForm::PerQuery ? std::vector<int64_t>{1, 3} : std::vector<int64_t>{1, 2};
      Value* u = b.axes("mask_unsqueeze", mask, axes);
      Value* c = b.op(OpKind::Cast, "mask_cast", {u}, {{"to", int64_t{1}}});
      Value* inv = b.op(OpKind::Sub, "mask_invert", {b.f32("one", 1), c});
      ext = b.op(OpKind::Mul, "mask_fill", {inv, b.f32("fill", form == MaskForm::SmallFill ? -100.0f : kMin)});
      if (form == MaskForm::HeadBias)
        ext = b.op(OpKind::Add, "head_bias", {ext, b.weights("bias_table", {1, kHeads, 1, 1})});
      break;
    }
    case MaskForm::Sdpa: {
      Value* m = b.axes("mask_unsqueeze", b.op(OpKind::Cast, "mask_bool", {mask}, {{"to", int64_t{9}}}), {1, 2});
      Value* bsz = b.op(OpKind::Shape, "mask_batch", {mask}, {{"start", int64_t{0}}, {"end", int64_t{1}}});
      Value* len = b.op(OpKind::Shape, "mask_len", {mask}, {{"start", int64_t{1}}, {"end", int64_t{2}}});
      Value* shape = b.op(OpKind::Concat, "mask_shape", {bsz, b.i64("one_dim", {1}), len, len}, {{"axis", int64_t{0}}});
      Value* e = b.op(OpKind::Expand, "mask_expand", {m, shape});
      ext = b.op(OpKind::Where, "mask_where", {e, b.f32("zero", 0), b.f32("neg_inf", -kInf)});
      break;
    }
    case MaskForm::Causal: {
      Value* len = b.op(OpKind::Gather, "seq_len", {b.op(OpKind::Shape, "x_shape", {x}), b.i64("one_idx", {1}, true)});
      Value* r = b.op(OpKind::Range, "positions", {b.i64("zero_i", {0}, true), len, b.i64("one_i", {1}, true)});
      Value* allowed = b.op(OpKind::LessOrEqual, "causal", {b.axes("keys", r, {0}), b.axes("queries", r, {1})});
      ext = b.op(OpKind::Where, "causal_mask", {allowed, b.f32("zero", 0), b.f32("fill", kMin)});
      break;
    }
    case MaskForm::DistilBert: case MaskForm::None:
      break;
  }

  for (int layer = 0; layer < layers; ++layer) {
    std::string p = layers > 1 ? "l" + std::to_string(layer) + "_" : "";
    auto proj = [&](const std::string& n, Value* w, Value* bias, bool biasFirst) {
      Value* mm = b.op(OpKind::MatMul, p + n + "_matmul", {x, w});
      return b.op(OpKind::Add, p + n + "_bias",
                  biasFirst ? std::vector<Value*>{bias, mm} : std::vector<Value*>{mm, bias});
    };
    auto heads = [&](const std::string& n, Value* v, std::vector<int64_t> perm) {
      Value* r = b.op(OpKind::Reshape, p + n + "_split", {v, split});
      return b.op(OpKind::Transpose, p + n + "_heads", {r}, {{"perm", std::move(perm)}});
    };
    Value* qh = heads("q", proj("q", wq, bq, false), {0, 2, 1, 3});
    Value* kt = nullptr;
    Value* k = proj("k", wk, bk, true);
    if (form == MaskForm::Sdpa) {
      kt = b.op(OpKind::Transpose, p + "k_t", {heads("k", k, {0, 2, 1, 3})},
                {{"perm", std::vector<int64_t>{0, 1, 3, 2}}});
    } else {
      kt = heads("k", k, {0, 2, 3, 1});
    }
    Value* vh = heads("v", proj("v", wv, bv, false), {0, 2, 1, 3});
    Value* scores = nullptr;
    if (form == MaskForm::Sdpa) {
      Value* c = b.f32(p + "sqrt_scale", std::sqrt(1.0f / std::sqrt(static_cast<float>(d))));
      scores = b.op(OpKind::MatMul, p + "scores",
                    {b.op(OpKind::Mul, p + "q_scaled", {qh, c}), b.op(OpKind::Mul, p + "k_scaled", {kt, c})});
    } else if (form == MaskForm::DistilBert) {
      Value* qs = b.op(OpKind::Div, p + "q_scaled", {qh, b.f32(p + "sqrt_d", std::sqrt(static_cast<float>(d)))});
      scores = b.op(OpKind::MatMul, p + "scores", {qs, kt});
    } else {
      scores = b.op(OpKind::Div, p + "scores_scaled", {b.op(OpKind::MatMul, p + "scores", {qh, kt}),
                                                       b.f32(p + "sqrt_d", std::sqrt(static_cast<float>(d)))});
    }
    Value* logits = scores;
    if (form == MaskForm::DistilBert) {
      Value* eq = b.op(OpKind::Equal, p + "mask_is_pad", {mask, b.i64(p + "zero_i", {0}, true)});
      Value* e = b.op(OpKind::Expand, p + "mask_expand",
                      {b.axes(p + "mask_unsqueeze", eq, {1, 2}), b.op(OpKind::Shape, p + "scores_shape", {scores})});
      logits = b.op(OpKind::Where, p + "mask_where", {e, b.f32(p + "fill", kMin), scores});
    } else if (ext) {
      logits = b.op(OpKind::Add, p + "mask_add", {scores, ext});
    }
    Value* probs = b.op(OpKind::Softmax, p + "softmax", {logits}, {{"axis", int64_t{-1}}});
    if (form == MaskForm::Sdpa)
      probs = b.op(OpKind::Where, p + "nan_guard",
                   {b.op(OpKind::IsNaN, p + "is_nan", {probs}), b.f32(p + "zero_p", 0), probs});
    Value* ctx = b.op(OpKind::MatMul, p + "context", {probs, vh});
    Value* t = b.op(OpKind::Transpose, p + "context_t", {ctx}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
    Value* merged = b.op(OpKind::Reshape, p + "merge", {t, merge});
    x = b.op(OpKind::Add, p + "out_bias", {b.op(OpKind::MatMul, p + "out_matmul", {merged, wo}), bo});
  }
  gp->addOutput(x);
  REQUIRE(ir::inferShapes(*gp).ok());
  return gp;
}

std::unique_ptr<ir::Graph> buildEmbeddingsAndPooler(bool robertaPositions, TokenTypes tokenTypes) {
  auto gp = std::make_unique<Graph>();
  Builder b{*gp};
  SymExpr batch = SymExpr::symbol(gp->symbols().intern("batch")), seq = SymExpr::symbol(gp->symbols().intern("seq"));
  Value* ids = gp->addInput("input_ids", Type{DType::I64, {batch, seq}});
  Value* types = nullptr;
  if (tokenTypes == TokenTypes::Input) {
    types = gp->addInput("token_type_ids", Type{DType::I64, {batch, seq}});
  } else if (tokenTypes == TokenTypes::ZeroBuffer) {
    Value* zeros =
        gp->addConstant("token_type_buffer", Tensor::fromVector(DType::I64, {1, 16}, std::vector<int64_t>(16)));
    Value* len = b.op(OpKind::Shape, "type_len", {ids}, {{"start", int64_t{1}}, {"end", int64_t{2}}});
    Value* sliced = b.op(OpKind::Slice, "type_slice",
                         {zeros, b.i64("type_start", {0}), len, b.i64("type_axis", {1}), b.i64("type_step", {1})});
    types = b.op(OpKind::Expand, "token_type_ids", {sliced, b.op(OpKind::Shape, "ids_shape", {ids})});
  }
  Value* word = b.op(OpKind::Gather, "word", {b.weights("word_table", {20, kHidden}), ids});
  Value* sum = word;
  if (types) {
    Value* type = b.op(OpKind::Gather, "type", {b.weights("type_table", {2, kHidden}), types});
    sum = b.op(OpKind::Add, "word_plus_type", {word, type});
  }
  Value* posTable = b.weights("position_table", {16, kHidden});
  Value* posIds = nullptr;
  if (robertaPositions) {
    Value* pad = b.i64("pad", {1}, true);
    Value* notPad = b.op(OpKind::Not, "not_pad", {b.op(OpKind::Equal, "is_pad", {ids, pad})});
    Value* m = b.op(OpKind::Cast, "not_pad_i32", {notPad}, {{"to", int64_t{6}}});
    Value* cum = b.op(OpKind::CumSum, "cumsum", {m, b.i64("axis_one", {1}, true)});
    Value* masked = b.op(OpKind::Mul, "masked_cumsum", {cum, m});
    Value* pos = b.op(OpKind::Cast, "positions_i64", {masked}, {{"to", int64_t{7}}});
    posIds = b.op(OpKind::Add, "position_ids", {pos, pad});
  } else {
    std::vector<int64_t> arange(16);
    for (int64_t i = 0; i < 16; ++i) arange[static_cast<size_t>(i)] = i;
    Value* buffer = gp->addConstant("position_buffer", Tensor::fromVector(DType::I64, {1, 16}, arange));
    Value* len = b.op(OpKind::Shape, "ids_len", {ids}, {{"start", int64_t{1}}, {"end", int64_t{2}}});
    posIds = b.op(OpKind::Slice, "position_ids",
                  {buffer, b.i64("start", {0}), len, b.i64("slice_axis", {1}), b.i64("step", {1})});
  }
  Value* pos = b.op(OpKind::Gather, "position", {posTable, posIds});
  // RoBERTa's exports add the position term first; the fusion takes any order.
  sum = robertaPositions ? b.op(OpKind::Add, "embeddings", {pos, sum}) : b.op(OpKind::Add, "embeddings", {sum, pos});
  Value* gamma = b.weights("gamma", {kHidden});
  Value* beta = b.weights("beta", {kHidden}, 0.1);
  Value* ln =
      b.op(OpKind::LayerNorm, "embeddings_norm", {sum, gamma, beta}, {{"axis", int64_t{-1}}, {"epsilon", 1e-12}});
  Value* first = b.op(OpKind::Gather, "first_token", {ln, b.i64("zero_idx", {0}, true)}, {{"axis", int64_t{1}}});
  Value* mm = b.op(OpKind::MatMul, "pooler_matmul", {first, b.weights("pooler_w", {kHidden, kHidden})});
  Value* dense = b.op(OpKind::Add, "pooler_bias", {mm, b.weights("pooler_b", {kHidden}, 0.1)});
  gp->addOutput(ln);
  gp->addOutput(b.op(OpKind::Tanh, "pooler_output", {dense}));
  REQUIRE(ir::inferShapes(*gp).ok());
  return gp;
}

std::vector<ir::Tensor> randomInputs(const ir::Graph& g, uint64_t seed, int64_t batch, int64_t seq) {
  Rng rng{seed};
  std::vector<int64_t> env = passes::bindBatchSeq(g, batch, seq);
  if (auto s = g.symbols().find("batch"); s && env[*s] < 0) env[*s] = batch;  // graphs without integer inputs
  if (auto s = g.symbols().find("seq"); s && env[*s] < 0) env[*s] = seq;
  std::vector<Tensor> out;
  for (const Value* in : g.inputs()) {
    std::vector<int64_t> shape;
    for (const auto& dim : in->type.shape) shape.push_back(*dim.eval(env));
    Tensor t = Tensor::allocate(in->type.dtype, shape);
    for (int64_t i = 0; i < t.numel(); ++i) {
      auto k = static_cast<size_t>(i);
      if (in->name == "attention_mask") {
        int64_t row = i / seq, col = i % seq, keep = std::max<int64_t>(seq - row, 1);
        t.setInt(k, row % 2 == 0 ? col >= seq - keep : col < keep);
      } else if (in->name == "token_type_ids") {
        t.setInt(k, static_cast<int64_t>(rng.uniform() * 2));
      } else if (ir::isInteger(in->type.dtype)) {
        t.setInt(k, static_cast<int64_t>(rng.uniform() * 20));
      } else {
        t.setDouble(k, 2 * rng.uniform() - 1);
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

double fusedVsUnfusedError(const ir::Graph& before, const ir::Graph& after, uint64_t seed) {
  auto inputs = randomInputs(before, seed);
  auto want = ir::interpret(before, inputs);
  auto got = ir::interpret(after, inputs);
  INFO((want.ok() ? "" : want.message()) << (got.ok() ? "" : got.message()));
  REQUIRE(want.ok());
  REQUIRE(got.ok());
  REQUIRE(got->size() == want->size());
  double worst = 0;
  for (size_t i = 0; i < got->size(); ++i) worst = std::max(worst, normalizedMaxError((*got)[i], (*want)[i]));
  return worst;
}

std::unique_ptr<ir::Graph> buildMeanPool(MeanPoolForm form) {
  auto gp = std::make_unique<Graph>();
  Builder b{*gp};
  SymExpr batch = SymExpr::symbol(gp->symbols().intern("batch")), seq = SymExpr::symbol(gp->symbols().intern("seq"));
  Value* x = gp->addInput("hidden", Type{DType::F32, {batch, seq, SymExpr(kHidden)}});
  Value* mask = gp->addInput("attention_mask", Type{DType::I64, {batch, seq}});
  auto weights = [&](Value* m, const std::string& p) {
    if (form == MeanPoolForm::Broadcast)
      return b.op(OpKind::Cast, p + "mask_f32", {b.axes(p + "mask_3d", m, {2})}, {{"to", int64_t{1}}});
    Value* shape = b.op(OpKind::Shape, p + "x_shape", {x});
    Value* e = b.op(OpKind::Expand, p + "mask_expanded", {b.axes(p + "mask_3d", m, {-1}), shape});
    return b.op(OpKind::Cast, p + "mask_f32", {e}, {{"to", int64_t{1}}});
  };
  Value* w = weights(mask, "");
  std::vector<int64_t> axis{form == MeanPoolForm::HiddenAxis ? 2 : form == MeanPoolForm::Broadcast ? -2 : 1};
  auto sum = [&](const std::string& name, Value* v) {
    return b.op(OpKind::ReduceSum, name, {v}, {{"axes", axis}, {"keepdims", int64_t{0}}});
  };
  Value* prod = form == MeanPoolForm::Broadcast ? b.op(OpKind::Mul, "weighted", {w, x})
                                                : b.op(OpKind::Mul, "weighted", {x, w});
  Value* num = sum("sum_embeddings", prod);
  Value* countOf = w;
  if (form == MeanPoolForm::OtherMask)
    countOf = weights(gp->addInput("other_mask", Type{DType::I64, {batch, seq}}), "other_");
  Value* count = sum("sum_mask", countOf);
  Value* den = form == MeanPoolForm::Broadcast ? b.op(OpKind::Max, "clamped", {b.f32("eps", 1e-9f), count})
                                               : b.op(OpKind::Clip, "clamped", {count, b.f32("eps", 1e-9f)});
  gp->addOutput(b.op(OpKind::Div, "sentence_embedding", {num, den}));
  REQUIRE(ir::inferShapes(*gp).ok());
  return gp;
}

}  // namespace bertc::test
