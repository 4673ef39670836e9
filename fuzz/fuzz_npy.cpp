/// libFuzzer target: any bytes into the .npy reader (`bertc run --input`,
/// `--inputs-dir`). It must return a tensor or a one-line Status naming
/// the file; never crash, read out of bounds or abort (a header whose shape
/// is larger than the data that follows is an error, not an allocation).
#include <cstdint>

#include "fuzz/fuzz_support.h"
#include "ir/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto t = bertc::ir::readNpyBytes(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.npy");
  if (!t.ok()) bertc::fuzz::checkMessage("readNpy", t.message(), "fuzz.npy: ");
  return 0;
}
