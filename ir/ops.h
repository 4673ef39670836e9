#pragma once
/// The op kinds and their families, generated from ir/ops.def.
#include <cstdint>
#include <optional>
#include <string_view>

#include "ir/status.h"

namespace bertc::ir {

enum class OpKind : uint16_t {
#define BERTC_OP(Name, Family, MinOps, MaxOps, Results, Doc) Name,
#include "ir/ops.def"
};

/// The families of ops.def. A family's shape rules and reference kernels
/// live together in one file each (ops.def says which).
enum class OpFamily : uint8_t { Elementwise, Linalg, Movement, Fused };

/// One enum per family, holding that family's rows, each with its OpKind's
/// value. A switch over one with no default must list every op of the
/// family, and only those, so -Werror=switch turns a new row without a shape
/// rule or a kernel into a compile error; visitOp() hands an op to them.
#define BERTC_FAMILY_ENUMERATOR(Name, MinOps, MaxOps, Results, Doc) Name = static_cast<uint16_t>(OpKind::Name),
enum class ElementwiseOp : uint16_t {
#define BERTC_ELEMENTWISE_OP BERTC_FAMILY_ENUMERATOR
#include "ir/ops.def"
};
enum class LinalgOp : uint16_t {
#define BERTC_LINALG_OP BERTC_FAMILY_ENUMERATOR
#include "ir/ops.def"
};
enum class MovementOp : uint16_t {
#define BERTC_MOVEMENT_OP BERTC_FAMILY_ENUMERATOR
#include "ir/ops.def"
};
enum class FusedOp : uint16_t {
#define BERTC_FUSED_OP BERTC_FAMILY_ENUMERATOR
#include "ir/ops.def"
};
#undef BERTC_FAMILY_ENUMERATOR

/// One row of the op table.
struct OpInfo {
  std::string_view name;
  OpFamily family;
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

/// Returns fn(op as its family's enum): fn is overloaded for ElementwiseOp,
/// LinalgOp, MovementOp and FusedOp (a generic lambda forwarding to such an
/// overload set), and each overload switches over its family alone. How shape
/// inference and the interpreter dispatch, with no op list of their own.
template <class Fn>
decltype(auto) visitOp(OpKind op, Fn&& fn) {
  switch (op) {
#define BERTC_OP(Name, Family, MinOps, MaxOps, Results, Doc) \
  case OpKind::Name:                                       \
    return fn(Family##Op::Name);
#include "ir/ops.def"
  }
  BERTC_INTERNAL_ASSERT(false, "visitOp: op " + std::to_string(static_cast<int>(op)) + " is not in ops.def");
}

}  // namespace bertc::ir
