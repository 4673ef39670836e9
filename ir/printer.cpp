#include "ir/printer.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace bertc::ir {
namespace {

bool isPlainName(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '/' || c == ':' || c == '-'))
      return false;
  return true;
}

std::string valueRef(const Value* v) {
  if (!v) return "_";
  if (isPlainName(v->name)) return "%" + v->name;
  std::string q = "%\"";
  for (char c : v->name) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

std::string formatDouble(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", d);
  return buf;
}

template <class T>
std::string list(const std::vector<T>& xs) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i) os << ", ";
    if constexpr (std::is_same_v<T, double>) {
      os << formatDouble(xs[i]);
    } else if constexpr (std::is_same_v<T, std::string>) {
      os << '"' << xs[i] << '"';
    } else {
      os << xs[i];
    }
  }
  os << "]";
  return os.str();
}

std::string printAttr(const Attr& a) {
  struct Visitor {
    std::string operator()(int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const { return formatDouble(v); }
    std::string operator()(const std::string& v) const { return "\"" + v + "\""; }
    std::string operator()(const std::vector<int64_t>& v) const { return list(v); }
    std::string operator()(const std::vector<double>& v) const { return list(v); }
    std::string operator()(const std::vector<std::string>& v) const { return list(v); }
    std::string operator()(const Tensor& t) const {
      std::string s = std::string(dtypeName(t.dtype())) + list(t.shape());
      if (t.numel() <= 8) {
        std::vector<double> vals;
        for (int64_t i = 0; i < t.numel(); ++i) vals.push_back(t.getDouble(static_cast<size_t>(i)));
        s += " " + list(vals);
      }
      return s;
    }
  };
  return std::visit(Visitor{}, a);
}

std::string typeStr(const Graph& g, const Value* v) { return v->type.known() ? v->type.str(g.symbols()) : "?"; }

}  // namespace

std::string printNode(const Graph& g, const Node& n) {
  std::ostringstream os;
  for (size_t i = 0; i < n.results.size(); ++i) os << (i ? ", " : "") << valueRef(n.results[i]);
  os << " = " << opName(n.op) << "(";
  for (size_t i = 0; i < n.operands.size(); ++i) os << (i ? ", " : "") << valueRef(n.operands[i]);
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

std::string printGraph(const Graph& g) {
  std::ostringstream os;
  os << "graph";
  if (!g.info().graphName.empty()) os << " \"" << g.info().graphName << "\"";
  os << " {\n";
  bool anySym = false;
  for (SymId s = 0; s < g.symbols().size(); ++s) {
    const Symbol& sym = g.symbols()[s];
    os << (anySym ? ", " : "  symbols ") << sym.name;
    if (!sym.definition.empty()) os << " = " << sym.definition;
    anySym = true;
  }
  if (anySym) os << "\n";
  for (const Value* v : g.inputs()) os << "  input " << valueRef(v) << " : " << typeStr(g, v) << "\n";
  for (const Value* v : g.constants()) {
    os << "  const " << valueRef(v) << " : " << typeStr(g, v);
    if (v->constant->numel() <= 8) {
      os << " = [";
      for (int64_t i = 0; i < v->constant->numel(); ++i)
        os << (i ? ", " : "") << formatDouble(v->constant->getDouble(static_cast<size_t>(i)));
      os << "]";
    }
    os << "\n";
  }
  for (const auto& n : g.nodes()) os << "  " << printNode(g, *n) << "\n";
  os << "  return ";
  for (size_t i = 0; i < g.outputs().size(); ++i) os << (i ? ", " : "") << valueRef(g.outputs()[i]);
  os << "\n}\n";
  return os.str();
}

}  // namespace bertc::ir
