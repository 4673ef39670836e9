#pragma once
/// What fused and what remains: op counts for the whole graph and per layer,
/// for `bertc optimize --report` and the fusion-count tests.
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace bertc::passes {

using OpCounts = std::map<std::string, int>;

struct FusionReport {
  OpCounts total;
  OpCounts embeddings;           ///< before the first encoder layer
  std::vector<OpCounts> layers;  ///< one per attention block
  OpCounts head;                 ///< after the last layer (pooler, pooling)
};

/// Splits the nodes into embeddings, layers and head by the number of
/// normalisations (LayerNorm, SkipLayerNorm, EmbedLayerNorm) on the longest
/// path from the inputs: the embedding norm, then two per layer.
FusionReport fusionReport(const ir::Graph& g);

/// Human-readable: totals before -> after, then each layer's ops after.
std::string formatReport(const FusionReport& before, const FusionReport& after);

}  // namespace bertc::passes
