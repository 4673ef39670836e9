#pragma once
/// IR -> ONNX: the model `bertc optimize` writes, which ONNX Runtime runs
/// with the same results as the reference interpreter.
///
/// Default-domain ops are written in their opset-17 forms (axes and split
/// sizes as inputs where opset 17 wants them, IR LayerNorm as
/// LayerNormalization); Gelu and the fused ops become ONNX Runtime contrib
/// ops (domain com.microsoft, version 1). Graph inputs and outputs keep
/// their names, element types and shapes, symbolic dims as dim_param.
#include <cstdint>
#include <string>

#include "ir/graph.h"
#include "ir/status.h"

namespace bertc::frontend {

struct ExportOptions {
  /// Write the weights to `<path>.data` (ONNX external data, the location
  /// relative to the model's directory) instead of into the model file.
  /// Done regardless when the constants exceed kAutoExternalDataBytes, so
  /// protobuf's 2 GiB limit never bites.
  bool externalData = false;
  /// Write SkipLayerNorm as ONNX Runtime's contrib SkipLayerNormalization.
  /// Off by default: ONNX Runtime 1.32's CPU kernel for it is about 6x slower
  /// than the Add + LayerNormalization it stands for (0.37 vs 0.057 ms at
  /// [1, 128, 768], one thread; see README), so the writer spells it with
  /// standard ops, which compute the same thing. GPU execution providers have
  /// fast kernels for the contrib op.
  bool contribSkipLayerNorm = false;
};

/// Above this many bytes of constants, weights always go to external data.
inline constexpr uint64_t kAutoExternalDataBytes = uint64_t{3} << 29;  // 1.5 GiB

/// Writes g to `path` (and `<path>.data` with external data). Both files are
/// written under temporary names and renamed into place, so a model may be
/// rewritten over the file its weights are mapped from. Failures (a file that
/// cannot be written, a value without a dtype, an op with no ONNX form) are
/// a one-line Status naming the file, and the node where there is one.
Status exportOnnx(const ir::Graph& g, const std::string& path, const ExportOptions& opts = {});

}  // namespace bertc::frontend
