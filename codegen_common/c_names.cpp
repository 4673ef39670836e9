#include "codegen_common/c_names.h"

#include <cctype>

namespace bertc::codegen {

const char* cType(ir::DType t) {
  switch (t) {
    case ir::DType::F32: return "float";
    case ir::DType::F64: return "double";
    case ir::DType::I32: return "int32_t";
    case ir::DType::I64: return "int64_t";
    case ir::DType::Bool:
    case ir::DType::U8: return "uint8_t";
    case ir::DType::I8: return "int8_t";
    default: return "void";
  }
}

std::string paramName(const std::string& name, const std::string& fallback) {
  std::string p;
  for (char c : name) p += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (p.empty() || std::isdigit(static_cast<unsigned char>(p[0]))) p = fallback;
  return p;
}

bool isValidPrefix(const std::string& name) {
  if (name.empty() || name.size() > 64 || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char ch : name)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_')) return false;
  static const char* kKeywords[] = {"auto", "break", "case", "char", "const", "continue", "default", "do", "double",
                                    "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
                                    "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct",
                                    "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "bool"};
  for (const char* k : kKeywords)
    if (name == k) return false;
  return name.rfind("bertc_", 0) != 0;
}

}  // namespace bertc::codegen
