#include "passes/report.h"

#include <algorithm>
#include <unordered_map>


namespace bertc::passes {
namespace {

using ir::OpKind;

bool isNorm(OpKind op) { return op == OpKind::LayerNorm || op == OpKind::SkipLayerNorm || op == OpKind::EmbedLayerNorm; }

std::string counts(const OpCounts& c) {
  std::vector<std::pair<std::string, int>> v(c.begin(), c.end());
  std::stable_sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second > b.second; });
  std::string s;
  for (const auto& [op, n] : v) s += (s.empty() ? "" : ", ") + op + " " + std::to_string(n);
  return s.empty() ? "(none)" : s;
}

}  // namespace

FusionReport fusionReport(const ir::Graph& g) {
  FusionReport r;
  size_t layers = 0;
  bool hasEmbedNorm = false;
  for (const auto& n : g.nodes()) {
    if (n->op == OpKind::Attention || (n->op == OpKind::Softmax && n->result()->type.rank() == 4)) ++layers;
  }
  r.layers.resize(layers);
  // norms on the longest path from the inputs, not counting the node itself
  std::unordered_map<const ir::Value*, int> depth;
  std::vector<std::pair<const ir::Node*, int>> placed;
  for (const auto& n : g.nodes()) {
    int d = 0;
    for (const ir::Value* o : n->operands)
      if (o) d = std::max(d, depth.count(o) ? depth[o] : 0);
    for (const ir::Value* res : n->results) depth[res] = d + (isNorm(n->op) ? 1 : 0);
    if (n->op == OpKind::EmbedLayerNorm) hasEmbedNorm = true;
    placed.push_back({n.get(), d});
  }
  // Without an embedding norm at all (unusual), layers start at depth 0.
  int offset = 1;
  if (!hasEmbedNorm) {
    int minLayerDepth = 1 << 30;
    for (auto& [n, d] : placed)
      if (n->op == OpKind::Attention || n->op == OpKind::Softmax) minLayerDepth = std::min(minLayerDepth, d);
    if (minLayerDepth == 0) offset = 0;
  }
  // Nodes of layer 0 that only prepare the first Attention's input (ALBERT's
  // and ELECTRA's embedding projection) belong to the embeddings.
  std::unordered_map<const ir::Node*, bool> feedsFirstAttention;
  const ir::Node* firstAttention = nullptr;
  for (const auto& n : g.nodes())
    if (n->op == OpKind::Attention) { firstAttention = n.get(); break; }
  if (firstAttention) {
    std::vector<const ir::Node*> work{firstAttention};
    while (!work.empty()) {
      const ir::Node* x = work.back();
      work.pop_back();
      for (const ir::Value* o : x->operands)
        if (o && o->producer && !feedsFirstAttention[o->producer] && depth[o] == offset && !isNorm(o->producer->op)) {
          feedsFirstAttention[o->producer] = true;
          work.push_back(o->producer);
        }
    }
  }
  for (auto& [n, d] : placed) {
    if (feedsFirstAttention[n]) d = offset - 1;
    std::string op(ir::opName(n->op));
    ++r.total[op];
    if (d < offset) ++r.embeddings[op];
    else if (static_cast<size_t>((d - offset) / 2) < layers) ++r.layers[static_cast<size_t>((d - offset) / 2)][op];
    else ++r.head[op];
  }
  return r;
}

std::string formatReport(const FusionReport& before, const FusionReport& after) {
  int nb = 0, na = 0;
  for (auto& [op, n] : before.total) nb += n;
  for (auto& [op, n] : after.total) na += n;
  std::string s = "nodes: " + std::to_string(nb) + " -> " + std::to_string(na) + "\n";
  s += "  embeddings: " + counts(after.embeddings) + "\n";
  for (size_t i = 0; i < after.layers.size(); ++i) s += "  layer " + std::to_string(i) + ": " + counts(after.layers[i]) + "\n";
  s += "  head: " + counts(after.head) + "\n";
  return s;
}

}  // namespace bertc::passes
