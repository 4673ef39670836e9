#include "cmd/model_loading.h"

#include <fmt/core.h>

#include <fstream>

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

long long peakRssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return -1;
}

}  // namespace bertc::cli
