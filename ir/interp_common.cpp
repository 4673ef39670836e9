/// Element and shape helpers shared by the reference interpreter's kernels.
#include <cmath>
#include <limits>
#include <sstream>

#include "ir/interp_kernels.h"

namespace bertc::ir::interp {

const Tensor& KernelCtx::operand(size_t i, const char* what) const {
  const Tensor* t = optional(i);
  if (!t) fail(std::string("missing operand ") + what);
  return *t;
}

void fail(const std::string& msg) { throw UserError(msg); }

std::string dimsStr(const Dims& d) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < d.size(); ++i) os << (i ? ", " : "") << d[i];
  os << ']';
  return os.str();
}

int64_t numelOf(const Dims& d) {
  /// A cap far above any real activation, so a hostile shape operand
  /// (Expand to [1e12]) is an error instead of an out-of-memory kill.
  constexpr int64_t kMaxElements = int64_t(1) << 32;
  int64_t n = 1;
  for (int64_t x : d) {
    if (x < 0) fail("negative dimension in shape " + dimsStr(d));
    if (x != 0 && n > kMaxElements / x) fail("shape " + dimsStr(d) + " is too large");
    n *= x;
  }
  return n;
}

Dims stridesOf(const Dims& d) {
  Dims s(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;) s[i - 1] = s[i] * d[i];
  return s;
}

Dims broadcastShapes(const std::vector<Dims>& shapes) {
  size_t rank = 0;
  for (const Dims& s : shapes) rank = std::max(rank, s.size());
  Dims out(rank, 1);
  for (const Dims& s : shapes) {
    size_t off = rank - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[off + i];
      if (s[i] == o || s[i] == 1) continue;
      if (o == 1) {
        o = s[i];
        continue;
      }
      std::string all;
      for (const Dims& t : shapes) all += (all.empty() ? "" : " and ") + dimsStr(t);
      fail("shapes " + all + " do not broadcast");
    }
  }
  return out;
}

bool broadcastsTo(const Dims& from, const Dims& to) {
  if (from.size() > to.size()) return false;
  size_t off = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[off + i]) return false;
  return true;
}

int64_t normAxis(int64_t axis, int64_t rank, const char* what) {
  if (axis < -rank || axis >= rank)
    fail(std::string(what) + " " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

BroadcastMap::BroadcastMap(const Dims& in, const Dims& out) : outDims_(out), inStrides_(out.size(), 0) {
  BERTC_INTERNAL_ASSERT(in.size() <= out.size(), "broadcast to a lower rank");
  Dims s = stridesOf(in);
  size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) {
    BERTC_INTERNAL_ASSERT(in[i] == out[off + i] || in[i] == 1, "shape does not broadcast");
    inStrides_[off + i] = in[i] == 1 ? 0 : s[i];
  }
}

int64_t BroadcastMap::operator()(int64_t outIndex) const {
  int64_t r = 0;
  for (size_t d = outDims_.size(); d-- > 0;) {
    int64_t n = outDims_[d];
    r += (outIndex % n) * inStrides_[d];
    outIndex /= n;
  }
  return r;
}

bool isFloating(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64; }
bool isSignedInt(DType t) { return t == DType::I64 || t == DType::I32 || t == DType::I8; }
bool isInt(DType t) { return isSignedInt(t) || t == DType::U8; }

std::string typeName(DType t) { return t == DType::Undefined ? "undefined" : std::string(dtypeName(t)); }

RowStats rowStats(const double* row, int64_t len, double eps) {
  double mean = 0;
  for (int64_t k = 0; k < len; ++k) mean += row[k];
  mean /= static_cast<double>(len);
  double var = 0;
  for (int64_t k = 0; k < len; ++k) var += (row[k] - mean) * (row[k] - mean);
  var /= static_cast<double>(len);
  return {mean, 1.0 / std::sqrt(var + eps)};
}

void requireType(const Tensor& t, unsigned allowed, const char* what) {
  DType d = t.dtype();
  bool ok = (isFloating(d) && (allowed & kFloat)) || (isSignedInt(d) && (allowed & kSignedInt)) ||
            (d == DType::U8 && (allowed & kUnsignedInt)) || (d == DType::Bool && (allowed & kBool));
  if (ok) return;
  std::string want;
  auto add = [&](unsigned bit, const char* names) {
    if (allowed & bit) want += (want.empty() ? "" : ", ") + std::string(names);
  };
  add(kFloat, "f32, f16, bf16, f64");
  add(kSignedInt, "i64, i32, i8");
  add(kUnsignedInt, "u8");
  add(kBool, "bool");
  fail(std::string(what) + " has unsupported dtype " + typeName(d) + " (expected " + want + ")");
}

void requireSameType(const Tensor& a, const Tensor& b, const char* whatA, const char* whatB) {
  if (a.dtype() != b.dtype())
    fail(std::string(whatA) + " and " + whatB + " must have the same dtype, got " + typeName(a.dtype()) + " and " +
         typeName(b.dtype()));
}

Tensor newTensor(DType dtype, const Dims& shape) {
  numelOf(shape);  // reject negative and absurd shapes before allocating
  return Tensor::allocate(dtype, shape);
}

int64_t doubleToInt(double v) {
  if (std::isnan(v)) return 0;
  if (v >= 9223372036854775807.0) return std::numeric_limits<int64_t>::max();
  if (v <= -9223372036854775808.0) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

double loadF(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::F32: return t.load<float>(i);
    case DType::F16: return halfToFloat(t.load<uint16_t>(i));
    case DType::BF16: return bf16ToFloat(t.load<uint16_t>(i));
    case DType::F64: return t.load<double>(i);
    case DType::I64: return static_cast<double>(t.load<int64_t>(i));
    case DType::I32: return t.load<int32_t>(i);
    case DType::I8: return t.load<int8_t>(i);
    case DType::U8: return t.load<uint8_t>(i);
    case DType::Bool: return t.load<uint8_t>(i) != 0 ? 1.0 : 0.0;
    case DType::Undefined: break;
  }
  fail("cannot read elements of dtype " + typeName(t.dtype()));
}

int64_t loadI(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::I64: return t.load<int64_t>(i);
    case DType::I32: return t.load<int32_t>(i);
    case DType::I8: return t.load<int8_t>(i);
    case DType::U8: return t.load<uint8_t>(i);
    case DType::Bool: return t.load<uint8_t>(i) != 0 ? 1 : 0;
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::F64: return doubleToInt(loadF(t, i));
    case DType::Undefined: break;
  }
  fail("cannot read elements of dtype " + typeName(t.dtype()));
}

namespace {
template <class T>
void put(Tensor& t, int64_t i, T v) {
  std::memcpy(t.mutableData() + i * sizeof(T), &v, sizeof(T));
}
}  // namespace

void storeF(Tensor& t, int64_t i, double v) {
  switch (t.dtype()) {
    case DType::F32: return put(t, i, static_cast<float>(v));
    case DType::F16: return put(t, i, floatToHalf(static_cast<float>(v)));
    case DType::BF16: return put(t, i, floatToBf16(static_cast<float>(v)));
    case DType::F64: return put(t, i, v);
    case DType::Bool: return put(t, i, static_cast<uint8_t>(v != 0.0));
    case DType::I64:
    case DType::I32:
    case DType::I8:
    case DType::U8: return storeI(t, i, doubleToInt(v));
    case DType::Undefined: break;
  }
  fail("cannot write elements of dtype " + typeName(t.dtype()));
}

void storeI(Tensor& t, int64_t i, int64_t v) {
  switch (t.dtype()) {
    case DType::I64: return put(t, i, v);
    case DType::I32: return put(t, i, static_cast<int32_t>(v));
    case DType::I8: return put(t, i, static_cast<int8_t>(v));
    case DType::U8: return put(t, i, static_cast<uint8_t>(v));
    case DType::Bool: return put(t, i, static_cast<uint8_t>(v != 0));
    // Directly from int64, not via double, so large values round once.
    case DType::F32: return put(t, i, static_cast<float>(v));
    case DType::F16: return put(t, i, floatToHalf(static_cast<float>(v)));
    case DType::BF16: return put(t, i, floatToBf16(static_cast<float>(v)));
    case DType::F64: return put(t, i, static_cast<double>(v));
    case DType::Undefined: break;
  }
  fail("cannot write elements of dtype " + typeName(t.dtype()));
}

void copyElems(Tensor& dst, int64_t di, const Tensor& src, int64_t si, int64_t count) {
  BERTC_INTERNAL_ASSERT(dst.dtype() == src.dtype(), "copyElems between dtypes");
  if (count <= 0) return;
  size_t es = dtypeSize(src.dtype());
  std::memcpy(dst.mutableData() + di * es, src.data() + si * es, count * es);
}

std::vector<double> allDoubles(const Tensor& t) {
  int64_t n = t.numel();
  std::vector<double> v(n);
  if (t.dtype() == DType::F32) {
    for (int64_t i = 0; i < n; ++i) v[i] = t.load<float>(i);  // the common case, without the switch
  } else {
    for (int64_t i = 0; i < n; ++i) v[i] = loadF(t, i);
  }
  return v;
}

std::vector<int64_t> allInts(const Tensor& t) {
  int64_t n = t.numel();
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = loadI(t, i);
  return v;
}

int64_t scalarInt(const Tensor& t, const char* what) {
  requireType(t, kInt, what);
  if (t.numel() != 1 || t.shape().size() > 1)
    fail(std::string(what) + " must be a scalar, got shape " + dimsStr(t.shape()));
  return loadI(t, 0);
}

std::vector<int64_t> intVector(const Tensor& t, const char* what) {
  requireType(t, kInt, what);
  if (t.shape().size() != 1) fail(std::string(what) + " must be 1-D, got shape " + dimsStr(t.shape()));
  return allInts(t);
}

}  // namespace bertc::ir::interp
