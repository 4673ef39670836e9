#pragma once
/// Tensor data by reference: a Tensor points at bytes that someone else owns
/// (a memory-mapped external-data file, the parsed ONNX model, or a buffer it
/// allocated itself) and keeps that owner alive. Copying a Tensor never copies
/// the bytes, so a 440 MB model's weights exist once in memory.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ir/types.h"

namespace bertc::ir {

/// "[2, 3]": a concrete shape for messages.
std::string shapeString(std::span<const int64_t> shape);

class Tensor {
 public:
  Tensor() = default;
  /// A view of `nbytes` at `data`, kept alive by `owner`.
  Tensor(DType dtype, std::vector<int64_t> shape, std::shared_ptr<const void> owner, const std::byte* data,
         size_t nbytes);
  /// A new zero-filled tensor that owns its bytes. A shape past
  /// kMaxTensorBytes (ir/checked.h) or whose size overflows is a UserError.
  static Tensor allocate(DType dtype, std::vector<int64_t> shape);
  /// A new tensor holding a copy of `values`.
  template <class T>
  static Tensor fromVector(DType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
    Tensor t = allocate(dtype, std::move(shape));
    if (!values.empty()) std::memcpy(t.mutableData(), values.data(), std::min(t.nbytes(), values.size() * sizeof(T)));
    return t;
  }
  static Tensor scalar(DType dtype, double value);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t numel() const;
  size_t nbytes() const { return nbytes_; }
  const std::byte* data() const { return data_; }
  /// Writable bytes; only for tensors made by allocate() (the interpreter's).
  std::byte* mutableData() { return const_cast<std::byte*>(data_); }
  bool empty() const { return data_ == nullptr && nbytes_ == 0 && shape_.empty(); }

  /// Element i read as T (memcpy: the bytes may be unaligned in an mmap).
  template <class T>
  T load(size_t i) const {
    T v;
    std::memcpy(&v, data_ + i * sizeof(T), sizeof(T));
    return v;
  }
  /// Element i converted to double / int64, whatever the dtype.
  double getDouble(size_t i) const;
  int64_t getInt(size_t i) const;
  /// Element i set from a double (converted to the dtype); allocate()d tensors only.
  void setDouble(size_t i, double v);
  void setInt(size_t i, int64_t v);
  /// All elements as int64 (for shape tensors).
  std::vector<int64_t> toInts() const;

 private:
  DType dtype_ = DType::Undefined;
  std::vector<int64_t> shape_;
  std::shared_ptr<const void> owner_;
  const std::byte* data_ = nullptr;
  size_t nbytes_ = 0;
};

/// IEEE half / bfloat16 conversions (round to nearest even).
float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
float bf16ToFloat(uint16_t h);
uint16_t floatToBf16(float f);

}  // namespace bertc::ir
