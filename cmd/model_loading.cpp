#include "cmd/model_loading.h"

#include <fmt/core.h>

#include "frontend/onnx_import.h"

namespace bertc::cli {

int reportError(const std::string& message) {
  fmt::print(stderr, "bertc: error: {}\n", message);
  return 1;
}

std::unique_ptr<ir::Graph> loadModelOrReport(const std::string& path) {
  auto g = frontend::importOnnxFile(path);
  if (!g.ok()) {
    reportError(g.message());
    return nullptr;
  }
  return std::move(g.value());
}

}  // namespace bertc::cli
