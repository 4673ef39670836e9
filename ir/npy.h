#pragma once
/// Reading and writing NumPy .npy files (format version 1.0/2.0, little-endian,
/// C order): the interchange format for `bertc run` inputs and outputs and for
/// the test fixtures' reference outputs.
#include <string>
#include <string_view>

#include "ir/status.h"
#include "ir/tensor.h"

namespace bertc::ir {

/// Reads a .npy file; errors name the file and what is wrong with it.
Result<Tensor> readNpy(const std::string& path);
/// The same from bytes in memory; `name` is the file name messages start with.
Result<Tensor> readNpyBytes(std::string_view bytes, const std::string& name);
/// Writes t as a .npy file.
Status writeNpy(const std::string& path, const Tensor& t);

}  // namespace bertc::ir
