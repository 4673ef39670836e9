#pragma once
/// A structure-aware mutation for the ONNX fuzz targets. Byte mutations of
/// a fixture model mostly flip weight bytes or break the protobuf, so they
/// rarely reach past the importer; this one parses the model and changes
/// its graph the way a hostile or broken exporter would: a node removed or
/// its op changed, an operand rewired, an attribute or a dim changed, an
/// initializer moved to external data, the opset changed. The targets call
/// it for half of their mutations (LLVMFuzzerCustomMutator), libFuzzer's
/// byte mutations for the other half.
#include <cstddef>
#include <cstdint>

namespace bertc::fuzz {

/// Mutates the ONNX model in data[0, size) in place; returns its new size
/// (<= maxSize), or 0 when the bytes are not a model or the result would
/// not fit, for the caller to mutate bytes instead.
size_t mutateOnnxModel(uint8_t* data, size_t size, size_t maxSize, unsigned seed);

/// The ONNX targets' LLVMFuzzerCustomMutator: half the mutations change the
/// graph (mutateOnnxModel), half the bytes (libFuzzer's own).
size_t mutateGraphOrBytes(uint8_t* data, size_t size, size_t maxSize, unsigned seed);

}  // namespace bertc::fuzz
