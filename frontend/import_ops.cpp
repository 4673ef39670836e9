/// The op table of the importer: which ONNX op becomes which IR op, and how
/// each op's opset variants are normalised to the IR form (ir/ops.def):
/// operands that are constants in every export (axes, split sizes) become
/// attributes; attributes that later opsets turned into operands (Clip's
/// min/max, Slice's starts/ends) become constant operands.
///
/// Each handler accepts every opset's form it can recognise from the node
/// itself (an `axes` input or an `axes` attribute), so only the semantics
/// that differ between opsets (Softmax's axis) look at the opset number.
#include <algorithm>

#include "frontend/import_op.h"

namespace bertc::frontend::detail {
namespace {

void importPlain(OpImport&) {}

/// Unsqueeze, Squeeze: axes is an attribute before opset 13, an input after.
void importSqueeze(OpImport& op) {
  op.operandToAttr(1, "axes");
  if (op.kind == ir::OpKind::Unsqueeze && !op.attrs.count("axes")) op.fail("has no axes");
}

/// ReduceSum takes axes as an input from opset 13, ReduceMean and ReduceMax
/// from opset 18; before, an attribute. No axes means every axis (unless
/// noop_with_empty_axes, which is kept as an attribute).
void importReduce(OpImport& op) { op.operandToAttr(1, "axes"); }

/// Split: sizes in attribute `split` before opset 13, in input 1 after; with
/// neither, equal parts, one per output (opset 18 spells the count out as
/// num_outputs, and lets the last part be smaller).
void importSplit(OpImport& op) {
  op.operandToAttr(1, "split");
  if (op.attrs.count("split")) {
    std::vector<int64_t> split = op.getInts("split");
    if (split.size() != op.results.size())
      op.fail("has " + std::to_string(split.size()) + " split sizes but " + std::to_string(op.results.size()) +
              " outputs");
    for (int64_t s : split)
      if (s < 0) op.fail("split size " + std::to_string(s) + " is negative");
    op.attrs.erase("num_outputs");
  } else if (!op.attrs.count("num_outputs")) {
    op.attrs["num_outputs"] = static_cast<int64_t>(op.results.size());
  }
}

/// Clip: min and max are float attributes before opset 11, optional scalar
/// inputs after. The attribute form becomes constant operands of the input's
/// element type when the model declares it (float otherwise, the only type
/// exporters of that era used).
void importClip(OpImport& op) {
  auto lo = op.getFloat("min"), hi = op.getFloat("max");
  op.attrs.erase("min");
  op.attrs.erase("max");
  if (!lo && !hi) return;
  if (op.operands.size() > 1) op.fail("has min/max both as inputs and as attributes");
  ir::DType dtype = ir::DType::F32;
  const ir::Value* x = op.operands[0];
  if (x && x->type.known() && ir::isFloat(x->type.dtype)) {
    dtype = x->type.dtype;
  } else if (auto it = op.ctx.declared.find(op.proto.input(0)); it != op.ctx.declared.end()) {
    if (auto d = ir::dtypeFromOnnx(it->second->elem_type()); d && ir::isFloat(*d)) dtype = *d;
  }
  op.operands.resize(3, nullptr);
  if (lo) op.operands[1] = op.constant("min", ir::Tensor::scalar(dtype, *lo));
  if (hi) op.operands[2] = op.constant("max", ir::Tensor::scalar(dtype, *hi));
}

/// Cast: `to` is an ONNX element type code, which is also the IR DType code.
void importCast(OpImport& op) {
  if (!op.attrs.count("to")) op.fail("has no 'to' attribute");
  int64_t to = op.getInt("to", 0);
  if (to < INT32_MIN || to > INT32_MAX || !ir::dtypeFromOnnx(static_cast<int32_t>(to)))
    op.fail("casts to " + onnxTypeName(static_cast<int32_t>(std::clamp<int64_t>(to, INT32_MIN, INT32_MAX))) +
            ", an element type bertc does not support");
}

/// Dropout is the identity at inference. Its mask output and a true
/// training_mode input (opset 12+) belong to training; ratio is ignored.
void importDropout(OpImport& op) {
  if (op.hasOperand(2)) {
    const ir::Value* mode = op.operands[2];
    if (!mode->isConstant()) op.fail("input training_mode must be a constant");
    const ir::Tensor& t = *mode->constant;
    if (t.dtype() != ir::DType::Bool) op.fail("input training_mode must be a bool");
    for (int64_t i = 0; i < t.numel(); ++i)
      if (t.getInt(static_cast<size_t>(i)) != 0) op.fail("training_mode is true; bertc imports inference graphs only");
  }
  op.operands.resize(1);
  op.attrs.clear();  // ratio, seed: meaningless at inference
  op.dropResults(1, "the mask output");
}

/// LayerNormalization (opset 17) -> LayerNorm; the Mean and InvStdDev
/// outputs exist for training.
void importLayerNorm(OpImport& op) { op.dropResults(1, "the Mean/InvStdDev output"); }

/// Softmax: from opset 13 along `axis` (default -1). Before, it flattens the
/// input to 2-D at `axis` (default 1) and normalises each row; that is the
/// same thing only when axis is the last axis, which checkLegacySoftmax
/// verifies once ranks are known.
void importSoftmax(OpImport& op) {
  if (op.ctx.opset >= 13) {
    if (!op.attrs.count("axis")) op.attrs["axis"] = int64_t{-1};
    return;
  }
  int64_t axis = op.getInt("axis", 1);
  op.attrs["axis"] = axis;
  op.legacySoftmaxAxis = axis;
}

/// Slice: starts, ends and axes are attributes before opset 10, inputs (with
/// steps) after. The attribute form becomes constant operands.
void importSlice(OpImport& op) {
  bool attrForm = op.attrs.count("starts") || op.attrs.count("ends");
  if (!attrForm) return;
  if (op.operands.size() > 1) op.fail("has starts/ends both as inputs and as attributes");
  if (!op.attrs.count("starts") || !op.attrs.count("ends")) op.fail("needs both the starts and ends attributes");
  op.operands.push_back(op.intsConstant("starts", op.getInts("starts")));
  op.operands.push_back(op.intsConstant("ends", op.getInts("ends")));
  if (op.attrs.count("axes")) op.operands.push_back(op.intsConstant("axes", op.getInts("axes")));
  op.attrs.erase("starts");
  op.attrs.erase("ends");
  op.attrs.erase("axes");
}

using K = ir::OpKind;

/// Every ONNX op (default domain) that bertc imports. An op of ops.def with
/// no row here is a fused op, imported only from ONNX Runtime's contrib ops
/// (import_contrib.cpp).
constexpr OpRule kRules[] = {
    {"Add", K::Add, importPlain},
    {"Sub", K::Sub, importPlain},
    {"Mul", K::Mul, importPlain},
    {"Div", K::Div, importPlain},
    {"Pow", K::Pow, importPlain},
    {"Max", K::Max, importPlain},
    {"Min", K::Min, importPlain},
    {"Mod", K::Mod, importPlain},
    {"Equal", K::Equal, importPlain},
    {"Less", K::Less, importPlain},
    {"LessOrEqual", K::LessOrEqual, importPlain},
    {"Greater", K::Greater, importPlain},
    {"GreaterOrEqual", K::GreaterOrEqual, importPlain},
    {"And", K::And, importPlain},
    {"Or", K::Or, importPlain},
    {"Where", K::Where, importPlain},
    {"Not", K::Not, importPlain},
    {"Neg", K::Neg, importPlain},
    {"Abs", K::Abs, importPlain},
    {"Sign", K::Sign, importPlain},
    {"Sqrt", K::Sqrt, importPlain},
    {"Reciprocal", K::Reciprocal, importPlain},
    {"Exp", K::Exp, importPlain},
    {"Log", K::Log, importPlain},
    {"Erf", K::Erf, importPlain},
    {"Tanh", K::Tanh, importPlain},
    {"Sigmoid", K::Sigmoid, importPlain},
    {"Relu", K::Relu, importPlain},
    {"Floor", K::Floor, importPlain},
    {"Ceil", K::Ceil, importPlain},
    {"IsNaN", K::IsNaN, importPlain},
    {"IsInf", K::IsInf, importPlain},
    {"Gelu", K::Gelu, importPlain},
    {"Clip", K::Clip, importClip},
    {"Cast", K::Cast, importCast},
    {"Identity", K::Identity, importPlain},
    {"Dropout", K::Identity, importDropout},
    {"MatMul", K::MatMul, importPlain},
    {"Gemm", K::Gemm, importPlain},
    {"Softmax", K::Softmax, importSoftmax},
    {"LayerNormalization", K::LayerNorm, importLayerNorm},
    {"ReduceMean", K::ReduceMean, importReduce},
    {"ReduceSum", K::ReduceSum, importReduce},
    {"ReduceMax", K::ReduceMax, importReduce},
    {"CumSum", K::CumSum, importPlain},
    {"Shape", K::Shape, importPlain},
    {"Reshape", K::Reshape, importPlain},
    {"Flatten", K::Flatten, importPlain},
    {"Transpose", K::Transpose, importPlain},
    {"Unsqueeze", K::Unsqueeze, importSqueeze},
    {"Squeeze", K::Squeeze, importSqueeze},
    {"Concat", K::Concat, importPlain},
    {"Split", K::Split, importSplit},
    {"Slice", K::Slice, importSlice},
    {"Gather", K::Gather, importPlain},
    {"GatherND", K::GatherND, importPlain},
    {"Expand", K::Expand, importPlain},
    {"Tile", K::Tile, importPlain},
    {"ConstantOfShape", K::ConstantOfShape, importPlain},
    {"Range", K::Range, importPlain},
    {"Trilu", K::Trilu, importPlain},
};

bool isDefaultDomain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

const OpRule* findRule(const std::string& domain, const std::string& opType) {
  if (domain == kMicrosoftDomain) {
    for (const OpRule& r : contribRules())
      if (r.onnxName == opType) return &r;
    return nullptr;
  }
  if (!isDefaultDomain(domain)) return nullptr;
  for (const OpRule& r : kRules)
    if (r.onnxName == opType) return &r;
  return nullptr;
}

}  // namespace

bool isSupportedOp(const std::string& domain, const std::string& opType) {
  return findRule(domain, opType) != nullptr || (isDefaultDomain(domain) && opType == "Constant");
}

void importNode(ImportContext& ctx, const onnx::NodeProto& node, const std::string& name) {
  const OpRule* rule = findRule(node.domain(), node.op_type());
  if (!rule) ctx.failNode(name, node.op_type(), "unsupported op");  // listed earlier; kept for safety
  OpImport op{ctx, node, name, rule->kind, {}, {}, {}, std::nullopt};
  const std::string prefix = ctx.nodePrefix(name, node.op_type());

  for (const std::string& in : node.input()) {
    if (in.empty()) {
      op.operands.push_back(nullptr);  // an omitted optional input
      continue;
    }
    auto it = ctx.values.find(in);
    if (it == ctx.values.end()) op.fail("input " + quote(in) + " is not defined");
    op.operands.push_back(it->second);
  }
  for (const auto& a : node.attribute()) op.attrs[a.name()] = importAttr(ctx, a, prefix);
  op.results.assign(node.output().begin(), node.output().end());
  while (!op.results.empty() && op.results.back().empty()) op.results.pop_back();
  for (size_t i = 0; i < op.results.size(); ++i)
    if (op.results[i].empty()) op.results[i] = ctx.uniqueName(name + "/unused" + std::to_string(i));

  rule->import(op);

  while (!op.operands.empty() && !op.operands.back()) op.operands.pop_back();
  const ir::OpInfo& info = ir::opInfo(rule->kind);
  const size_t nIn = op.operands.size(), nOut = op.results.size();
  if (nIn < static_cast<size_t>(info.minOperands) ||
      (info.maxOperands >= 0 && nIn > static_cast<size_t>(info.maxOperands))) {
    std::string want = info.maxOperands == info.minOperands ? std::to_string(info.minOperands)
                       : info.maxOperands < 0 ? "at least " + std::to_string(info.minOperands)
                                              : std::to_string(info.minOperands) + " to " +
                                                    std::to_string(info.maxOperands);
    op.fail("has " + std::to_string(nIn) + " inputs, expected " + want);
  }
  for (int i = 0; i < info.minOperands; ++i)
    if (!op.operands[static_cast<size_t>(i)]) op.fail("required input " + std::to_string(i) + " is missing");
  if (info.results >= 0 ? nOut != static_cast<size_t>(info.results) : nOut == 0)
    op.fail("has " + std::to_string(nOut) + " outputs, expected " +
            (info.results >= 0 ? std::to_string(info.results) : std::string("at least 1")));

  ir::Node* n = ctx.graph->addNode(rule->kind, name, std::move(op.operands), op.results, std::move(op.attrs));
  for (ir::Value* r : n->results) ctx.values[r->name] = r;
  if (op.legacySoftmaxAxis) ctx.legacySoftmax.emplace_back(n, *op.legacySoftmaxAxis);
}

void importConstantNode(ImportContext& ctx, const onnx::NodeProto& node, const std::string& name) {
  auto fail = [&](const std::string& what) { ctx.failNode(name, "Constant", what); };
  if (node.output_size() != 1 || node.output(0).empty()) fail("must have exactly one output");
  if (node.input_size() != 0) fail("must have no inputs");
  if (node.attribute_size() != 1)
    fail("must have exactly one value attribute, has " + std::to_string(node.attribute_size()));
  const onnx::AttributeProto& a = node.attribute(0);
  ir::Attr v = importAttr(ctx, a, ctx.nodePrefix(name, "Constant"));
  const std::string& key = a.name();
  std::optional<ir::Tensor> t;
  if (key == "value" && std::holds_alternative<ir::Tensor>(v)) {
    t = std::get<ir::Tensor>(std::move(v));
  } else if (key == "value_float" && std::holds_alternative<double>(v)) {
    t = ir::Tensor::fromVector(ir::DType::F32, {}, std::vector<float>{static_cast<float>(std::get<double>(v))});
  } else if (key == "value_floats" && std::holds_alternative<std::vector<double>>(v)) {
    const auto& d = std::get<std::vector<double>>(v);
    t = vectorTensor(ir::DType::F32, std::vector<float>(d.begin(), d.end()));
  } else if (key == "value_int" && std::holds_alternative<int64_t>(v)) {
    t = ir::Tensor::fromVector(ir::DType::I64, {}, std::vector<int64_t>{std::get<int64_t>(v)});
  } else if (key == "value_ints" && std::holds_alternative<std::vector<int64_t>>(v)) {
    t = vectorTensor(ir::DType::I64, std::get<std::vector<int64_t>>(v));
  } else {
    fail("attribute " + quote(key) + " is not a supported constant form (value, value_float(s), value_int(s))");
  }
  const std::string& out = node.output(0);
  ctx.values[out] = ctx.graph->addConstant(out, std::move(*t));
}

void checkLegacySoftmax(ImportContext& ctx) {
  for (auto [n, axis] : ctx.legacySoftmax) {
    const ir::Value* x = n->operand(0);
    std::optional<int64_t> rank;
    if (x->type.known()) {
      rank = static_cast<int64_t>(x->type.rank());
    } else if (auto it = ctx.declared.find(x->name); it != ctx.declared.end() && it->second->has_shape()) {
      rank = it->second->shape().dim_size();
    }
    if (!rank) {
      if (axis == -1) continue;
      ctx.failNode(n->name, "Softmax",
                   "before opset 13 Softmax flattens its input to 2-D at axis " + std::to_string(axis) +
                       ", and the input's rank is unknown; bertc supports only the last axis");
    }
    int64_t a = axis < 0 ? axis + *rank : axis;
    if (a != *rank - 1)
      ctx.failNode(n->name, "Softmax",
                   "unsupported: before opset 13 Softmax flattens its input to 2-D at axis " + std::to_string(axis) +
                       ", which is not the last axis of this rank-" + std::to_string(*rank) +
                       " input; bertc supports only the last axis (re-export with opset >= 13)");
  }
}

}  // namespace bertc::frontend::detail
