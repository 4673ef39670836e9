/// libFuzzer target: any bytes into the ONNX importer, with shape inference
/// and verification on. The importer must return a Status, never crash,
/// hang or read out of bounds, and its error must be one line that starts
/// with the file name (DESIGN.md, Errors).
#include <cstdint>

#include "frontend/onnx_import.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/onnx_mutator.h"

namespace {

/// External data resolves here (fuzz_support.h), so the mapping code runs.
std::string dataDir() { return bertc::fuzz::externalDataDir("fuzz-loader").path().string(); }

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t maxSize, unsigned seed) {
  return bertc::fuzz::mutateGraphOrBytes(data, size, maxSize, seed);
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dataDir();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bertc::frontend::ImportOptions opts;
  opts.inferShapes = true;
  auto r = bertc::frontend::importOnnxBytes(data, size, "fuzz.onnx", dataDir(), opts);
  if (!r.ok()) bertc::fuzz::checkMessage("import", r.message(), "fuzz.onnx: ");
  return 0;
}
