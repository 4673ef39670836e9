// What every code generator needs to write a C header a stranger can use:
// C type names, parameter names from tensor names, and symbol prefixes.
#pragma once

#include <string>

#include "ir/types.h"

namespace bertc::codegen {

/// The C type of a tensor element in the generated headers ("int64_t").
const char* cType(ir::DType t);

/// A C parameter name for a tensor name ("onnx::Add_5" -> "onnx__Add_5";
/// `fallback` when it would not be an identifier).
std::string paramName(const std::string& name, const std::string& fallback);

/// Whether `name` can prefix C symbols (a C identifier, not a keyword, not
/// bertc_'s own prefix).
bool isValidPrefix(const std::string& name);

}  // namespace bertc::codegen
