#pragma once
/// Private to the reference interpreter (ir/interp*.cpp): the kernel context,
/// each op family's entry point (its kernels are private to its file), and
/// the element and shape helpers they share. Kernels throw UserError with a message that does not name the
/// node; interpret() prefixes `node 'name' (Op): `.
///
/// Element access goes through three value domains, chosen so that every
/// conversion is exact or is the rounding ONNX Runtime does:
///  * floating dtypes (f32, f16, bf16, f64) are read as double (exact) and
///    written back rounded to the dtype (f16/bf16 via float);
///  * integer dtypes (i64, i32, i8, u8) and bool are read as int64 and written
///    back wrapped to the dtype's width (two's complement, as C++20 defines);
///  * data movement copies bytes and never converts.
#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/interp.h"
#include "ir/status.h"
#include "ir/tensor.h"

namespace bertc::ir::interp {

using Dims = std::vector<int64_t>;

/// What a kernel sees: the node (for attributes), its operand tensors (null
/// for an absent optional operand) and the options.
struct KernelCtx {
  const Node& node;
  std::vector<const Tensor*> in;
  const InterpOptions& opts;

  /// Operand i, which must be present; `what` names it in the error.
  const Tensor& operand(size_t i, const char* what) const;
  /// Operand i, or null if absent.
  const Tensor* optional(size_t i) const { return i < in.size() ? in[i] : nullptr; }
  OpKind op() const { return node.op; }
};

// ---- errors and shapes ---------------------------------------------------

/// Throws UserError(msg).
[[noreturn]] void fail(const std::string& msg);
/// "[2, 3, 4]"
std::string dimsStr(const Dims& d);
/// Product of dims; throws on a negative dim or a tensor too large to hold.
int64_t numelOf(const Dims& d);
/// Row-major strides (in elements).
Dims stridesOf(const Dims& d);
/// Multidirectional (numpy) broadcast of all shapes; throws if incompatible.
Dims broadcastShapes(const std::vector<Dims>& shapes);
/// True if `from` broadcasts one way (numpy rules, `to` unchanged) to `to`.
bool broadcastsTo(const Dims& from, const Dims& to);
/// `axis` in [-rank, rank) made non-negative; throws otherwise. `what` names it.
int64_t normAxis(int64_t axis, int64_t rank, const char* what = "axis");

/// Maps each element of a tensor of shape `out` (row-major index) to the
/// element of a tensor of shape `in` that broadcasts to it: `in` is right
/// aligned and its size-1 dims repeat. Used for elementwise operands and, in
/// reverse, to find the reduced element an input element belongs to.
class BroadcastMap {
 public:
  BroadcastMap(const Dims& in, const Dims& out);
  int64_t operator()(int64_t outIndex) const;

 private:
  Dims outDims_;
  Dims inStrides_;  ///< per out dim; 0 where `in` broadcasts
};

/// Calls fn(coords, flatIndex) for every element of `shape`, row-major.
template <class Fn>
void forEachCoord(const Dims& shape, Fn&& fn) {
  int64_t n = numelOf(shape);
  Dims c(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    fn(static_cast<const Dims&>(c), i);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++c[d] < shape[d]) break;
      c[d] = 0;
    }
  }
}

// ---- dtypes and elements -------------------------------------------------

bool isFloating(DType t);  ///< f32, f16, bf16, f64
bool isInt(DType t);       ///< i64, i32, i8, u8
bool isSignedInt(DType t);
/// dtype name for messages ("f32").
std::string typeName(DType t);

/// Dtype sets for requireType.
enum TypeSet : unsigned {
  kFloat = 1,      ///< f32, f16, bf16, f64
  kSignedInt = 2,  ///< i64, i32, i8
  kUnsignedInt = 4,
  kBool = 8,
  kInt = kSignedInt | kUnsignedInt,
  kNumeric = kFloat | kInt,
  kAny = kNumeric | kBool,
};
/// Throws "<what> has dtype X; expected ..." unless t's dtype is in `allowed`.
void requireType(const Tensor& t, unsigned allowed, const char* what);
/// Throws unless a and b have the same dtype.
void requireSameType(const Tensor& a, const Tensor& b, const char* whatA, const char* whatB);

/// LayerNorm statistics of `row` (len elements): the mean and
/// 1 / sqrt(variance + eps), two-pass in double (mean, then the mean of
/// squared deviations), so they are exact to double precision.
struct RowStats {
  double mean, invStd;
};
RowStats rowStats(const double* row, int64_t len, double eps);

/// A new zero-filled tensor (the only way kernels make results).
Tensor newTensor(DType dtype, const Dims& shape);

double loadF(const Tensor& t, int64_t i);      ///< any dtype, as double
int64_t loadI(const Tensor& t, int64_t i);     ///< integer or bool dtypes (floats truncate)
void storeF(Tensor& t, int64_t i, double v);   ///< rounds to t's dtype
void storeI(Tensor& t, int64_t i, int64_t v);  ///< wraps to t's dtype (exact int -> float conversion)
/// double -> int64 truncating toward zero; NaN gives 0, out of range saturates.
int64_t doubleToInt(double v);
/// Copies `count` elements' bytes from src[si] to dst[di] (same dtype).
void copyElems(Tensor& dst, int64_t di, const Tensor& src, int64_t si, int64_t count);

/// All elements of a tensor as double / int64 (for operands of linear algebra
/// and for shape tensors).
std::vector<double> allDoubles(const Tensor& t);
std::vector<int64_t> allInts(const Tensor& t);
/// An integer operand holding exactly one element (rank 0 or [1]); `what` names it.
int64_t scalarInt(const Tensor& t, const char* what);
/// A 1-D integer operand (a shape, starts, repeats, ...).
std::vector<int64_t> intVector(const Tensor& t, const char* what);

/// Calls fn.template operator()<Acc>() with the accumulator type for float
/// data of t's dtype: double when InterpOptions::accumulateInDouble or t is
/// f64, float otherwise.
template <class Fn>
auto withAcc(const KernelCtx& ctx, const Tensor& t, Fn&& fn) {
  if (ctx.opts.accumulateInDouble || t.dtype() == DType::F64) return fn.template operator()<double>();
  return fn.template operator()<float>();
}

/// x * Phi(x): exact (erf) or, with tanhApprox, the tanh approximation
/// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
double gelu(double x, bool tanhApprox);

// ---- the families' kernels ----------------------------------------------

/// Runs the reference kernel of ctx.op(), an op of the family (ops.def), and
/// returns its results. Each switches over its family with no default, so a
/// row of ops.def without a kernel does not compile; interpret() reaches them
/// through visitOp.
std::vector<Tensor> evalOp(const KernelCtx& ctx, ElementwiseOp op);  // interp_elementwise.cpp
std::vector<Tensor> evalOp(const KernelCtx& ctx, LinalgOp op);       // interp_linalg.cpp
std::vector<Tensor> evalOp(const KernelCtx& ctx, MovementOp op);     // interp_shape.cpp
std::vector<Tensor> evalOp(const KernelCtx& ctx, FusedOp op);        // interp_fused.cpp

}  // namespace bertc::ir::interp
