#include "ir/printer.h"

#include <algorithm>
#include <cctype>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace bertc::ir {

bool isPlainNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '/' || c == ':' || c == '-' ||
         c == '#';
}

namespace {

bool isPlainName(const std::string& s) { return !s.empty() && std::all_of(s.begin(), s.end(), isPlainNameChar); }

/// Symbol names sit inside dim expressions, where `-` and `.` would read as
/// arithmetic: only C identifiers go unquoted.
bool isIdentifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

/// "text" with `"` and `\` escaped and control bytes as \n, \t or \xHH, so a
/// string stays on its line.
std::string quoted(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      q += '\\';
      q += c;
    } else if (c == '\n') {
      q += "\\n";
    } else if (c == '\t') {
      q += "\\t";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
      q += buf;
    } else {
      q += c;
    }
  }
  return q + "\"";
}

/// The names values print with: their own, except that a name defined again
/// (passes may reuse one: ALBERT's shared layer fuses to the same names in
/// every layer) gets `#2`, `#3`, ... on its later definitions, so that the
/// text stays SSA and parses back.
class Names {
 public:
  explicit Names(const Graph& g) {
    std::unordered_set<std::string> taken;
    forEachDef(g, [&](const Value* v) { taken.insert(v->name); });
    std::unordered_map<std::string, int> defs;
    forEachDef(g, [&](const Value* v) {
      int k = ++defs[v->name];
      if (k == 1) return;
      std::string n;
      do n = v->name + "#" + std::to_string(k++);
      while (taken.count(n));
      taken.insert(n);
      renamed_[v] = n;
    });
  }

  std::string ref(const Value* v) const {
    if (!v) return "_";
    auto it = renamed_.find(v);
    const std::string& name = it == renamed_.end() ? v->name : it->second;
    return isPlainName(name) ? "%" + name : "%" + quoted(name);
  }

 private:
  template <class Fn>
  static void forEachDef(const Graph& g, Fn fn) {
    for (const Value* v : g.inputs()) fn(v);
    for (const Value* v : g.constants()) fn(v);
    for (const auto& n : g.nodes())
      for (const Value* r : n->results) fn(r);
  }

  std::unordered_map<const Value*, std::string> renamed_;
};

/// The shortest decimal that std::from_chars reads back to exactly x.
template <class T>
std::string shortest(T x) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

/// See printer.h: the double's shortest form, or the f32's with `f` when the
/// double is an f32 value and that is shorter; `.0` keeps it from reading as an int.
std::string formatAttrFloat(double d) {
  std::string s = shortest(d);
  if (std::isfinite(d) && std::fabs(d) <= FLT_MAX && static_cast<double>(static_cast<float>(d)) == d) {
    std::string f = shortest(static_cast<float>(d));
    if (f.size() < s.size()) return f + "f";
  }
  if (s.find_first_of(".en") == std::string::npos) s += ".0";  // 'n': inf and nan
  return s;
}

/// Element i of t in its dtype's shortest exact form (f16/bf16 as f32, which
/// holds them exactly; integers and bool as integers).
std::string formatElement(const Tensor& t, size_t i) {
  switch (t.dtype()) {
    case DType::F64: return shortest(t.load<double>(i));
    case DType::F32: case DType::F16: case DType::BF16: return shortest(static_cast<float>(t.getDouble(i)));
    default: return std::to_string(t.getInt(i));
  }
}

std::string elements(const Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.numel(); ++i) s += (i ? ", " : "") + formatElement(t, static_cast<size_t>(i));
  return s + "]";
}

template <class T, class Fn>
std::string list(const std::vector<T>& xs, Fn format) {
  std::string s = "[";
  for (size_t i = 0; i < xs.size(); ++i) s += (i ? ", " : "") + format(xs[i]);
  return s + "]";
}

std::string printAttr(const Attr& a) {
  struct Visitor {
    std::string operator()(int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const { return formatAttrFloat(v); }
    std::string operator()(const std::string& v) const { return quoted(v); }
    std::string operator()(const std::vector<int64_t>& v) const {
      return list(v, [](int64_t x) { return std::to_string(x); });
    }
    std::string operator()(const std::vector<double>& v) const { return list(v, formatAttrFloat); }
    std::string operator()(const std::vector<std::string>& v) const { return list(v, quoted); }
    std::string operator()(const Tensor& t) const {
      std::string s = std::string(dtypeName(t.dtype())) + shapeString(t.shape());
      if (t.numel() <= kMaxPrintedElements) s += " " + elements(t);
      return s;
    }
  };
  return std::visit(Visitor{}, a);
}

std::string symbolRef(const SymbolTable& syms, SymId s) {
  const std::string& name = syms[s].name;
  return isIdentifier(name) ? name : quoted(name);
}

/// SymExpr::str with non-identifier symbol names quoted: highest-degree terms
/// first (`batch*seq*384 + 2`), a leading minus bound to the first term.
std::string dimStr(const SymbolTable& syms, const SymExpr& e) {
  if (e.terms().empty()) return "0";
  std::vector<std::pair<std::vector<SymId>, int64_t>> ts(e.terms().begin(), e.terms().end());
  std::stable_sort(ts.begin(), ts.end(), [](const auto& x, const auto& y) { return x.first.size() > y.first.size(); });
  std::string s;
  for (size_t t = 0; t < ts.size(); ++t) {
    const auto& [mono, c] = ts[t];
    // The magnitude as unsigned: a coefficient may be INT64_MIN.
    uint64_t mag = c < 0 ? 0 - static_cast<uint64_t>(c) : static_cast<uint64_t>(c);
    if (t) s += c < 0 ? " - " : " + ";
    else if (c < 0) s += "-";
    bool wrote = false;
    if (mag != 1 || mono.empty()) {
      s += std::to_string(mag);
      wrote = true;
    }
    for (SymId id : mono) {
      if (wrote) s += "*";
      s += symbolRef(syms, id);
      wrote = true;
    }
  }
  return s;
}

std::string typeStr(const Graph& g, const Value* v) {
  if (!v->type.known()) return "?";
  std::string s = std::string(dtypeName(v->type.dtype)) + "[";
  for (size_t i = 0; i < v->type.shape.size(); ++i) s += (i ? ", " : "") + dimStr(g.symbols(), v->type.shape[i]);
  return s + "]";
}

std::string printNode(const Graph& g, const Names& names, const Node& n) {
  std::ostringstream os;
  for (size_t i = 0; i < n.results.size(); ++i) os << (i ? ", " : "") << names.ref(n.results[i]);
  os << " = " << opName(n.op) << "(";
  for (size_t i = 0; i < n.operands.size(); ++i) os << (i ? ", " : "") << names.ref(n.operands[i]);
  os << ")";
  if (!n.attrs.empty()) {
    os << " {";
    bool first = true;
    for (const auto& [k, v] : n.attrs) {
      os << (first ? "" : ", ") << k << "=" << printAttr(v);
      first = false;
    }
    os << "}";
  }
  os << " : ";
  for (size_t i = 0; i < n.results.size(); ++i) os << (i ? ", " : "") << typeStr(g, n.results[i]);
  return os.str();
}

}  // namespace

std::string printNode(const Graph& g, const Node& n) { return printNode(g, Names(g), n); }

std::string printGraph(const Graph& g) {
  const Names names(g);
  std::ostringstream os;
  os << "graph";
  if (!g.info().graphName.empty()) os << " " << quoted(g.info().graphName);
  os << " {\n";
  for (SymId s = 0; s < g.symbols().size(); ++s) {
    const Symbol& sym = g.symbols()[s];
    os << (s ? ", " : "  symbols ") << symbolRef(g.symbols(), s);
    if (!sym.definition.empty()) os << " = " << quoted(sym.definition);
  }
  if (g.symbols().size()) os << "\n";
  for (const Value* v : g.inputs()) os << "  input " << names.ref(v) << " : " << typeStr(g, v) << "\n";
  for (const Value* v : g.constants()) {
    os << "  const " << names.ref(v) << " : " << typeStr(g, v);
    if (v->constant->numel() <= kMaxPrintedElements || v->symbolic) os << " = " << elements(*v->constant);
    os << "\n";
  }
  for (const auto& n : g.nodes()) os << "  " << printNode(g, names, *n) << "\n";
  os << "  return";
  for (size_t i = 0; i < g.outputs().size(); ++i) os << (i ? ", " : " ") << names.ref(g.outputs()[i]);
  os << "\n}\n";
  return os.str();
}

}  // namespace bertc::ir
