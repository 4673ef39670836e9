#include "ir/graph.h"

#include <algorithm>
#include <unordered_set>

#include "ir/status.h"

namespace bertc::ir {

// ---- Node attribute access ----

int64_t Node::getInt(const std::string& attr, int64_t dflt) const {
  auto it = attrs.find(attr);
  if (it == attrs.end()) return dflt;
  if (auto* v = std::get_if<int64_t>(&it->second)) return *v;
  if (auto* v = std::get_if<double>(&it->second)) return static_cast<int64_t>(*v);
  throw UserError(describe() + ": attribute '" + attr + "' must be an int");
}

double Node::getFloat(const std::string& attr, double dflt) const {
  auto it = attrs.find(attr);
  if (it == attrs.end()) return dflt;
  if (auto* v = std::get_if<double>(&it->second)) return *v;
  if (auto* v = std::get_if<int64_t>(&it->second)) return static_cast<double>(*v);
  throw UserError(describe() + ": attribute '" + attr + "' must be a float");
}

std::string Node::getString(const std::string& attr, const std::string& dflt) const {
  auto it = attrs.find(attr);
  if (it == attrs.end()) return dflt;
  if (auto* v = std::get_if<std::string>(&it->second)) return *v;
  throw UserError(describe() + ": attribute '" + attr + "' must be a string");
}

std::vector<int64_t> Node::getInts(const std::string& attr, const std::vector<int64_t>& dflt) const {
  auto it = attrs.find(attr);
  if (it == attrs.end()) return dflt;
  if (auto* v = std::get_if<std::vector<int64_t>>(&it->second)) return *v;
  if (auto* v = std::get_if<int64_t>(&it->second)) return {*v};
  throw UserError(describe() + ": attribute '" + attr + "' must be a list of ints");
}

const Tensor* Node::getTensor(const std::string& attr) const {
  auto it = attrs.find(attr);
  if (it == attrs.end()) return nullptr;
  if (auto* v = std::get_if<Tensor>(&it->second)) return v;
  throw UserError(describe() + ": attribute '" + attr + "' must be a tensor");
}

std::string Node::describe() const { return "node '" + name + "' (" + std::string(opName(op)) + ")"; }

// ---- Graph ----

Value* Graph::newValue(const std::string& name) {
  auto v = std::make_unique<Value>();
  v->id = static_cast<int>(values_.size());
  v->name = name;
  values_.push_back(std::move(v));
  return values_.back().get();
}

Value* Graph::addInput(const std::string& name, Type type) {
  Value* v = newValue(name);
  v->type = std::move(type);
  v->isInput = true;
  inputs_.push_back(v);
  return v;
}

Value* Graph::addConstant(const std::string& name, Tensor tensor) {
  Value* v = newValue(name);
  v->type.dtype = tensor.dtype();
  for (int64_t d : tensor.shape()) v->type.shape.push_back(SymExpr(d));
  // Small integer constants carry their contents symbolically for shape arithmetic.
  if (isInteger(tensor.dtype()) && tensor.shape().size() <= 1 && tensor.numel() <= 64) {
    std::vector<SymExpr> vals;
    for (int64_t x : tensor.toInts()) vals.emplace_back(x);
    v->symbolic = std::move(vals);
  }
  v->constant = std::move(tensor);
  constants_.push_back(v);
  return v;
}

Node* Graph::addNode(OpKind op, const std::string& name, std::vector<Value*> operands,
                     const std::vector<std::string>& resultNames, std::map<std::string, Attr> attrs) {
  auto n = std::make_unique<Node>();
  n->op = op;
  n->name = name;
  n->operands = std::move(operands);
  n->attrs = std::move(attrs);
  for (size_t i = 0; i < resultNames.size(); ++i) {
    Value* r = newValue(resultNames[i]);
    r->producer = n.get();
    r->resultIndex = static_cast<int>(i);
    n->results.push_back(r);
  }
  nodes_.push_back(std::move(n));
  return nodes_.back().get();
}

Node* Graph::addNodeBefore(const Node* anchor, OpKind op, const std::string& name, std::vector<Value*> operands,
                           const std::vector<std::string>& resultNames, std::map<std::string, Attr> attrs) {
  Node* n = addNode(op, name, std::move(operands), resultNames, std::move(attrs));
  auto at = std::find_if(nodes_.begin(), nodes_.end(), [&](const auto& p) { return p.get() == anchor; });
  BERTC_INTERNAL_ASSERT(at != nodes_.end(), "addNodeBefore: anchor is not in the graph");
  std::rotate(at, nodes_.end() - 1, nodes_.end());
  return n;
}

std::vector<Node*> Graph::users(const Value* v) const {
  std::vector<Node*> out;
  for (const auto& n : nodes_)
    if (std::find(n->operands.begin(), n->operands.end(), v) != n->operands.end()) out.push_back(n.get());
  return out;
}

void Graph::replaceAllUsesWith(Value* from, Value* to) {
  for (auto& n : nodes_)
    for (auto& o : n->operands)
      if (o == from) o = to;
  for (auto& o : outputs_)
    if (o == from) o = to;
}

size_t Graph::removeDeadNodes() {
  std::unordered_set<const Value*> live(outputs_.begin(), outputs_.end());
  std::vector<bool> keep(nodes_.size(), false);
  for (size_t i = nodes_.size(); i-- > 0;) {
    const Node& n = *nodes_[i];
    bool used = std::any_of(n.results.begin(), n.results.end(), [&](Value* r) { return live.count(r) != 0; });
    if (!used) continue;
    keep[i] = true;
    for (Value* o : n.operands)
      if (o) live.insert(o);
  }
  size_t removed = 0;
  std::vector<std::unique_ptr<Node>> kept;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (keep[i]) {
      kept.push_back(std::move(nodes_[i]));
    } else {
      ++removed;
    }
  }
  nodes_ = std::move(kept);
  // Constants no longer used are dropped from the constant list (their bytes
  // are released when the last Tensor view goes).
  std::vector<Value*> consts;
  for (Value* c : constants_)
    if (live.count(c)) consts.push_back(c);
  constants_ = std::move(consts);
  return removed;
}

const Value* throughIdentityAndCast(const Value* v) {
  while (v && v->producer && (v->producer->op == OpKind::Identity || v->producer->op == OpKind::Cast))
    v = v->producer->operand(0);
  return v;
}

}  // namespace bertc::ir
