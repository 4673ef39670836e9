#include "test/model_fixtures.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace bertc::test {

std::vector<std::filesystem::path> fixtureDirs() {
  std::vector<std::filesystem::path> dirs;
  for (const auto& e : std::filesystem::directory_iterator(std::string(BERTC_SOURCE_DIR) + "/test/models"))
    if (e.is_directory() && std::filesystem::exists(e.path() / "model.onnx")) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

std::string pretrainedModelPath() {
  std::string cmd =
      "python3 " + std::string(BERTC_SOURCE_DIR) + "/tools/make_pretrained_reference.py --print-path 2>/dev/null";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return !out.empty() && std::filesystem::exists(out) ? out : "";
}

std::string fileNameFor(const std::string& name) {
  std::string s = name;
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) c = '_';
  return s;
}

std::vector<ir::Tensor> loadInputs(const ir::Graph& g, const std::filesystem::path& dir) {
  std::vector<ir::Tensor> inputs;
  for (const ir::Value* in : g.inputs()) {
    auto t = ir::readNpy((dir / "inputs" / (fileNameFor(in->name) + ".npy")).string());
    if (!t.ok()) throw std::runtime_error(t.message());
    inputs.push_back(std::move(t.value()));
  }
  return inputs;
}

double normalizedMaxError(const ir::Tensor& got, const ir::Tensor& want) {
  if (got.shape() != want.shape()) return INFINITY;
  double maxErr = 0, maxRef = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    double a = got.getDouble(static_cast<size_t>(i)), b = want.getDouble(static_cast<size_t>(i));
    if (std::isnan(a) != std::isnan(b)) return INFINITY;
    maxErr = std::max(maxErr, std::fabs(a - b));
    maxRef = std::max(maxRef, std::fabs(b));
  }
  return maxRef == 0 ? maxErr : maxErr / maxRef;
}

}  // namespace bertc::test
