#include "ir/tensor.h"

#include <bit>
#include <cmath>

#include "ir/checked.h"
#include "ir/status.h"

namespace bertc::ir {

Tensor::Tensor(DType dtype, std::vector<int64_t> shape, std::shared_ptr<const void> owner, const std::byte* data,
               size_t nbytes)
    : dtype_(dtype), shape_(std::move(shape)), owner_(std::move(owner)), data_(data), nbytes_(nbytes) {}

Tensor Tensor::allocate(DType dtype, std::vector<int64_t> shape) {
  for (int64_t d : shape) BERTC_INTERNAL_ASSERT(d >= 0, "negative dim in Tensor::allocate");
  // Shapes reach here from flags and input files: too large is the user's.
  auto checked = checkedTensorBytes(dtype, shape);
  if (!checked) throw UserError("a " + std::string(dtypeName(dtype)) + " tensor of shape " + shapeString(shape) +
                                " is larger than " + std::to_string(kMaxTensorBytes >> 30) + " GiB");
  const size_t nbytes = *checked;
  // Value-initialised: zero-filled. At least one byte so data() is never null.
  std::shared_ptr<std::byte[]> buf(new std::byte[nbytes ? nbytes : 1]());
  const std::byte* p = buf.get();
  return Tensor(dtype, std::move(shape), std::shared_ptr<const void>(buf, p), p, nbytes);
}

std::string shapeString(std::span<const int64_t> shape) {
  std::string r = "[";
  for (size_t i = 0; i < shape.size(); ++i) r += (i ? ", " : "") + std::to_string(shape[i]);
  return r + "]";
}

Tensor Tensor::scalar(DType dtype, double value) {
  Tensor t = allocate(dtype, {});
  t.setDouble(0, value);
  return t;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

double Tensor::getDouble(size_t i) const {
  switch (dtype_) {
    case DType::F32: return load<float>(i);
    case DType::F64: return load<double>(i);
    case DType::F16: return halfToFloat(load<uint16_t>(i));
    case DType::BF16: return bf16ToFloat(load<uint16_t>(i));
    case DType::I64: return static_cast<double>(load<int64_t>(i));
    case DType::I32: return load<int32_t>(i);
    case DType::I8: return load<int8_t>(i);
    case DType::U8: return load<uint8_t>(i);
    case DType::Bool: return load<uint8_t>(i) != 0;
    case DType::Undefined: break;
  }
  BERTC_INTERNAL_ASSERT(false, "getDouble on an undefined tensor");
}

int64_t Tensor::getInt(size_t i) const {
  switch (dtype_) {
    case DType::I64: return load<int64_t>(i);
    case DType::I32: return load<int32_t>(i);
    case DType::I8: return load<int8_t>(i);
    case DType::U8: return load<uint8_t>(i);
    case DType::Bool: return load<uint8_t>(i) != 0;
    default: {
      // Float to int: truncate, NaN gives 0, out of range saturates (never UB).
      double d = getDouble(i);
      if (std::isnan(d)) return 0;
      if (d >= 9.2233720368547758e18) return INT64_MAX;
      if (d <= -9.2233720368547758e18) return INT64_MIN;
      return static_cast<int64_t>(d);
    }
  }
}

template <class T>
static void store(std::byte* p, size_t i, T v) {
  std::memcpy(p + i * sizeof(T), &v, sizeof(T));
}

void Tensor::setDouble(size_t i, double v) {
  std::byte* p = mutableData();
  switch (dtype_) {
    case DType::F32: return store<float>(p, i, static_cast<float>(v));
    case DType::F64: return store<double>(p, i, v);
    case DType::F16: return store<uint16_t>(p, i, floatToHalf(static_cast<float>(v)));
    case DType::BF16: return store<uint16_t>(p, i, floatToBf16(static_cast<float>(v)));
    case DType::I64: return store<int64_t>(p, i, static_cast<int64_t>(v));
    case DType::I32: return store<int32_t>(p, i, static_cast<int32_t>(v));
    case DType::I8: return store<int8_t>(p, i, static_cast<int8_t>(v));
    case DType::U8: return store<uint8_t>(p, i, static_cast<uint8_t>(v));
    case DType::Bool: return store<uint8_t>(p, i, v != 0 ? 1 : 0);
    case DType::Undefined: break;
  }
  BERTC_INTERNAL_ASSERT(false, "setDouble on an undefined tensor");
}

void Tensor::setInt(size_t i, int64_t v) {
  std::byte* p = mutableData();
  switch (dtype_) {
    case DType::I64: return store<int64_t>(p, i, v);
    case DType::I32: return store<int32_t>(p, i, static_cast<int32_t>(v));
    case DType::I8: return store<int8_t>(p, i, static_cast<int8_t>(v));
    case DType::U8: return store<uint8_t>(p, i, static_cast<uint8_t>(v));
    case DType::Bool: return store<uint8_t>(p, i, v != 0 ? 1 : 0);
    default: return setDouble(i, static_cast<double>(v));
  }
}

std::vector<int64_t> Tensor::toInts() const {
  std::vector<int64_t> out(static_cast<size_t>(numel()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = getInt(i);
  return out;
}

float halfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  return std::bit_cast<float>(bits);
}

uint16_t floatToHalf(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (absx < 0x38800000u) {                                                 // subnormal or zero in half
    float a = std::bit_cast<float>(absx);
    // Scale so that the half subnormal unit (2^-24) becomes 1, round to nearest even.
    float scaled = a * 16777216.0f;
    uint32_t m = static_cast<uint32_t>(std::nearbyint(scaled));
    return static_cast<uint16_t>(sign | m);
  }
  uint32_t mant = absx & 0x7fffffu;
  uint32_t exp = (absx >> 23) - 127 + 15;
  uint32_t h = exp << 10 | mant >> 13;
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // round to nearest even
  return static_cast<uint16_t>(sign | h);
}

float bf16ToFloat(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

uint16_t floatToBf16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // NaN stays NaN
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

}  // namespace bertc::ir
