/// libFuzzer target: any bytes into the ONNX importer, with shape inference
/// and verification on. The importer must return a Status, never crash,
/// hang or read out of bounds, and its error must be one line that starts
/// with the file name (DESIGN.md, Errors).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "frontend/onnx_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bertc::frontend::ImportOptions opts;
  opts.inferShapes = true;
  // A directory that does not exist: external data never resolves.
  auto r = bertc::frontend::importOnnxBytes(data, size, "fuzz.onnx", "/nonexistent-bertc-fuzz-dir", opts);
  if (!r.ok()) {
    const std::string& msg = r.message();
    if (msg.rfind("fuzz.onnx: ", 0) != 0 || msg.find('\n') != std::string::npos) {
      std::fprintf(stderr, "bad error message: %s\n", msg.c_str());
      std::abort();
    }
  }
  return 0;
}
