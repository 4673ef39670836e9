#pragma once
/// ONNX protobuf -> IR.
#include <memory>
#include <string>

#include "ir/graph.h"
#include "ir/status.h"

namespace bertc::frontend {

struct ImportOptions {
  /// Run ir::inferShapes and ir::verify after import (default).
  bool inferShapes = true;
};

/// Loads the ONNX file at `path` (initializers in the file and in external
/// data files, which are memory-mapped) into an IR graph. Every failure is a
/// one-line Status naming the file, and the node and op where there is one.
Result<std::unique_ptr<ir::Graph>> importOnnxFile(const std::string& path, const ImportOptions& opts = {});
/// Same from bytes in memory (fuzzing, tests); external data resolves against `baseDir`.
Result<std::unique_ptr<ir::Graph>> importOnnxBytes(const void* data, size_t size, const std::string& displayName,
                                                   const std::string& baseDir, const ImportOptions& opts = {});

}  // namespace bertc::frontend
