#pragma once
/// Checked arithmetic for every size computed from user input (flags, .npy
/// headers, ONNX dims): an overflow is a nullopt the caller turns into a
/// one-line error, never a wrapped size that a later loop writes past.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "ir/types.h"

namespace bertc::ir {

/// The largest tensor the interpreter and the CLI allocate: 2^40 bytes. Past
/// it a request is a mistake (or an attack), not a model, and fails early
/// instead of after the allocator tried.
inline constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 40;

inline std::optional<int64_t> checkedMul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

inline std::optional<int64_t> checkedAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

/// The element count of `shape`: nullopt for a negative dim or an overflow.
inline std::optional<int64_t> checkedNumel(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    auto m = checkedMul(n, d);
    if (!m) return std::nullopt;
    n = *m;
  }
  return n;
}

/// The bytes of a `dtype` tensor of `shape`: nullopt for a negative dim, an
/// overflow, or more than kMaxTensorBytes.
inline std::optional<size_t> checkedTensorBytes(DType dtype, std::span<const int64_t> shape) {
  auto n = checkedNumel(shape);
  if (!n) return std::nullopt;
  auto bytes = checkedMul(*n, static_cast<int64_t>(dtypeSize(dtype)));
  if (!bytes || static_cast<uint64_t>(*bytes) > kMaxTensorBytes) return std::nullopt;
  return static_cast<size_t>(*bytes);
}

}  // namespace bertc::ir
