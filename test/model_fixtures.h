#pragma once
// Shared by the tests that run the committed fixture models (test/models/).
#include <filesystem>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/npy.h"
#include "ir/tensor.h"

namespace bertc::test {

/// Every fixture directory under test/models (those holding a model.onnx), sorted.
std::vector<std::filesystem::path> fixtureDirs();

/// The fixture's inputs, one per graph input, from DIR/inputs/<name>.npy.
std::vector<ir::Tensor> loadInputs(const ir::Graph& g, const std::filesystem::path& dir);

/// max|a - b| / max|b| (0 when both are all zero); the metric the tolerances
/// in these tests are stated in.
double normalizedMaxError(const ir::Tensor& got, const ir::Tensor& want);

/// The pretrained MiniLM's ONNX file, from the script that knows where pip
/// put it (tools/make_pretrained_reference.py); empty if not installed.
std::string pretrainedModelPath();

/// Output and input names as file names: anything outside [A-Za-z0-9_.-] becomes '_'.
std::string fileNameFor(const std::string& name);

}  // namespace bertc::test
