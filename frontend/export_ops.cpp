/// The writer's op table: each IR op as opset-17 ONNX, or as ONNX Runtime
/// contrib ops (com.microsoft) for Gelu and the fused ops that have one
/// (MeanPool has none: it is written back as the standard ops it fused).
///
/// The IR keeps axes and split sizes as attributes (ops.def); opset 17 wants
/// them as inputs for Unsqueeze, Squeeze, ReduceSum and Split, and as
/// attributes for ReduceMean and ReduceMax. Only the attributes the ONNX op
/// defines are written: the IR may carry others (the importer keeps what
/// the source model had, e.g. Split's opset-18 num_outputs), and ONNX
/// Runtime rejects attributes it does not know.
#include <algorithm>
#include <initializer_list>

#include "frontend/export_writer.h"
#include "ir/status.h"

namespace bertc::frontend::exporter {
namespace {

using K = ir::OpKind;

/// Attributes that ONNX types as FLOAT, whatever the IR holds them as.
bool isFloatAttr(const std::string& name) {
  return name == "alpha" || name == "beta" || name == "epsilon" || name == "scale" || name == "mask_filter_value";
}

void writeAttr(onnx::NodeProto* p, const std::string& name, const ir::Attr& value) {
  auto* a = p->add_attribute();
  a->set_name(name);
  if (isFloatAttr(name)) {
    a->set_type(onnx::AttributeProto::FLOAT);
    if (auto* i = std::get_if<int64_t>(&value)) a->set_f(static_cast<float>(*i));
    else if (auto* d = std::get_if<double>(&value)) a->set_f(static_cast<float>(*d));
    return;
  }
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          a->set_type(onnx::AttributeProto::INT);
          a->set_i(v);
        } else if constexpr (std::is_same_v<T, double>) {
          a->set_type(onnx::AttributeProto::FLOAT);
          a->set_f(static_cast<float>(v));
        } else if constexpr (std::is_same_v<T, std::string>) {
          a->set_type(onnx::AttributeProto::STRING);
          a->set_s(v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          a->set_type(onnx::AttributeProto::INTS);
          for (int64_t x : v) a->add_ints(x);
        } else if constexpr (std::is_same_v<T, std::vector<double>>) {
          a->set_type(onnx::AttributeProto::FLOATS);
          for (double x : v) a->add_floats(static_cast<float>(x));
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          a->set_type(onnx::AttributeProto::STRINGS);
          for (const auto& x : v) a->add_strings(x);
        } else {
          static_assert(std::is_same_v<T, ir::Tensor>);
          a->set_type(onnx::AttributeProto::TENSOR);
          onnx::TensorProto* t = a->mutable_t();
          setTensorHeader(t, "", v);
          // ConstantOfShape's value is a one-element tensor of shape [1].
          if (v.numel() == 1 && v.shape().empty()) t->add_dims(1);
          t->set_raw_data(v.data(), payloadBytes(v));
        }
      },
      value);
}

/// Copies the node's attributes named in `keep` (those it has).
void copyAttrs(onnx::NodeProto* p, const ir::Node& n, std::initializer_list<const char*> keep) {
  for (const char* k : keep)
    if (auto it = n.attrs.find(k); it != n.attrs.end()) writeAttr(p, k, it->second);
}

ir::DType dtypeOf(const ir::Value* v) { return v->isConstant() ? v->constant->dtype() : v->type.dtype; }

/// The node being written: its name, operand and result names, and the writer.
struct Emit {
  Writer& w;
  const ir::Node& n;
  std::string name;

  const std::string& in(size_t i) { return w.nameOf(n.operand(i)); }
  const std::string& out(size_t i = 0) { return w.nameOf(n.result(i)); }
  std::vector<std::string> ins() {
    std::vector<std::string> v;
    for (const ir::Value* o : n.operands) v.push_back(w.nameOf(o));
    return v;
  }
  std::vector<std::string> outs() {
    std::vector<std::string> v;
    for (const ir::Value* r : n.results) v.push_back(w.nameOf(r));
    return v;
  }
  /// The node as the ONNX op `opType` with the same operands and results.
  onnx::NodeProto* same(const std::string& opType, std::initializer_list<const char*> attrs = {},
                        const char* domain = "") {
    onnx::NodeProto* p = w.addNode(opType, name, ins(), outs(), domain);
    copyAttrs(p, n, attrs);
    return p;
  }
  /// Concrete dims of operand i (from its constant or inferred type), or fail.
  std::vector<int64_t> constShape(size_t i, const char* why) {
    const ir::Value* v = n.operand(i);
    if (v->isConstant()) return v->constant->shape();
    if (auto s = v->type.constShape()) return *s;
    w.failNode(n, std::string(why) + ", but the shape of '" + v->name + "' is not known");
  }
};

/// Unsqueeze, Squeeze: axes as input 1 (absent for Squeeze of every size-1 dim).
void emitSqueeze(Emit& e, const char* opType) {
  std::vector<std::string> inputs{e.in(0)};
  if (e.n.has("axes")) {
    std::vector<int64_t> axes = e.n.getInts("axes");
    if (!axes.empty() || e.n.op == K::Unsqueeze) inputs.push_back(e.w.int64s(e.name + "/axes", axes));
  }
  e.w.addNode(opType, e.name, inputs, e.outs());
}

void emitReduce(Emit& e) {
  std::vector<int64_t> axes = e.n.getInts("axes");
  bool noop = e.n.getInt("noop_with_empty_axes", 0) != 0;
  if (axes.empty() && noop) {
    e.w.addNode("Identity", e.name, {e.in(0)}, e.outs());  // opset 18's no-op reduction
    return;
  }
  if (e.n.op == K::ReduceSum) {
    std::vector<std::string> inputs{e.in(0)};
    if (!axes.empty()) inputs.push_back(e.w.int64s(e.name + "/axes", axes));
    copyAttrs(e.w.addNode("ReduceSum", e.name, inputs, e.outs()), e.n, {"keepdims"});
    return;
  }
  onnx::NodeProto* p = e.w.addNode(e.n.op == K::ReduceMean ? "ReduceMean" : "ReduceMax", e.name, {e.in(0)}, e.outs());
  copyAttrs(p, e.n, {"axes", "keepdims"});
}

/// Split: sizes as input 1. Without sizes the IR splits like opset 18's
/// num_outputs (ceil-sized parts, the last smaller); opset 17 without sizes
/// splits evenly, the same when the dim divides, so sizes are written out
/// whenever the dim is known.
void emitSplit(Emit& e) {
  std::vector<std::string> inputs{e.in(0)};
  std::vector<int64_t> split = e.n.getInts("split");
  const int64_t parts = static_cast<int64_t>(e.n.results.size());
  if (split.empty()) {
    const ir::Type& t = e.n.operand(0)->type;
    int64_t axis = e.n.getInt("axis", 0);
    if (axis < 0) axis += static_cast<int64_t>(t.rank());
    std::optional<int64_t> dim;
    if (axis >= 0 && axis < static_cast<int64_t>(t.rank())) dim = t.shape[static_cast<size_t>(axis)].constValue();
    if (dim && parts > 0) {
      int64_t chunk = (*dim + parts - 1) / parts;
      for (int64_t k = 0, left = *dim; k < parts; ++k, left -= chunk) split.push_back(std::clamp<int64_t>(left, 0, chunk));
    }
  }
  if (!split.empty()) inputs.push_back(e.w.int64s(e.name + "/split", split));
  copyAttrs(e.w.addNode("Split", e.name, inputs, e.outs()), e.n, {"axis"});
}

/// LayerNorm -> LayerNormalization, whose Scale is required: an IR LayerNorm
/// without one gets ones over the normalised dims.
void emitLayerNorm(Emit& e) {
  std::vector<std::string> inputs = e.ins();
  inputs.resize(3);
  if (!e.n.operand(1)) {
    std::vector<int64_t> x = e.constShape(0, "a LayerNorm without Scale needs ones over the normalised dims");
    int64_t axis = e.n.getInt("axis", -1);
    if (axis < 0) axis += static_cast<int64_t>(x.size());
    std::vector<int64_t> dims(x.begin() + std::clamp<int64_t>(axis, 0, static_cast<int64_t>(x.size())), x.end());
    ir::DType dt = dtypeOf(e.n.operand(0));
    ir::Tensor ones = ir::Tensor::allocate(dt, dims);
    for (int64_t i = 0; i < ones.numel(); ++i) ones.setDouble(static_cast<size_t>(i), 1.0);
    inputs[1] = e.w.addConstant(e.name + "/scale", ones);
  }
  copyAttrs(e.w.addNode("LayerNormalization", e.name, inputs, e.outs()), e.n, {"axis", "epsilon", "stash_type"});
}

/// SkipLayerNorm -> com.microsoft SkipLayerNormalization when asked for, else
/// LayerNormalization(Add(Add(X, Bias), Skip)) in standard ops: the same
/// arithmetic, and faster in ONNX Runtime's CPU execution provider (see
/// ExportOptions::contribSkipLayerNorm).
void emitSkipLayerNorm(Emit& e) {
  if (e.w.options().contribSkipLayerNorm) {
    e.same("SkipLayerNormalization", {"epsilon"}, kMsDomain);
    return;
  }
  std::string x = e.in(0);
  if (e.n.operand(4)) {
    std::string biased = e.w.fresh(e.out() + "/bias");
    e.w.addNode("Add", e.w.freshNode(e.name + "/bias"), {x, e.in(4)}, {biased});
    x = biased;
  }
  std::string sum = e.w.fresh(e.out() + "/skip");
  e.w.addNode("Add", e.w.freshNode(e.name + "/skip"), {x, e.in(1)}, {sum});
  std::vector<std::string> ln{sum, e.in(2)};
  if (e.n.operand(3)) ln.push_back(e.in(3));
  onnx::NodeProto* p = e.w.addNode("LayerNormalization", e.name, ln, e.outs());
  auto* eps = p->add_attribute();
  eps->set_name("epsilon");
  eps->set_type(onnx::AttributeProto::FLOAT);
  eps->set_f(static_cast<float>(e.n.getFloat("epsilon", 1e-12)));
  auto* axis = p->add_attribute();
  axis->set_name("axis");
  axis->set_type(onnx::AttributeProto::INT);
  axis->set_i(-1);
}

/// Gelu: opset 17 has none; ORT's contrib Gelu (exact) or FastGelu (tanh).
void emitGelu(Emit& e) {
  std::string approx = e.n.getString("approximate", "none");
  if (approx == "none") e.same("Gelu", {}, kMsDomain);
  else if (approx == "tanh") e.same("FastGelu", {}, kMsDomain);
  else e.w.failNode(e.n, "unknown approximate '" + approx + "'");
}

/// Attention -> com.microsoft Attention with the raw 2-D int32 mask
/// (1 where the IR mask is nonzero), then a MatMul by Wout if present.
void emitAttention(Emit& e) {
  std::vector<std::string> inputs{e.in(0), e.in(1), e.in(2)};
  if (e.n.operand(3)) inputs.push_back(e.w.maskInt32(e.n.operand(3), e.name));
  const bool project = e.n.operand(4) != nullptr;
  std::string att = project ? e.w.fresh(e.out() + "/attention") : e.out();
  onnx::NodeProto* p = e.w.addNode("Attention", e.name, inputs, {att}, kMsDomain);
  copyAttrs(p, e.n, {"num_heads", "mask_filter_value"});
  if (e.n.getFloat("scale", 0.0) != 0.0) copyAttrs(p, e.n, {"scale"});
  if (project) e.w.addNode("MatMul", e.w.freshNode(e.name + "/out_proj"), {att, e.in(4)}, {e.out()});
}

/// EmbedLayerNorm -> com.microsoft EmbedLayerNormalization: ids as int32, no
/// mask input, output 0 used. ORT requires beta: an IR node without one gets
/// zeros.
void emitEmbedLayerNorm(Emit& e) {
  const ir::Node& n = e.n;
  std::string beta = e.in(6);
  if (!n.operand(6)) {
    std::vector<int64_t> g = e.constShape(5, "ORT's EmbedLayerNormalization needs beta");
    beta = e.w.addConstant(e.name + "/beta", ir::Tensor::allocate(dtypeOf(n.operand(5)), g));
  }
  std::vector<std::string> inputs{
      e.w.asInt32(n.operand(0), e.name),
      n.operand(1) ? e.w.asInt32(n.operand(1), e.name) : "",
      e.in(2),
      e.in(3),
      e.in(4),
      e.in(5),
      beta,
      "",  // mask: it only feeds the mask_index output, which the IR op does not have
      n.operand(7) ? e.w.asInt32(n.operand(7), e.name) : "",
  };
  // ORT's type inference wants output 1 (mask_index) although its schema
  // calls it optional ("output index 1 is out of range" otherwise): named, unused.
  std::vector<std::string> outputs{e.out(), e.w.fresh(e.out() + "/mask_index")};
  copyAttrs(e.w.addNode("EmbedLayerNormalization", e.name, inputs, outputs, kMsDomain), n, {"epsilon"});
}

/// Linear -> MatMul (+ Add) (+ Tanh | Relu | com.microsoft Gelu).
void emitLinear(Emit& e) {
  std::string act = e.n.getString("activation", "none");
  if (act != "none" && act != "tanh" && act != "relu" && act != "gelu")
    e.w.failNode(e.n, "unknown activation '" + act + "'");
  const bool bias = e.n.operand(2) != nullptr, activate = act != "none";
  std::string y = bias || activate ? e.w.fresh(e.out() + "/matmul") : e.out();
  e.w.addNode("MatMul", e.name, {e.in(0), e.in(1)}, {y});
  if (bias) {
    std::string z = activate ? e.w.fresh(e.out() + "/bias") : e.out();
    e.w.addNode("Add", e.w.freshNode(e.name + "/bias"), {y, e.in(2)}, {z});
    y = z;
  }
  if (act == "tanh") e.w.addNode("Tanh", e.w.freshNode(e.name + "/tanh"), {y}, {e.out()});
  else if (act == "relu") e.w.addNode("Relu", e.w.freshNode(e.name + "/relu"), {y}, {e.out()});
  else if (act == "gelu") e.w.addNode("Gelu", e.w.freshNode(e.name + "/gelu"), {y}, {e.out()}, kMsDomain);
}

/// MeanPool -> its unfused standard form, there being no contrib op:
///   w = Cast(Cast(Unsqueeze(Mask, [2]), bool), dtype(X))              [B,S,1]
///   Div(ReduceSum(Mul(X, w), [1]), Max(ReduceSum(w, [1]), epsilon))   keepdims 0
/// The weights broadcast over H in the Mul; their sum is [B,1] and
/// broadcasts in the Div. The Cast through bool makes every nonzero mask
/// value weigh 1, as MeanPool reads a mask.
void emitMeanPool(Emit& e) {
  const ir::DType dt = dtypeOf(e.n.operand(0));
  const std::string axis1 = e.w.int64s(e.name + "/axes", {1});
  auto node = [&](const char* op, const char* suffix, std::vector<std::string> inputs) {
    std::string out = e.w.fresh(e.out() + "/" + suffix);
    e.w.addNode(op, e.w.freshNode(e.name + "/" + suffix), inputs, {out});
    return out;
  };
  auto sumOverSeq = [&](const char* suffix, const std::string& v) {
    std::string out = e.w.fresh(e.out() + "/" + suffix);
    writeAttr(e.w.addNode("ReduceSum", e.w.freshNode(e.name + "/" + suffix), {v, axis1}, {out}), "keepdims",
              int64_t{0});
    return out;
  };
  std::string m3 = node("Unsqueeze", "unsqueeze", {e.in(1), e.w.int64s(e.name + "/last_axis", {2})});
  std::string kept = e.w.fresh(e.out() + "/kept");
  writeAttr(e.w.addNode("Cast", e.w.freshNode(e.name + "/kept"), {m3}, {kept}), "to",
            static_cast<int64_t>(ir::DType::Bool));
  std::string w = e.w.fresh(e.out() + "/weights");
  writeAttr(e.w.addNode("Cast", e.w.freshNode(e.name + "/cast"), {kept}, {w}), "to", static_cast<int64_t>(dt));
  std::string num = sumOverSeq("sum", node("Mul", "weigh", {e.in(0), w}));
  std::string eps = e.w.addConstant(e.name + "/epsilon", ir::Tensor::scalar(dt, e.n.getFloat("epsilon", 1e-9)));
  std::string den = node("Max", "count", {sumOverSeq("weight", w), eps});
  e.w.addNode("Div", e.name, {num, den}, e.outs());
}

}  // namespace

void Writer::emitNode(const ir::Node& n) {
  Emit e{*this, n, freshNode(n.name.empty() ? std::string(ir::opName(n.op)) : n.name)};
  switch (n.op) {
    // Same op, no attributes.
    case K::Add: case K::Sub: case K::Mul: case K::Div: case K::Pow: case K::Max: case K::Min: case K::Equal:
    case K::Less: case K::LessOrEqual: case K::Greater: case K::GreaterOrEqual: case K::And: case K::Or:
    case K::Where: case K::Not: case K::Neg: case K::Abs: case K::Sign: case K::Sqrt: case K::Reciprocal:
    case K::Exp: case K::Log: case K::Erf: case K::Tanh: case K::Sigmoid: case K::Relu: case K::Floor:
    case K::Ceil: case K::IsNaN: case K::Clip: case K::Identity: case K::MatMul: case K::Slice: case K::Expand:
    case K::Tile: case K::Range:
      e.same(std::string(ir::opName(n.op)));
      return;
    // Same op, its opset-17 attributes.
    case K::Mod: e.same("Mod", {"fmod"}); return;
    case K::IsInf: e.same("IsInf", {"detect_positive", "detect_negative"}); return;
    case K::Cast: e.same("Cast", {"to"}); return;  // IR DType codes are ONNX's
    case K::Gemm: e.same("Gemm", {"alpha", "beta", "transA", "transB"}); return;
    case K::Softmax: {
      onnx::NodeProto* p = e.same("Softmax");
      writeAttr(p, "axis", n.getInt("axis", -1));
      return;
    }
    case K::CumSum: e.same("CumSum", {"exclusive", "reverse"}); return;
    case K::Shape: e.same("Shape", {"start", "end"}); return;
    case K::Reshape: e.same("Reshape", {"allowzero"}); return;
    case K::Flatten: e.same("Flatten", {"axis"}); return;
    case K::Transpose: e.same("Transpose", {"perm"}); return;
    case K::Concat: e.same("Concat", {"axis"}); return;
    case K::Gather: e.same("Gather", {"axis"}); return;
    case K::GatherND: e.same("GatherND", {"batch_dims"}); return;
    case K::ConstantOfShape: e.same("ConstantOfShape", {"value"}); return;
    case K::Trilu: e.same("Trilu", {"upper"}); return;
    // Opset-17 forms.
    case K::Unsqueeze: emitSqueeze(e, "Unsqueeze"); return;
    case K::Squeeze: emitSqueeze(e, "Squeeze"); return;
    case K::ReduceMean: case K::ReduceSum: case K::ReduceMax: emitReduce(e); return;
    case K::Split: emitSplit(e); return;
    case K::LayerNorm: emitLayerNorm(e); return;
    case K::Gelu: emitGelu(e); return;
    // Fused ops: ONNX Runtime contrib ops.
    case K::SkipLayerNorm: emitSkipLayerNorm(e); return;
    case K::BiasGelu: e.same("BiasGelu", {}, kMsDomain); return;
    case K::FastGelu: e.same("FastGelu", {}, kMsDomain); return;
    case K::Attention: emitAttention(e); return;
    case K::EmbedLayerNorm: emitEmbedLayerNorm(e); return;
    case K::Linear: emitLinear(e); return;
    // Fused ops with no contrib op: their standard form.
    case K::MeanPool: emitMeanPool(e); return;
  }
  failNode(n, "has no ONNX form");
}

}  // namespace bertc::frontend::exporter
