/// The com.microsoft rows of the importer's op table: ONNX Runtime's contrib
/// ops that `bertc optimize` writes (and ORT's own transformer optimizer
/// writes), mapped onto the fused IR ops of ops.def.
///
/// Each handler accepts exactly the part of the contrib op that the IR op
/// means, and names the node for everything else (training outputs that are
/// used, past state, causal or packed masks) rather than importing it wrong.
/// Debian's onnx 1.12 has no schemas for these ops, so nothing here relies on
/// onnx's checker: arity, attributes and types are checked here and by the
/// IR's shape rules.
#include <algorithm>
#include <initializer_list>

#include "frontend/import_op.h"

namespace bertc::frontend::detail {
namespace {

/// ORT's default epsilon for SkipLayerNormalization and EmbedLayerNormalization
/// (kDefaultSkipLayerNormEpsilon, kDefaultEmbedLayerNormEpsilon).
constexpr double kContribEpsilon = 1e-12;

/// Fails on any attribute not in `known`: an attribute bertc does not model
/// would be silently dropped otherwise.
void onlyAttrs(OpImport& op, std::initializer_list<std::string_view> known) {
  for (const auto& [name, value] : op.attrs)
    if (std::find(known.begin(), known.end(), name) == known.end())
      op.fail("attribute " + quote(name) + " is not supported");
}

/// Keeps result 0; the optional outputs after it must be unused. `names`
/// are the contrib op's output names, for the message.
void onlyFirstResult(OpImport& op, std::initializer_list<const char*> names) {
  auto it = names.begin();
  for (size_t i = 1; i < op.results.size(); ++i) {
    const char* what = i < names.size() ? it[i] : "an extra output";
    if (op.ctx.consumed.count(op.results[i]))
      op.fail("output " + std::to_string(i) + " (" + what + ", " + quote(op.results[i]) +
              ") is used; bertc supports only output 0 of " + op.proto.op_type());
  }
  if (op.results.size() > 1) op.results.resize(1);
}

/// Fails if any of operands [from, end) is present.
void noOperandsFrom(OpImport& op, size_t from, std::initializer_list<const char*> names) {
  auto it = names.begin();
  for (size_t i = from; i < op.operands.size(); ++i)
    if (op.operands[i])
      op.fail("input " + std::to_string(i) + " (" + (i - from < names.size() ? it[i - from] : "extra") +
              ") is not supported");
  op.operands.resize(std::min(op.operands.size(), from));
}

/// The concrete shape of operand i, when the import can know it: a constant,
/// a typed graph input, or a type the model declares in value_info.
std::optional<std::vector<int64_t>> knownShape(const OpImport& op, size_t i) {
  const ir::Value* v = op.operands[i];
  if (v->isConstant()) return v->constant->shape();
  if (v->type.known()) return v->type.constShape();
  auto it = op.ctx.declared.find(v->name);
  if (it == op.ctx.declared.end() || !it->second->has_shape()) return std::nullopt;
  std::vector<int64_t> shape;
  for (const auto& d : it->second->shape().dim()) {
    if (!d.has_dim_value()) return std::nullopt;
    shape.push_back(d.dim_value());
  }
  return shape;
}

void setDefaultEpsilon(OpImport& op) {
  if (!op.attrs.count("epsilon")) op.attrs["epsilon"] = kContribEpsilon;
  if (!op.getFloat("epsilon")) op.fail("attribute 'epsilon' must be a float");
}

/// SkipLayerNormalization(input, skip, gamma, beta?, bias?) -> SkipLayerNorm,
/// the same operands. Outputs mean, inv_std_var and input_skip_bias_sum
/// must be unused.
void importSkipLayerNorm(OpImport& op) {
  onlyAttrs(op, {"epsilon"});
  setDefaultEpsilon(op);
  noOperandsFrom(op, 5, {});
  onlyFirstResult(op, {"output", "mean", "inv_std_var", "input_skip_bias_sum"});
}

/// BiasGelu(A, B), FastGelu(X, bias?), Gelu(X): no attributes; the IR ops
/// take the same operands (com.microsoft Gelu is the exact Gelu).
void importGeluFamily(OpImport& op) { onlyAttrs(op, {}); }

/// Attention(input, weights, bias?, mask_index?) -> Attention(X, Wqkv, Bqkv, Mask?).
/// Only the plain BERT form: no past state, no attention bias, not causal,
/// equal Q/K/V widths, and the mask (if any) in the raw 2-D [batch, seq]
/// form, which checkAttentionMasks verifies once ranks are known.
void importAttention(OpImport& op) {
  onlyAttrs(op, {"num_heads", "scale", "mask_filter_value", "unidirectional", "qkv_hidden_sizes", "do_rotary",
                 "rotary_embedding_dim", "past_present_share_buffer"});
  if (!op.attrs.count("num_heads")) op.fail("has no num_heads attribute");
  if (op.getInt("num_heads", 0) <= 0) op.fail("num_heads must be positive");
  if (op.getInt("unidirectional", 0) != 0)
    op.fail("unidirectional (causal) attention is not supported; bertc compiles encoders");
  if (op.getInt("do_rotary", 0) != 0) op.fail("rotary embeddings (do_rotary) are not supported");
  if (op.attrs.count("qkv_hidden_sizes")) {
    std::vector<int64_t> sizes = op.getInts("qkv_hidden_sizes");
    if (sizes.size() != 3 || sizes[0] != sizes[1] || sizes[1] != sizes[2])
      op.fail("qkv_hidden_sizes must be three equal sizes; Q, K and V of different widths are not supported");
  }
  for (const char* a : {"unidirectional", "qkv_hidden_sizes", "do_rotary", "rotary_embedding_dim",
                        "past_present_share_buffer"})
    op.attrs.erase(a);
  if (op.operands.size() < 2 || !op.operands[0] || !op.operands[1]) op.fail("needs inputs input and weights");
  noOperandsFrom(op, 4, {"past", "attention_bias", "past_sequence_length"});
  onlyFirstResult(op, {"output", "present"});

  op.operands.resize(std::max<size_t>(op.operands.size(), 3), nullptr);
  if (!op.operands[2]) {
    // The IR's Bqkv is not optional: a missing bias is a zero one.
    auto w = knownShape(op, 1);
    if (!w || w->size() != 2)
      op.fail("has no bias, and the shape of its weights is not known at import; give a bias input");
    ir::DType dt = op.operands[1]->isConstant() ? op.operands[1]->constant->dtype() : op.operands[1]->type.dtype;
    if (!ir::isFloat(dt)) dt = ir::DType::F32;
    op.operands[2] = op.constant("bias", ir::Tensor::allocate(dt, {(*w)[1]}));
  }
  if (op.hasOperand(3)) op.ctx.attentionMasks.emplace_back(op.name, op.operands[3]);
}

/// EmbedLayerNormalization(input_ids, segment_ids?, word_embedding,
/// position_embedding, segment_embedding?, gamma, beta, mask?, position_ids?)
/// -> EmbedLayerNorm(InputIds, SegmentIds?, Word, Pos, Seg?, Gamma, Beta,
/// PositionIds?). The mask only feeds output mask_index, which (like
/// embedding_sum) must be unused, so it is dropped.
void importEmbedLayerNorm(OpImport& op) {
  onlyAttrs(op, {"epsilon", "mask_index_type"});
  op.attrs.erase("mask_index_type");
  setDefaultEpsilon(op);
  onlyFirstResult(op, {"output", "mask_index", "embedding_sum"});
  if (op.operands.size() > 9) op.fail("has " + std::to_string(op.operands.size()) + " inputs, expected at most 9");
  op.operands.resize(9, nullptr);
  for (size_t i : {0, 2, 3, 5, 6})
    if (!op.operands[i]) op.fail("required input " + std::to_string(i) + " is missing");
  if (op.hasOperand(1) != op.hasOperand(4))
    op.fail("segment_ids and segment_embedding must be given together");
  ir::Value* positionIds = op.operands[8];
  op.operands.resize(7);  // drop mask (7)
  op.operands.push_back(positionIds);
}

/// LayerNormalization: ORT registers it in the default domain, but some
/// tools write it under com.microsoft; it is the opset-17 op.
void importLayerNorm(OpImport& op) {
  onlyAttrs(op, {"axis", "epsilon", "stash_type"});
  op.dropResults(1, "the Mean/InvStdDev output");
}

using K = ir::OpKind;

constexpr OpRule kContribRules[] = {
    {"SkipLayerNormalization", K::SkipLayerNorm, importSkipLayerNorm},
    {"BiasGelu", K::BiasGelu, importGeluFamily},
    {"FastGelu", K::FastGelu, importGeluFamily},
    {"Gelu", K::Gelu, importGeluFamily},
    {"Attention", K::Attention, importAttention},
    {"EmbedLayerNormalization", K::EmbedLayerNorm, importEmbedLayerNorm},
    {"LayerNormalization", K::LayerNorm, importLayerNorm},
};

/// What the other forms of ORT's mask_index are, for the message.
std::string maskForm(int64_t rank) {
  switch (rank) {
    case 1: return "the 1-D form (lengths or start/end positions)";
    case 3: return "the 3-D [batch, seq, seq] form";
    case 4: return "the 4-D Megatron form";
    default: return "a rank-" + std::to_string(rank) + " form";
  }
}

}  // namespace

std::span<const OpRule> contribRules() { return kContribRules; }

void checkAttentionMasks(ImportContext& ctx) {
  for (const auto& [node, mask] : ctx.attentionMasks) {
    std::optional<int64_t> rank;
    if (mask->type.known()) {
      rank = static_cast<int64_t>(mask->type.rank());
    } else if (auto it = ctx.declared.find(mask->name); it != ctx.declared.end() && it->second->has_shape()) {
      rank = it->second->shape().dim_size();
    }
    if (rank && *rank != 2)
      ctx.failNode(node, "Attention",
                   "mask_index " + quote(mask->name) + " is in " + maskForm(*rank) +
                       ", which is unsupported; bertc supports only the raw 2-D [batch, seq] mask");
  }
}

}  // namespace bertc::frontend::detail
