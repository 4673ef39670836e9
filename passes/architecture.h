#pragma once
/// Recognises the architecture of a BERT-family encoder from the structure of
/// its IR graph (never from node or weight names, nor from sizes): layer
/// count, widths, heads, vocabulary, positions, activation and family.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace bertc::passes {

struct Architecture {
  std::string family = "unknown";  ///< bert | roberta | distilbert | albert | electra | unknown
  std::string familyNote;          ///< why that family (the structural evidence)
  int64_t layers = 0;              ///< attention blocks (Softmax over [batch, heads, seq, seq])
  int64_t hidden = 0;
  int64_t heads = 0;
  int64_t intermediate = 0;  ///< FFN inner width
  int64_t vocab = 0;
  int64_t maxPositions = 0;
  int64_t typeVocab = 0;      ///< 0 when there are no token-type embeddings
  int64_t embeddingSize = 0;  ///< == hidden unless factorised (ALBERT, ELECTRA-small style)
  std::string activation = "unknown";  ///< gelu | gelu_tanh | relu
  bool hasPooler = false;
  bool sharedLayers = false;  ///< ALBERT-style cross-layer weight sharing
};

Architecture detectArchitecture(const ir::Graph& g);

/// Parameter count and bytes of the float weights.
struct ParamStats {
  int64_t parameters = 0;
  int64_t bytes = 0;  ///< all constants
};
ParamStats paramStats(const ir::Graph& g);

/// Multiply-add FLOPs (2 per MAC) of MatMul and Gemm for concrete symbol
/// values, or nullopt when a dim cannot be evaluated.
std::optional<double> matmulFlops(const ir::Graph& g, const std::vector<int64_t>& symbolValues);

/// Binds the batch and sequence symbols: the dims of every rank-2 integer
/// graph input (token ids, mask, segments), in that order, the first binding
/// of a symbol winning. Other symbols stay unbound (-1).
std::vector<int64_t> bindBatchSeq(const ir::Graph& g, int64_t batch, int64_t seq);

}  // namespace bertc::passes
