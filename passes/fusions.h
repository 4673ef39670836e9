#pragma once
/// The fusion passes, one file per family (fuse_<family>.cpp). Each lists in
/// its file the exporter variants it matches and explains misses through
/// PassContext::note.
#include "passes/pass.h"

namespace bertc::passes {

size_t fuseLayerNorm(ir::Graph& g, PassContext& ctx);       // fuse_layernorm.cpp
size_t fuseGelu(ir::Graph& g, PassContext& ctx);            // fuse_gelu.cpp
size_t fuseBiasGelu(ir::Graph& g, PassContext& ctx);        // fuse_gelu.cpp
size_t fuseSkipLayerNorm(ir::Graph& g, PassContext& ctx);   // fuse_skip_layernorm.cpp
size_t fuseAttention(ir::Graph& g, PassContext& ctx);       // fuse_attention.cpp
size_t fuseEmbedLayerNorm(ir::Graph& g, PassContext& ctx);  // fuse_embed_layernorm.cpp
size_t fusePooler(ir::Graph& g, PassContext& ctx);          // fuse_pooler.cpp
size_t fuseMeanPool(ir::Graph& g, PassContext& ctx);        // fuse_mean_pool.cpp

}  // namespace bertc::passes
