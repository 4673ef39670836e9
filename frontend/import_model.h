#pragma once
/// Private to frontend/ (and its tests): import from a ModelProto already in
/// memory. The graph's constants view into `model`'s raw_data strings and keep
/// it alive, so tests can check that weights are not copied.
#include <memory>
#include <string>

#include "frontend/onnx_import.h"

namespace onnx {
class ModelProto;
}

namespace bertc::frontend {

Result<std::unique_ptr<ir::Graph>> importModelProto(std::shared_ptr<const onnx::ModelProto> model,
                                                    const std::string& displayName, const std::string& baseDir,
                                                    const ImportOptions& opts = {},
                                                    /// where the model file resolves to (symlinks followed): external
                                                    /// data may resolve there too (ExternalData::alsoAllow)
                                                    const std::string& realModelDir = "");

}  // namespace bertc::frontend
