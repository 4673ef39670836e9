/// The IR text parser: a lexer that keeps each token's line and column, and a
/// recursive-descent reader of printGraph's statements that builds the graph
/// through the Graph API and checks each node against its shape rule.
#include "ir/parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "ir/checked.h"
#include "ir/printer.h"
#include "ir/shape_infer.h"
#include "ir/verify.h"

namespace bertc::ir {
namespace {

enum class Tok { End, Ident, Value, String, Number, Punct };

struct Token {
  Tok kind = Tok::End;
  std::string text;  ///< decoded: a name without `%` and quotes, a string's contents, a punct char
  int line = 1, col = 1;
};

/// What a token is, for "expected X, got Y".
std::string describe(const Token& t) {
  switch (t.kind) {
    case Tok::End: return "end of input";
    case Tok::Ident: return "'" + t.text + "'";
    case Tok::Value: return "value %" + t.text;
    case Tok::String: return "string \"" + t.text + "\"";
    case Tok::Number: return "number " + t.text;
    case Tok::Punct: return "'" + t.text + "'";
  }
  return "?";
}

/// One error at one place; parseGraph turns it into `file:line:col: message`.
struct ParseError {
  int line, col;
  std::string message;
};

[[noreturn]] void failAt(const Token& t, const std::string& message) { throw ParseError{t.line, t.col, message}; }

bool isIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  std::vector<Token> run() {
    std::vector<Token> out;
    for (;;) {
      skipSpaceAndComments();
      Token t;
      t.line = line_;
      t.col = col_;
      if (pos_ >= src_.size()) {
        out.push_back(t);
        return out;
      }
      char c = src_[pos_];
      if (c == '%') {
        advance();
        t.kind = Tok::Value;
        if (peek() == '"') {
          t.text = string(t);
        } else {
          while (pos_ < src_.size() && isPlainNameChar(src_[pos_])) t.text += advance();
          if (t.text.empty()) failAt(t, "expected a value name after '%'");
        }
      } else if (c == '"') {
        t.kind = Tok::String;
        t.text = string(t);
      } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                 (c == '-' && (std::isdigit(static_cast<unsigned char>(peek(1))) || startsWord(1, "inf") ||
                               startsWord(1, "nan")))) {
        t.kind = Tok::Number;
        t.text = number();
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        t.kind = Tok::Ident;
        while (pos_ < src_.size() && isIdentChar(src_[pos_])) t.text += advance();
      } else if (std::string_view("=,(){}[]:*+-?").find(c) != std::string_view::npos) {
        t.kind = Tok::Punct;
        t.text = std::string(1, advance());
      } else {
        auto byte = static_cast<unsigned char>(c);
        failAt(t, std::isprint(byte) ? std::string("unexpected character '") + c + "'"
                                     : "unexpected byte " + std::to_string(+byte));
      }
      out.push_back(std::move(t));
    }
  }

 private:
  char peek(size_t k = 0) const { return pos_ + k < src_.size() ? src_[pos_ + k] : '\0'; }
  char advance() {
    char c = src_[pos_++];
    if (c == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    return c;
  }
  bool startsWord(size_t k, std::string_view w) const {
    return src_.substr(pos_ + k, w.size()) == w && !isIdentChar(peek(k + w.size()));
  }
  void skipSpaceAndComments() {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        advance();
      } else if (c == '/' && peek(1) == '/') {
        while (pos_ < src_.size() && src_[pos_] != '\n') advance();
      } else {
        return;
      }
    }
  }
  /// A number's characters: sign, digits, point, exponent, an `f` suffix, or
  /// inf/nan after a minus. Its syntax is checked where it is converted.
  std::string number() {
    std::string s(1, advance());
    if (s == "-" && std::isalpha(static_cast<unsigned char>(peek()))) {  // -inf, -nan
      while (isIdentChar(peek())) s += advance();
      return s;
    }
    while (std::isdigit(static_cast<unsigned char>(peek())) || peek() == '.' || peek() == 'e' || peek() == 'E' ||
           ((peek() == '-' || peek() == '+') && (s.back() == 'e' || s.back() == 'E')))
      s += advance();
    if (peek() == 'f') s += advance();
    if (isIdentChar(peek()) || peek() == '.') {
      Token at{Tok::Number, s, line_, col_};
      failAt(at, std::string("unexpected '") + peek() + "' in number " + s);
    }
    return s;
  }
  /// A quoted string with printGraph's escapes: \" \\ \n \t \xHH.
  std::string string(const Token& start) {
    advance();  // the opening quote
    std::string s;
    for (;;) {
      if (pos_ >= src_.size() || peek() == '\n') failAt(start, "unterminated string");
      char c = advance();
      if (c == '"') return s;
      if (c != '\\') {
        s += c;
        continue;
      }
      char e = pos_ < src_.size() ? advance() : '\0';
      if (e == '"' || e == '\\') s += e;
      else if (e == 'n') s += '\n';
      else if (e == 't') s += '\t';
      else if (e == 'x' && std::isxdigit(static_cast<unsigned char>(peek())) &&
               std::isxdigit(static_cast<unsigned char>(peek(1)))) {
        s += static_cast<char>(std::stoi(std::string{advance(), advance()}, nullptr, 16));
      } else {
        Token at{Tok::String, "", line_, col_ - 1};
        failAt(at, "unknown escape in string");
      }
    }
  }

  std::string_view src_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;
};

// ---- numbers -----------------------------------------------------------------

bool isFloatLiteral(const std::string& s) { return s.find_first_of(".eEfin") != std::string::npos; }

int64_t toInt(const Token& t) {
  int64_t v = 0;
  const char* end = t.text.data() + t.text.size();
  auto r = std::from_chars(t.text.data(), end, v);
  if (r.ec == std::errc::result_out_of_range) failAt(t, "integer " + t.text + " does not fit in 64 bits");
  if (r.ec != std::errc() || r.ptr != end) failAt(t, "expected an integer, got " + t.text);
  return v;
}

/// `T` read from the token's text (from_chars rounds correctly, so the
/// printer's shortest decimals come back exact).
template <class T>
T toFloat(const Token& t, std::string_view text) {
  T v{};
  const char* end = text.data() + text.size();
  auto r = std::from_chars(text.data(), end, v);
  if (r.ec == std::errc::result_out_of_range && r.ptr == end)
    failAt(t, t.text + " is out of range for " + (sizeof(T) == 4 ? "f32" : "f64"));
  if (r.ec != std::errc() || r.ptr != end) failAt(t, "expected a number, got " + t.text);
  return v;
}

/// A float attribute (see printer.h): with an `f` suffix the f32 nearest the
/// decimal, widened; otherwise the nearest double.
double toAttrFloat(const Token& t) {
  std::string_view s = t.text;
  if (!s.empty() && s.back() == 'f' && s.find_first_of("in") == std::string_view::npos)
    return static_cast<double>(toFloat<float>(t, s.substr(0, s.size() - 1)));
  return toFloat<double>(t, s);
}

/// The largest constant the parser makes: a typo in a hand-written shape
/// fails here instead of allocating and filling gigabytes (XLM-R base's
/// 768 MB embedding table fits).
constexpr uint64_t kMaxConstantBytes = uint64_t{4} << 30;

/// FNV-1a of a name: the seed of a constant's pseudo-random data.
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

/// splitmix64: a tiny generator whose stream is fixed by its definition, so
/// the data is the same with every standard library.
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void fillPseudoRandom(Tensor& t, const std::string& seedName) {
  uint64_t state = fnv1a(seedName);
  for (int64_t i = 0; i < t.numel(); ++i) {
    uint64_t x = splitmix64(state);
    auto k = static_cast<size_t>(i);
    if (isFloat(t.dtype())) t.setDouble(k, static_cast<double>(x >> 11) * 0x1p-53 * 2 - 1);
    else if (t.dtype() == DType::Bool) t.setInt(k, static_cast<int64_t>(x & 1));
    else t.setInt(k, static_cast<int64_t>(x % 4));
  }
}

/// `e` with the symbols in `m` replaced by their expressions.
SymExpr substitute(const SymExpr& e, const std::map<SymId, SymExpr>& m) {
  if (m.empty()) return e;
  SymExpr r;
  for (const auto& [mono, coeff] : e.terms()) {
    SymExpr term(coeff);
    for (SymId s : mono) {
      auto it = m.find(s);
      term = term * (it != m.end() ? it->second : SymExpr::symbol(s));
    }
    r = r + term;
  }
  return r;
}

bool mentionsSymbolFrom(const SymExpr& e, size_t first) {
  for (const auto& [mono, coeff] : e.terms())
    for (SymId s : mono)
      if (s >= first) return true;
  return false;
}

// ---- the parser ----------------------------------------------------------------

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : toks_(std::move(toks)), g_(std::make_unique<Graph>()) {}

  std::unique_ptr<Graph> run() {
    try {
      return parse();
    } catch (const UserError& e) {  // from the IR's own checks (symbolic overflow, tensor size)
      failAt(peek(), e.what());
    }
  }

 private:
  std::unique_ptr<Graph> parse() {
    expectWord("graph");
    if (peek().kind == Tok::String) g_->info().graphName = take().text;
    expect("{");
    if (isWord("symbols")) parseSymbols();
    for (;;) {
      if (isWord("input")) {
        parseInput();
      } else if (isWord("const")) {
        parseConst();
      } else if (peek().kind == Tok::Value) {
        parseNode();
      } else if (isWord("return")) {
        parseReturn();
        break;
      } else {
        failAt(peek(), "expected input, const, a node or return, got " + describe(peek()));
      }
    }
    const Token& close = expect("}");
    if (peek().kind != Tok::End) failAt(peek(), "expected end of input after the graph, got " + describe(peek()));
    // A backstop: every check verify makes was made above, where it could name a place.
    Status st = verify(*g_);
    if (!st.ok()) failAt(close, st.message());
    return std::move(g_);
  }

  const Token& peek(size_t k = 0) const { return toks_[std::min(pos_ + k, toks_.size() - 1)]; }
  const Token& take() {
    const Token& t = peek();
    if (pos_ < toks_.size() - 1) ++pos_;
    return t;
  }
  bool isPunct(std::string_view p) const { return peek().kind == Tok::Punct && peek().text == p; }
  bool isWord(std::string_view w) const { return peek().kind == Tok::Ident && peek().text == w; }
  bool accept(std::string_view p) {
    if (!isPunct(p)) return false;
    take();
    return true;
  }
  const Token& expect(std::string_view p) {
    if (!isPunct(p)) failAt(peek(), "expected '" + std::string(p) + "', got " + describe(peek()));
    return take();
  }
  void expectWord(std::string_view w) {
    if (!isWord(w)) failAt(peek(), "expected '" + std::string(w) + "', got " + describe(peek()));
    take();
  }
  const Token& expectKind(Tok kind, const std::string& what) {
    if (peek().kind != kind) failAt(peek(), "expected " + what + ", got " + describe(peek()));
    return take();
  }

  /// symbols NAME [= "definition"], ...: named symbols are interned; a
  /// derived one keeps its definition (and a lower bound of 0, as shape
  /// inference makes them).
  void parseSymbols() {
    take();
    do {
      const Token& t = peek();
      if (t.kind != Tok::Ident && t.kind != Tok::String) failAt(t, "expected a symbol name, got " + describe(t));
      take();
      if (g_->symbols().find(t.text)) failAt(t, "symbol '" + t.text + "' is declared twice");
      if (accept("=")) {
        const Token& def = expectKind(Tok::String, "a quoted symbol definition");
        SymId id = g_->symbols().derived(def.text);
        g_->symbols()[id].name = t.text;
      } else {
        g_->symbols().intern(t.text);
      }
    } while (accept(","));
  }

  /// factor: an integer or a declared symbol.
  SymExpr parseFactor() {
    const Token& t = peek();
    if (t.kind == Tok::Number) return SymExpr(toInt(take()));
    if (t.kind == Tok::Ident || t.kind == Tok::String) {
      take();
      auto id = g_->symbols().find(t.text);
      if (!id) failAt(t, "undeclared symbol '" + t.text + "' (declare it on the symbols line)");
      return SymExpr::symbol(*id);
    }
    failAt(t, "expected a dim (an integer or a symbol), got " + describe(t));
  }

  SymExpr parseTerm() {
    bool negate = accept("-");
    SymExpr e = parseFactor();
    while (accept("*")) e = e * parseFactor();
    return negate ? -e : e;
  }

  /// A dim: a polynomial in the symbols as SymExpr::str writes it.
  SymExpr parseDim() {
    SymExpr e = parseTerm();
    for (;;) {
      if (accept("+")) e = e + parseTerm();
      else if (accept("-")) e = e - parseTerm();
      else return e;
    }
  }

  /// dtype[dim, ...], or `?` (unknown) where `allowUnknown`.
  std::optional<Type> parseType(bool allowUnknown) {
    const Token& t = peek();
    if (allowUnknown && accept("?")) return std::nullopt;
    if (t.kind != Tok::Ident) failAt(t, "expected a type such as f32[2, 3], got " + describe(t));
    Type type{dtypeFromText(t), {}};
    take();
    expect("[");
    if (!isPunct("]")) {
      do type.shape.push_back(parseDim());
      while (accept(","));
    }
    expect("]");
    return type;
  }

  /// The dtype printGraph names `t` (from ir::dtypeName, the one list).
  static DType dtypeFromText(const Token& t) {
    for (int32_t code = 0; code < 32; ++code)
      if (auto d = dtypeFromOnnx(code); d && dtypeName(*d) == t.text) return *d;
    failAt(t, "unknown element type '" + t.text + "'");
  }

  /// A concrete shape from a type: constants and tensor attributes have no symbols.
  static std::vector<int64_t> concreteShape(const Token& at, const Type& type) {
    auto shape = type.constShape();
    if (!shape) failAt(at, "a constant's shape must be concrete");
    for (int64_t d : *shape)
      if (d < 0) failAt(at, "a constant's dims must not be negative");
    return *shape;
  }

  static Tensor allocate(const Token& at, DType dtype, std::vector<int64_t> shape) {
    auto bytes = checkedTensorBytes(dtype, shape);
    if (!bytes || *bytes > kMaxConstantBytes)
      failAt(at, "a " + std::string(dtypeName(dtype)) + shapeString(shape) + " constant is larger than the " +
                     std::to_string(kMaxConstantBytes >> 30) + " GiB the parser makes");
    return Tensor::allocate(dtype, std::move(shape));
  }

  /// [v, ...] into t (exactly numel elements), each read in t's dtype.
  void parseElements(Tensor& t) {
    const Token& open = expect("[");
    size_t n = 0;
    if (!isPunct("]")) {
      do {
        const Token& v = peek();
        if (v.kind != Tok::Number && !(v.kind == Tok::Ident && (v.text == "inf" || v.text == "nan")))
          failAt(v, "expected a number, got " + describe(v));
        take();
        if (static_cast<int64_t>(n) >= t.numel()) failAt(v, "more values than the " + std::to_string(t.numel()) +
                                                                  " elements of " + std::string(dtypeName(t.dtype())) +
                                                                  shapeString(t.shape()));
        setElement(t, n++, v);
      } while (accept(","));
    }
    if (static_cast<int64_t>(n) != t.numel())
      failAt(open, std::to_string(n) + " values for the " + std::to_string(t.numel()) + " elements of " +
                       std::string(dtypeName(t.dtype())) + shapeString(t.shape()));
    expect("]");
  }

  static void setElement(Tensor& t, size_t i, const Token& v) {
    if (t.dtype() == DType::F64) return t.setDouble(i, toFloat<double>(v, v.text));
    if (isFloat(t.dtype())) {  // f16/bf16 print as the f32 that holds them exactly
      std::string_view s = v.text;
      if (!s.empty() && s.back() == 'f' && s.find_first_of("in") == std::string_view::npos) s.remove_suffix(1);
      return t.setDouble(i, toFloat<float>(v, s));
    }
    if (isFloatLiteral(v.text))
      failAt(v, "expected an integer for a " + std::string(dtypeName(t.dtype())) + " element, got " + v.text);
    int64_t x = toInt(v);
    int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
    switch (t.dtype()) {
      case DType::I32: lo = INT32_MIN, hi = INT32_MAX; break;
      case DType::I8: lo = INT8_MIN, hi = INT8_MAX; break;
      case DType::U8: lo = 0, hi = UINT8_MAX; break;
      case DType::Bool: lo = 0, hi = 1; break;
      default: break;
    }
    if (x < lo || x > hi) failAt(v, v.text + " does not fit in " + std::string(dtypeName(t.dtype())));
    t.setInt(i, x);
  }

  /// A name being defined; it must be new.
  const Token& takeNewValue() {
    const Token& t = expectKind(Tok::Value, "a value name such as %x");
    if (values_.count(t.text)) failAt(t, "duplicate name %" + t.text + ": a value is defined once");
    return t;
  }

  /// input %x : type. A fixed dim is at most 2^40, as the ONNX importer
  /// allows, so that shape arithmetic on it cannot overflow.
  void parseInput() {
    take();
    const Token& name = takeNewValue();
    expect(":");
    const Token& at = peek();
    Type type = *parseType(false);
    for (const SymExpr& d : type.shape)
      if (auto c = d.constValue(); c && (*c < 0 || *c > (int64_t{1} << 40)))
        failAt(at, "input dim " + std::to_string(*c) + " is out of range");
    values_[name.text] = g_->addInput(name.text, std::move(type));
  }

  /// const %c : dtype[dims] [= [values]]; without values, pseudo-random data.
  void parseConst() {
    take();
    const Token& name = takeNewValue();
    expect(":");
    const Token& at = peek();
    Type type = *parseType(false);
    Tensor t = allocate(at, type.dtype, concreteShape(at, type));
    if (accept("=")) parseElements(t);
    else fillPseudoRandom(t, name.text);
    values_[name.text] = g_->addConstant(name.text, std::move(t));
  }

  Attr parseAttrValue(const std::string& key) {
    const Token& t = peek();
    if (t.kind == Tok::String) return take().text;
    if (t.kind == Tok::Number || (t.kind == Tok::Ident && (t.text == "inf" || t.text == "nan"))) {
      take();
      if (isFloatLiteral(t.text)) return toAttrFloat(t);
      return toInt(t);
    }
    if (t.kind == Tok::Ident) {  // a tensor: dtype[shape] [values]
      DType dtype = dtypeFromText(t);
      take();
      expect("[");
      std::vector<int64_t> shape;
      if (!isPunct("]")) {
        do {
          const Token& d = peek();
          int64_t v = toInt(expectKind(Tok::Number, "a dim"));
          if (v < 0) failAt(d, "a tensor's dims must not be negative");
          shape.push_back(v);
        } while (accept(","));
      }
      expect("]");
      Tensor tensor = allocate(t, dtype, shape);
      if (isPunct("[")) parseElements(tensor);
      else fillPseudoRandom(tensor, key);
      return tensor;
    }
    if (accept("[")) return parseList();
    failAt(t, "expected an attribute value (number, string, list or tensor), got " + describe(t));
  }

  /// [ints], [floats] (any element with a point, exponent, f or inf/nan makes
  /// them all floats) or [strings]; [] is an empty int list.
  Attr parseList() {
    std::vector<Token> items;
    if (!isPunct("]")) {
      do {
        const Token& t = peek();
        bool number = t.kind == Tok::Number || (t.kind == Tok::Ident && (t.text == "inf" || t.text == "nan"));
        if (!number && t.kind != Tok::String) failAt(t, "expected a number or string in the list, got " + describe(t));
        if (!items.empty() && (items[0].kind == Tok::String) != (t.kind == Tok::String))
          failAt(t, "a list holds numbers or strings, not both");
        items.push_back(take());
      } while (accept(","));
    }
    expect("]");
    if (!items.empty() && items[0].kind == Tok::String) {
      std::vector<std::string> out;
      for (const Token& t : items) out.push_back(t.text);
      return out;
    }
    bool floats = std::any_of(items.begin(), items.end(), [](const Token& t) { return isFloatLiteral(t.text); });
    if (floats) {
      std::vector<double> out;
      for (const Token& t : items) out.push_back(toAttrFloat(t));
      return out;
    }
    std::vector<int64_t> out;
    for (const Token& t : items) out.push_back(toInt(t));
    return out;
  }

  /// %r, ... = Op(%a, _, ...) {k=v, ...} : type, ...
  void parseNode() {
    std::vector<Token> results;
    std::unordered_set<std::string> seen;
    do {
      const Token& r = takeNewValue();
      if (!seen.insert(r.text).second) failAt(r, "duplicate name %" + r.text + ": a value is defined once");
      results.push_back(r);
    } while (accept(","));
    expect("=");
    const Token& opTok = expectKind(Tok::Ident, "an op name");
    auto op = opFromName(opTok.text);
    if (!op) failAt(opTok, "unknown op '" + opTok.text + "'");
    const OpInfo& info = opInfo(*op);
    if ((info.results >= 0 && results.size() != static_cast<size_t>(info.results)))
      failAt(opTok, opTok.text + " has " + std::to_string(info.results) + " result(s), " +
                        std::to_string(results.size()) + " written");

    const Token& open = expect("(");
    std::vector<Value*> operands;
    if (!isPunct(")")) {
      do {
        const Token& o = peek();
        if (o.kind == Tok::Ident && o.text == "_") {
          take();
          operands.push_back(nullptr);
          continue;
        }
        expectKind(Tok::Value, "an operand (%name or _ for a missing one)");
        auto it = values_.find(o.text);
        if (it == values_.end()) failAt(o, "undefined value %" + o.text);
        operands.push_back(it->second);
      } while (accept(","));
    }
    expect(")");
    auto count = static_cast<int>(operands.size());
    if (count < info.minOperands || (info.maxOperands >= 0 && count > info.maxOperands))
      failAt(open, opTok.text + " takes " + std::to_string(info.minOperands) +
                       (info.maxOperands < 0 ? " or more"
                        : info.maxOperands == info.minOperands ? ""
                                                                : " to " + std::to_string(info.maxOperands)) +
                       " operands, " + std::to_string(count) + " written");

    std::map<std::string, Attr> attrs;
    if (accept("{")) {
      do {
        const Token& key = expectKind(Tok::Ident, "an attribute name");
        if (attrs.count(key.text)) failAt(key, "attribute '" + key.text + "' is given twice");
        expect("=");
        attrs[key.text] = parseAttrValue(key.text);
      } while (accept(","));
      expect("}");
    }

    expect(":");
    std::vector<std::optional<Type>> types;
    std::vector<Token> typeAt;
    do {
      typeAt.push_back(peek());
      types.push_back(parseType(true));
    } while (types.size() < results.size() && accept(","));
    if (types.size() != results.size() || isPunct(","))
      failAt(peek(), std::to_string(results.size()) + " result(s) but " +
                         (isPunct(",") ? "more" : std::to_string(types.size())) + " type(s) written");

    std::vector<std::string> names;
    for (const Token& r : results) names.push_back(r.text);
    Node* n = g_->addNode(*op, names[0], std::move(operands), names, std::move(attrs));
    checkTypes(*n, opTok, types, typeAt);
    for (Value* r : n->results) values_[r->name] = r;
  }

  /// Runs n's shape rule and checks the written types against it. A symbol
  /// the rule makes up (a dim it cannot express: a Reshape's -1) stands for
  /// the written dim at its first appearance and must agree after.
  void checkTypes(Node& n, const Token& opTok, const std::vector<std::optional<Type>>& written,
                  const std::vector<Token>& at) {
    bool anyUnknown = std::any_of(written.begin(), written.end(), [](const auto& t) { return !t; });
    // The rule runs on a copy of the symbols unless a type is taken from it:
    // the written types already name every symbol they need.
    SymbolTable scratch = g_->symbols();
    SymbolTable& table = anyUnknown ? g_->symbols() : scratch;
    size_t before = table.size();
    NodeTypes want;
    try {
      want = inferNode(n, table);
    } catch (const UserError& e) {
      failAt(opTok, e.what());
    }
    std::map<SymId, SymExpr> fresh;
    for (size_t i = 0; i < n.results.size(); ++i) {
      Value* r = n.results[i];
      if (!written[i]) {
        r->type = want.types[i];
        r->symbolic = want.symbolic[i];
        continue;
      }
      const Type& have = *written[i];
      const Type& rule = want.types[i];
      bool ok = have.dtype == rule.dtype && have.rank() == rule.rank();
      for (size_t k = 0; ok && k < have.rank(); ++k) {
        SymExpr d = substitute(rule.shape[k], fresh);
        if (d == have.shape[k]) continue;
        if (auto s = d.asSymbol(); s && *s >= before) fresh[*s] = have.shape[k];
        else ok = mentionsSymbolFrom(d, before);  // as ir::verify: a made-up symbol inside an expression
      }
      if (!ok)
        failAt(at[i], "%" + r->name + " is written " + have.str(g_->symbols()) + " but " + n.describe() +
                          " gives " + rule.str(table));
      r->type = have;
      // Known contents carry over, unless they name a symbol that only the scratch table has.
      if (const auto& s = want.symbolic[i]) {
        std::vector<SymExpr> vals;
        for (const SymExpr& e : *s) vals.push_back(substitute(e, fresh));
        bool dangling = !anyUnknown && std::any_of(vals.begin(), vals.end(),
                                                   [&](const SymExpr& e) { return mentionsSymbolFrom(e, before); });
        if (!dangling) r->symbolic = std::move(vals);
      }
    }
  }

  void parseReturn() {
    take();
    if (isPunct("}")) return;
    do {
      const Token& o = expectKind(Tok::Value, "an output value");
      auto it = values_.find(o.text);
      if (it == values_.end()) failAt(o, "undefined value %" + o.text);
      g_->addOutput(it->second);
    } while (accept(","));
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  std::unique_ptr<Graph> g_;
  std::unordered_map<std::string, Value*> values_;
};

}  // namespace

Result<std::unique_ptr<Graph>> parseGraph(std::string_view text, const std::string& file) {
  try {
    return Parser(Lexer(text).run()).run();
  } catch (const ParseError& e) {
    // One line even when the message quotes text with a newline in it.
    std::string msg = file + ":" + std::to_string(e.line) + ":" + std::to_string(e.col) + ": ";
    for (char c : e.message) msg += c == '\n' ? std::string("\\n") : c == '\r' ? std::string("\\r") : std::string(1, c);
    return Status::error(msg);
  }
}

Result<std::unique_ptr<Graph>> parseGraphFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::error(path + ": cannot open the file");
  std::stringstream text;
  text << f.rdbuf();
  return parseGraph(text.str(), path);
}

}  // namespace bertc::ir
