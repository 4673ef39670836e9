#include "ir/types.h"

#include <algorithm>
#include <sstream>

#include "ir/status.h"

namespace bertc::ir {

size_t dtypeSize(DType t) {
  switch (t) {
    case DType::F32: case DType::I32: return 4;
    case DType::F64: case DType::I64: return 8;
    case DType::F16: case DType::BF16: return 2;
    case DType::U8: case DType::I8: case DType::Bool: return 1;
    case DType::Undefined: return 0;
  }
  return 0;
}

std::string_view dtypeName(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::F64: return "f64";
    case DType::I64: return "i64";
    case DType::I32: return "i32";
    case DType::I8: return "i8";
    case DType::U8: return "u8";
    case DType::Bool: return "bool";
    case DType::Undefined: return "?";
  }
  return "?";
}

std::optional<DType> dtypeFromOnnx(int32_t code) {
  switch (code) {
    case 1: case 2: case 3: case 6: case 7: case 9: case 10: case 11: case 16:
      return static_cast<DType>(code);
    default:
      return std::nullopt;
  }
}

bool isFloat(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64; }
bool isInteger(DType t) { return t == DType::I64 || t == DType::I32 || t == DType::I8 || t == DType::U8; }

// ---- SymExpr ----

namespace {

/// Checked int64 arithmetic: shapes in a hostile file can be huge.
int64_t checkedAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) throw UserError("shape arithmetic overflows int64");
  return r;
}

int64_t checkedMul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw UserError("shape arithmetic overflows int64");
  return r;
}

}  // namespace

SymExpr::SymExpr(int64_t c) {
  if (c != 0) terms_[{}] = c;
}

SymExpr SymExpr::symbol(SymId id) {
  SymExpr e;
  e.terms_[{id}] = 1;
  return e;
}

bool SymExpr::isConst() const { return terms_.empty() || (terms_.size() == 1 && terms_.begin()->first.empty()); }

std::optional<int64_t> SymExpr::constValue() const {
  if (terms_.empty()) return 0;
  if (terms_.size() == 1 && terms_.begin()->first.empty()) return terms_.begin()->second;
  return std::nullopt;
}

std::optional<SymId> SymExpr::asSymbol() const {
  if (terms_.size() == 1 && terms_.begin()->first.size() == 1 && terms_.begin()->second == 1)
    return terms_.begin()->first[0];
  return std::nullopt;
}

SymExpr operator+(const SymExpr& a, const SymExpr& b) {
  SymExpr r = a;
  for (const auto& [mono, c] : b.terms_) {
    int64_t v = (r.terms_[mono] = checkedAdd(r.terms_[mono], c));
    if (v == 0) r.terms_.erase(mono);
  }
  return r;
}

SymExpr SymExpr::operator-() const {
  SymExpr r = *this;
  for (auto& [mono, c] : r.terms_) c = checkedMul(c, -1);
  return r;
}

SymExpr operator-(const SymExpr& a, const SymExpr& b) { return a + (-b); }

SymExpr operator*(const SymExpr& a, const SymExpr& b) {
  SymExpr r;
  for (const auto& [ma, ca] : a.terms_) {
    for (const auto& [mb, cb] : b.terms_) {
      std::vector<SymId> m = ma;
      m.insert(m.end(), mb.begin(), mb.end());
      std::sort(m.begin(), m.end());
      int64_t v = (r.terms_[m] = checkedAdd(r.terms_[m], checkedMul(ca, cb)));
      if (v == 0) r.terms_.erase(m);
    }
  }
  return r;
}

std::optional<SymExpr> SymExpr::divExact(const SymExpr& d) const {
  if (d.terms_.size() != 1) {
    if (d == *this && !d.terms_.empty()) return SymExpr(1);
    return std::nullopt;
  }
  const auto& [dm, dc] = *d.terms_.begin();
  if (dc == 0) return std::nullopt;
  SymExpr r;
  for (const auto& [m, c] : terms_) {
    if (c % dc != 0) return std::nullopt;
    // Remove dm's symbols from m (multiset difference); every one must be present.
    std::vector<SymId> rest;
    size_t j = 0;
    for (SymId s : m) {
      if (j < dm.size() && dm[j] == s) {
        ++j;
      } else {
        rest.push_back(s);
      }
    }
    if (j != dm.size()) return std::nullopt;
    r.terms_[rest] = c / dc;
  }
  return r;
}

std::optional<int64_t> SymExpr::eval(const std::vector<int64_t>& env) const {
  int64_t total = 0;
  for (const auto& [m, c] : terms_) {
    int64_t v = c;
    for (SymId s : m) {
      if (s >= env.size() || env[s] < 0) return std::nullopt;
      if (__builtin_mul_overflow(v, env[s], &v)) return std::nullopt;
    }
    if (__builtin_add_overflow(total, v, &total)) return std::nullopt;
  }
  return total;
}

std::optional<int64_t> SymExpr::lowerBound(const SymbolTable& syms) const {
  int64_t total = 0;
  for (const auto& [m, c] : terms_) {
    if (c < 0 && !m.empty()) return std::nullopt;
    int64_t v = c;
    for (SymId s : m)
      if (__builtin_mul_overflow(v, s < syms.size() ? std::max<int64_t>(syms[s].lo, 0) : 0, &v)) return std::nullopt;
    if (__builtin_add_overflow(total, v, &total)) return std::nullopt;
  }
  return total;
}

std::string SymExpr::str(const SymbolTable& syms) const {
  if (terms_.empty()) return "0";
  std::ostringstream os;
  bool first = true;
  // Highest-degree terms first reads naturally: batch*seq + 1.
  std::vector<std::pair<std::vector<SymId>, int64_t>> ts(terms_.begin(), terms_.end());
  std::stable_sort(ts.begin(), ts.end(), [](const auto& x, const auto& y) { return x.first.size() > y.first.size(); });
  for (const auto& [m, c] : ts) {
    int64_t coeff = c;
    if (!first) {
      os << (coeff < 0 ? " - " : " + ");
      coeff = coeff < 0 ? -coeff : coeff;
    } else if (coeff < 0 && !m.empty()) {
      os << "-";
      coeff = -coeff;
    }
    first = false;
    bool wrote = false;
    if (coeff != 1 || m.empty()) {
      os << coeff;
      wrote = true;
    }
    for (SymId s : m) {
      if (wrote) os << "*";
      os << (s < syms.size() ? syms[s].name : "s" + std::to_string(s));
      wrote = true;
    }
  }
  return os.str();
}

// ---- SymbolTable ----

SymId SymbolTable::intern(const std::string& name) {
  if (auto id = find(name)) return *id;
  symbols_.push_back(Symbol{name, 1, INT64_MAX, ""});
  return static_cast<SymId>(symbols_.size() - 1);
}

SymId SymbolTable::derived(const std::string& definition) {
  std::string name = "d" + std::to_string(symbols_.size());
  symbols_.push_back(Symbol{name, 0, INT64_MAX, definition});
  return static_cast<SymId>(symbols_.size() - 1);
}

std::optional<SymId> SymbolTable::find(const std::string& name) const {
  for (size_t i = 0; i < symbols_.size(); ++i)
    if (symbols_[i].name == name) return static_cast<SymId>(i);
  return std::nullopt;
}

// ---- Type ----

SymExpr Type::numel() const {
  SymExpr n(1);
  for (const auto& d : shape) n = n * d;
  return n;
}

std::optional<std::vector<int64_t>> Type::constShape() const {
  std::vector<int64_t> dims;
  for (const auto& d : shape) {
    auto c = d.constValue();
    if (!c) return std::nullopt;
    dims.push_back(*c);
  }
  return dims;
}

std::string Type::str(const SymbolTable& syms) const {
  std::string s(dtypeName(dtype));
  s += "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += shape[i].str(syms);
  }
  s += "]";
  return s;
}

}  // namespace bertc::ir
