/// The walk over an ONNX graph: model info, initializers, inputs, nodes in
/// topological order, outputs.
#include <cstdio>
#include <queue>

#include "frontend/import_context.h"

namespace bertc::frontend::detail {

// ---- Messages ----

std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

std::string quote(std::string_view s) {
  constexpr size_t kMax = 200;
  if (s.size() > kMax) return "'" + printable(s.substr(0, kMax)) + "...'";
  return "'" + printable(s) + "'";
}

std::string onnxTypeName(int32_t code) {
  if (onnx::TensorProto_DataType_IsValid(code))
    return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(code));
  return std::to_string(code);
}

void ImportContext::fail(const std::string& what) const { throw UserError(printable(file) + ": " + what); }

std::string ImportContext::nodePrefix(const std::string& nodeName, const std::string& op) const {
  return printable(file) + ": node " + quote(nodeName) + " (" + printable(op.substr(0, 100)) + "): ";
}

void ImportContext::failNode(const std::string& nodeName, const std::string& op, const std::string& what) const {
  throw UserError(nodePrefix(nodeName, op) + what);
}

std::string ImportContext::uniqueName(const std::string& base) {
  std::string name = base;
  for (int k = 1; takenNames.count(name); ++k) name = base + "_" + std::to_string(k);
  takenNames.insert(name);
  return name;
}

namespace {

/// The oldest and newest ai.onnx opsets the importer knows. Opsets 21 and 22
/// only widened the type lists of the ops in the table.
constexpr int64_t kMinOpset = 7, kMaxOpset = 22;

bool isDefaultDomain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

/// The node's name, or `<Op>_<index>` for an unnamed node.
std::string nodeName(const onnx::NodeProto& n, int index) {
  return n.name().empty() ? n.op_type() + "_" + std::to_string(index) : n.name();
}

void importInfo(ImportContext& ctx) {
  const onnx::ModelProto& m = *ctx.model;
  ir::ModelInfo& info = ctx.graph->info();
  info.sourcePath = ctx.file;
  info.producerName = m.producer_name();
  info.producerVersion = m.producer_version();
  info.graphName = m.graph().name();
  info.irVersion = m.ir_version();
  for (const auto& os : m.opset_import()) info.opsets[isDefaultDomain(os.domain()) ? "" : os.domain()] = os.version();
  auto it = info.opsets.find("");
  ctx.opset = it == info.opsets.end() ? 0 : it->second;
}

/// Fails listing every unsupported op at once, with its nodes, so that one
/// run tells the user everything that stands in the way.
void checkOpsSupported(ImportContext& ctx, const onnx::GraphProto& g) {
  bool usesDefault = false;
  std::vector<std::pair<std::string, std::vector<std::string>>> unsupported;  // op -> node names, in file order
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    usesDefault |= isDefaultDomain(n.domain());
    if (isSupportedOp(n.domain(), n.op_type())) continue;
    std::string op = printable((isDefaultDomain(n.domain()) ? "" : n.domain() + ".") + n.op_type()).substr(0, 100);
    auto it = std::find_if(unsupported.begin(), unsupported.end(), [&](const auto& u) { return u.first == op; });
    if (it == unsupported.end()) it = unsupported.insert(unsupported.end(), {op, {}});
    it->second.push_back(nodeName(n, i));
  }
  if (usesDefault && ctx.opset == 0) ctx.fail("the model imports no version of the default ONNX domain (ai.onnx)");
  if (usesDefault && (ctx.opset < kMinOpset || ctx.opset > kMaxOpset))
    ctx.fail("ai.onnx opset " + std::to_string(ctx.opset) + " is not supported (bertc imports opsets " +
             std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset) + ")");
  if (unsupported.empty()) return;

  constexpr size_t kMaxNames = 5, kMaxOps = 30;
  std::string msg = "unsupported ops: ";
  for (size_t k = 0; k < unsupported.size() && k < kMaxOps; ++k) {
    const auto& [op, nodes] = unsupported[k];
    msg += (k ? ", " : "") + op + (nodes.size() == 1 ? " (node " : " (nodes ");
    for (size_t j = 0; j < nodes.size() && j < kMaxNames; ++j) msg += (j ? ", " : "") + quote(nodes[j]);
    if (nodes.size() > kMaxNames) msg += " and " + std::to_string(nodes.size() - kMaxNames) + " more";
    msg += ")";
  }
  if (unsupported.size() > kMaxOps) msg += " and " + std::to_string(unsupported.size() - kMaxOps) + " more ops";
  ctx.fail(msg);
}

void collectDeclaredTypes(ImportContext& ctx, const onnx::GraphProto& g) {
  auto add = [&](const onnx::ValueInfoProto& vi) {
    if (vi.type().has_tensor_type()) ctx.declared.emplace(vi.name(), &vi.type().tensor_type());
  };
  for (const auto& vi : g.input()) add(vi);
  for (const auto& vi : g.output()) add(vi);
  for (const auto& vi : g.value_info()) add(vi);
}

void importInitializers(ImportContext& ctx, const onnx::GraphProto& g) {
  if (g.sparse_initializer_size())
    ctx.fail("sparse initializer " + quote(g.sparse_initializer(0).values().name()) + " is not supported");
  for (const onnx::TensorProto& t : g.initializer()) {
    const std::string& name = t.name();
    if (name.empty()) ctx.fail("an initializer has no name");
    if (ctx.values.count(name)) ctx.fail("initializer " + quote(name) + " is defined twice");
    ir::Tensor tensor = importTensor(ctx, t, printable(ctx.file) + ": initializer " + quote(name) + ": ");
    ctx.values[name] = ctx.graph->addConstant(name, std::move(tensor));
    ctx.takenNames.insert(name);
  }
}

/// An input dim: dim_param -> a named symbol, dim_value -> a constant,
/// neither -> a fresh symbol `<input>_dim<k>`.
ir::Dim importDim(ImportContext& ctx, const onnx::TensorShapeProto_Dimension& d, const std::string& input, int k) {
  if (d.has_dim_value()) {
    // Dims past 2^40 are nonsense, and would overflow symbolic arithmetic.
    if (d.dim_value() < 0 || d.dim_value() > (int64_t{1} << 40))
      ctx.fail("graph input " + quote(input) + " has dimension " + std::to_string(d.dim_value()) + " at axis " +
               std::to_string(k));
    return ir::Dim(d.dim_value());
  }
  std::string sym = d.has_dim_param() && !d.dim_param().empty() ? d.dim_param() : input + "_dim" + std::to_string(k);
  return ir::SymExpr::symbol(ctx.graph->symbols().intern(sym));
}

void importInputs(ImportContext& ctx, const onnx::GraphProto& g) {
  for (const onnx::ValueInfoProto& in : g.input()) {
    const std::string& name = in.name();
    if (name.empty()) ctx.fail("a graph input has no name");
    if (auto it = ctx.values.find(name); it != ctx.values.end()) {
      if (it->second->isConstant()) continue;  // older exports list initializers as inputs too
      ctx.fail("graph input " + quote(name) + " is listed twice");
    }
    if (!in.type().has_tensor_type()) ctx.fail("graph input " + quote(name) + " is not a tensor");
    const onnx::TypeProto_Tensor& tt = in.type().tensor_type();
    auto dtype = ir::dtypeFromOnnx(tt.elem_type());
    if (!dtype)
      ctx.fail("graph input " + quote(name) + " has element type " + onnxTypeName(tt.elem_type()) +
               ", which bertc does not support");
    if (!tt.has_shape()) ctx.fail("graph input " + quote(name) + " has no shape; bertc needs at least its rank");
    ir::Type type{*dtype, {}};
    for (int k = 0; k < tt.shape().dim_size(); ++k) type.shape.push_back(importDim(ctx, tt.shape().dim(k), name, k));
    ctx.values[name] = ctx.graph->addInput(name, std::move(type));
    ctx.takenNames.insert(name);
  }
}

/// Node indices in a topological order that keeps file order where it can
/// (exporters write nodes sorted; a few tools do not). Fails on an input
/// that nothing defines, on a value defined twice, and on a cycle.
std::vector<int> topologicalOrder(ImportContext& ctx, const onnx::GraphProto& g) {
  const int n = g.node_size();
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < n; ++i) {
    for (const std::string& out : g.node(i).output()) {
      if (out.empty()) continue;
      if (ctx.values.count(out) || !producer.emplace(out, i).second)
        ctx.failNode(nodeName(g.node(i), i), g.node(i).op_type(), "output " + quote(out) + " is already defined");
      ctx.takenNames.insert(out);
    }
  }
  std::vector<std::vector<int>> users(static_cast<size_t>(n));
  std::vector<int> pending(static_cast<size_t>(n), 0);
  for (int i = 0; i < n; ++i) {
    for (const std::string& in : g.node(i).input()) {
      if (in.empty()) continue;
      ctx.consumed.insert(in);
      if (ctx.values.count(in)) continue;
      auto it = producer.find(in);
      if (it == producer.end())
        ctx.failNode(nodeName(g.node(i), i), g.node(i).op_type(),
                     "input " + quote(in) + " is not defined by any node, initializer or graph input");
      users[static_cast<size_t>(it->second)].push_back(i);
      ++pending[static_cast<size_t>(i)];
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<>> ready;
  for (int i = 0; i < n; ++i)
    if (pending[static_cast<size_t>(i)] == 0) ready.push(i);
  std::vector<int> order;
  order.reserve(static_cast<size_t>(n));
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int u : users[static_cast<size_t>(i)])
      if (--pending[static_cast<size_t>(u)] == 0) ready.push(u);
  }
  if (order.size() != static_cast<size_t>(n)) {
    for (int i = 0; i < n; ++i)
      if (pending[static_cast<size_t>(i)] > 0)
        ctx.failNode(nodeName(g.node(i), i), g.node(i).op_type(), "is part of a cycle");
  }
  return order;
}

void importOutputs(ImportContext& ctx, const onnx::GraphProto& g) {
  if (g.output_size() == 0) ctx.fail("the graph has no outputs");
  for (const onnx::ValueInfoProto& out : g.output()) {
    auto it = ctx.values.find(out.name());
    if (it == ctx.values.end()) ctx.fail("graph output " + quote(out.name()) + " is not produced by any node");
    ctx.graph->addOutput(it->second);
  }
}

}  // namespace

void importGraph(ImportContext& ctx) {
  if (!ctx.model->has_graph()) ctx.fail("not an ONNX model (it has no graph)");
  const onnx::GraphProto& g = ctx.model->graph();
  importInfo(ctx);
  checkOpsSupported(ctx, g);
  collectDeclaredTypes(ctx, g);
  importInitializers(ctx, g);
  importInputs(ctx, g);
  for (const auto& out : g.output()) ctx.consumed.insert(out.name());
  for (int i : topologicalOrder(ctx, g)) {
    const onnx::NodeProto& node = g.node(i);
    if (node.op_type() == "Constant") importConstantNode(ctx, node, nodeName(node, i));
    else importNode(ctx, node, nodeName(node, i));
  }
  importOutputs(ctx, g);
}

}  // namespace bertc::frontend::detail
