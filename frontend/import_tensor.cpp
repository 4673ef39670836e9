/// TensorProto -> ir::Tensor and AttributeProto -> ir::Attr.
#include <cstring>

#include "frontend/import_context.h"

namespace bertc::frontend::detail {
namespace {

/// Largest dim accepted in a constant: far above any real weight, and low
/// enough that products of a few dims stay clear of int64 overflow downstream.
constexpr int64_t kMaxDim = int64_t{1} << 40;

/// Copies `n` elements of a typed repeated field into t, converting each with `conv`.
template <class Out, class Field, class Conv>
void copyTyped(ir::Tensor& t, const Field& field, Conv conv) {
  std::byte* p = t.mutableData();
  for (int i = 0; i < field.size(); ++i) {
    Out v = conv(field.Get(i));
    std::memcpy(p + static_cast<size_t>(i) * sizeof(Out), &v, sizeof(Out));
  }
}

}  // namespace

ir::Tensor importTensor(ImportContext& ctx, const onnx::TensorProto& t, const std::string& prefix) {
  auto fail = [&](const std::string& what) { throw UserError(prefix + what); };
  auto dtype = ir::dtypeFromOnnx(t.data_type());
  if (!dtype) fail("element type " + onnxTypeName(t.data_type()) + " is not supported");
  if (t.has_segment()) fail("segmented tensors are not supported");

  std::vector<int64_t> shape(t.dims().begin(), t.dims().end());
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0 || d > kMaxDim) fail("dimension " + std::to_string(d) + " is out of range");
    if (__builtin_mul_overflow(numel, d, &numel) || numel > kMaxDim)
      fail("has too many elements (" + std::to_string(shape.size()) + " dims)");
  }
  size_t nbytes = static_cast<size_t>(numel) * ir::dtypeSize(*dtype);

  if (t.data_location() == onnx::TensorProto::EXTERNAL)
    return ctx.external.view(t, *dtype, std::move(shape), nbytes, prefix);

  if (t.has_raw_data()) {
    const std::string& raw = t.raw_data();
    if (raw.size() != nbytes)
      fail("raw data has " + std::to_string(raw.size()) + " bytes, expected " + std::to_string(nbytes) + " for " +
           std::to_string(numel) + " " + std::string(ir::dtypeName(*dtype)) + " elements");
    // A view into the parsed model: the bytes are not copied, and the model
    // lives as long as the tensor does.
    return ir::Tensor(*dtype, std::move(shape), ctx.model, reinterpret_cast<const std::byte*>(raw.data()), nbytes);
  }

  // Typed fields hold small tensors (exporters write weights as raw data);
  // they are copied into a tensor of our own.
  int count = 0;
  switch (*dtype) {
    case ir::DType::F32: count = t.float_data_size(); break;
    case ir::DType::F64: count = t.double_data_size(); break;
    case ir::DType::I64: count = t.int64_data_size(); break;
    default: count = t.int32_data_size(); break;  // I32, I8, U8, Bool, F16, BF16
  }
  if (count != numel) {
    if (count == 0) fail("has no data (" + std::to_string(numel) + " elements expected)");
    fail("has " + std::to_string(count) + " elements, its dims say " + std::to_string(numel));
  }
  ir::Tensor out = ir::Tensor::allocate(*dtype, std::move(shape));
  switch (*dtype) {
    case ir::DType::F32: copyTyped<float>(out, t.float_data(), [](float v) { return v; }); break;
    case ir::DType::F64: copyTyped<double>(out, t.double_data(), [](double v) { return v; }); break;
    case ir::DType::I64: copyTyped<int64_t>(out, t.int64_data(), [](int64_t v) { return v; }); break;
    case ir::DType::I32: copyTyped<int32_t>(out, t.int32_data(), [](int32_t v) { return v; }); break;
    case ir::DType::I8: copyTyped<int8_t>(out, t.int32_data(), [](int32_t v) { return static_cast<int8_t>(v); }); break;
    case ir::DType::U8: copyTyped<uint8_t>(out, t.int32_data(), [](int32_t v) { return static_cast<uint8_t>(v); });
      break;
    case ir::DType::Bool: copyTyped<uint8_t>(out, t.int32_data(), [](int32_t v) { return uint8_t{v != 0}; }); break;
    // Half and bfloat16 keep their bit patterns in the low 16 bits.
    case ir::DType::F16:
    case ir::DType::BF16:
      copyTyped<uint16_t>(out, t.int32_data(), [](int32_t v) { return static_cast<uint16_t>(v); });
      break;
    case ir::DType::Undefined: break;
  }
  return out;
}

ir::Attr importAttr(ImportContext& ctx, const onnx::AttributeProto& a, const std::string& prefix) {
  std::string p = prefix + "attribute " + quote(a.name()) + ": ";
  if (!a.ref_attr_name().empty()) throw UserError(p + "references to function attributes are not supported");
  auto type = a.type();
  if (type == onnx::AttributeProto::UNDEFINED) {
    // Files from before IR version 2 leave the type out; the set field says it.
    if (a.has_f()) type = onnx::AttributeProto::FLOAT;
    else if (a.has_i()) type = onnx::AttributeProto::INT;
    else if (a.has_s()) type = onnx::AttributeProto::STRING;
    else if (a.has_t()) type = onnx::AttributeProto::TENSOR;
    else if (a.floats_size()) type = onnx::AttributeProto::FLOATS;
    else if (a.ints_size()) type = onnx::AttributeProto::INTS;
    else if (a.strings_size()) type = onnx::AttributeProto::STRINGS;
  }
  switch (type) {
    case onnx::AttributeProto::FLOAT: return static_cast<double>(a.f());
    case onnx::AttributeProto::INT: return static_cast<int64_t>(a.i());
    case onnx::AttributeProto::STRING: return a.s();
    case onnx::AttributeProto::TENSOR: return importTensor(ctx, a.t(), p);
    case onnx::AttributeProto::FLOATS: return std::vector<double>(a.floats().begin(), a.floats().end());
    case onnx::AttributeProto::INTS: return std::vector<int64_t>(a.ints().begin(), a.ints().end());
    case onnx::AttributeProto::STRINGS: return std::vector<std::string>(a.strings().begin(), a.strings().end());
    default: break;
  }
  std::string name = onnx::AttributeProto_AttributeType_IsValid(type)
                         ? onnx::AttributeProto_AttributeType_Name(type)
                         : std::to_string(static_cast<int>(type));
  throw UserError(p + "attributes of type " + name + " are not supported");
}

}  // namespace bertc::frontend::detail
