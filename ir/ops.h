#pragma once
/// The op kinds, generated from ir/ops.def.
#include <cstdint>
#include <optional>
#include <string_view>

namespace bertc::ir {

enum class OpKind : uint16_t {
#define BERTC_OP(Name, MinOps, MaxOps, Results, Doc) Name,
#include "ir/ops.def"
#undef BERTC_OP
};

/// One row of the op table.
struct OpInfo {
  std::string_view name;
  int minOperands;
  int maxOperands;  ///< -1: variadic
  int results;      ///< -1: variadic
  std::string_view doc;
};

const OpInfo& opInfo(OpKind op);
inline std::string_view opName(OpKind op) { return opInfo(op).name; }
/// The op called `name` in the table, if any.
std::optional<OpKind> opFromName(std::string_view name);
size_t numOps();

}  // namespace bertc::ir
