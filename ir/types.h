#pragma once
/// Element types, symbolic dimensions and tensor types of the IR.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bertc::ir {

/// Element types. The numeric codes are ONNX's TensorProto.DataType codes, so
/// a Cast's `to` attribute and a DType agree; only these types are supported.
enum class DType : int32_t {
  Undefined = 0,
  F32 = 1,
  U8 = 2,
  I8 = 3,
  I32 = 6,
  I64 = 7,
  Bool = 9,
  F16 = 10,
  F64 = 11,
  BF16 = 16,
};

/// Bytes per element; 0 for Undefined.
size_t dtypeSize(DType t);
/// Short name used by the printer: f32, i64, bool, ...
std::string_view dtypeName(DType t);
/// The DType with ONNX code `code`, or nullopt if bertc does not support it.
std::optional<DType> dtypeFromOnnx(int32_t code);
bool isFloat(DType t);
bool isInteger(DType t);

using SymId = uint32_t;

/// One named symbolic dimension (`batch`, `sequence`) with inclusive bounds.
/// Derived symbols stand for expressions the polynomial form cannot hold
/// (e.g. floor(seq / 3)); `definition` says what they are.
struct Symbol {
  std::string name;
  int64_t lo = 1;
  int64_t hi = INT64_MAX;
  std::string definition;
  /// Set by shape inference when a broadcast meets this named symbol with a
  /// fixed dim > 1: the only value (besides 1) it can take. The importer then
  /// replaces the symbol by that constant (see unifyFixedDims).
  int64_t broadcastsWith = 0;
};

class SymbolTable;

/// An integer polynomial over symbols: sum of coeff * product(symbols).
/// Dims are SymExprs; a constant dim is a polynomial with only a constant term.
/// The canonical form (sorted monomials, no zero coefficients) makes `==`
/// structural equality.
class SymExpr {
 public:
  SymExpr() = default;
  SymExpr(int64_t c);  // NOLINT(google-explicit-constructor): dims are mostly constants
  static SymExpr symbol(SymId id);

  bool isConst() const;
  std::optional<int64_t> constValue() const;
  /// True if this is a single symbol with coefficient 1.
  std::optional<SymId> asSymbol() const;

  friend SymExpr operator+(const SymExpr& a, const SymExpr& b);
  friend SymExpr operator-(const SymExpr& a, const SymExpr& b);
  friend SymExpr operator*(const SymExpr& a, const SymExpr& b);
  friend bool operator==(const SymExpr& a, const SymExpr& b) { return a.terms_ == b.terms_; }
  friend bool operator!=(const SymExpr& a, const SymExpr& b) { return !(a == b); }
  SymExpr operator-() const;

  /// this / d when the division is exact for every value of the symbols
  /// (d a nonzero monomial dividing every term); nullopt otherwise.
  std::optional<SymExpr> divExact(const SymExpr& d) const;

  /// Evaluates with symbol values `env` (indexed by SymId); nullopt if a symbol is unbound (< 0).
  std::optional<int64_t> eval(const std::vector<int64_t>& env) const;

  /// The least value over the symbols' bounds, when every coefficient is
  /// non-negative (so the minimum sits at the lower bounds); else nullopt.
  std::optional<int64_t> lowerBound(const SymbolTable& syms) const;

  /// Readable form: `batch*seq*384 + 2`.
  std::string str(const SymbolTable& syms) const;

  /// Monomial (sorted symbol ids, repeated for powers) -> coefficient.
  const std::map<std::vector<SymId>, int64_t>& terms() const { return terms_; }

 private:
  std::map<std::vector<SymId>, int64_t> terms_;
};

class SymbolTable {
 public:
  /// The symbol named `name`, created with bounds [1, inf) if new.
  SymId intern(const std::string& name);
  /// A fresh symbol standing for an expression the polynomial cannot hold.
  SymId derived(const std::string& definition);
  const Symbol& operator[](SymId id) const { return symbols_.at(id); }
  Symbol& operator[](SymId id) { return symbols_.at(id); }
  size_t size() const { return symbols_.size(); }
  std::optional<SymId> find(const std::string& name) const;

 private:
  std::vector<Symbol> symbols_;
};

using Dim = SymExpr;
using Shape = std::vector<Dim>;

/// Element type plus shape. dtype Undefined means "not inferred yet".
struct Type {
  DType dtype = DType::Undefined;
  Shape shape;

  bool known() const { return dtype != DType::Undefined; }
  size_t rank() const { return shape.size(); }
  /// Product of dims as a polynomial.
  SymExpr numel() const;
  /// Concrete dims, or nullopt if any dim is symbolic.
  std::optional<std::vector<int64_t>> constShape() const;
  friend bool operator==(const Type& a, const Type& b) { return a.dtype == b.dtype && a.shape == b.shape; }
  std::string str(const SymbolTable& syms) const;
};

}  // namespace bertc::ir
