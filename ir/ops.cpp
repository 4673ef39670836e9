#include "ir/ops.h"

#include <array>

namespace bertc::ir {
namespace {

constexpr OpInfo kOps[] = {
#define BERTC_OP(Name, Family, MinOps, MaxOps, Results, Doc) {#Name, OpFamily::Family, MinOps, MaxOps, Results, Doc},
#include "ir/ops.def"
};

/// Keeps the enum and the table in step: both come from ops.def, and the last
/// enumerator's value must be the table's last index.
enum class LastOp : uint16_t {
#define BERTC_OP(Name, Family, MinOps, MaxOps, Results, Doc) Name,
#include "ir/ops.def"
  Count
};
static_assert(static_cast<size_t>(LastOp::Count) == std::size(kOps), "ops.def enum and table disagree");

}  // namespace

const OpInfo& opInfo(OpKind op) { return kOps[static_cast<size_t>(op)]; }

std::optional<OpKind> opFromName(std::string_view name) {
  for (size_t i = 0; i < std::size(kOps); ++i)
    if (kOps[i].name == name) return static_cast<OpKind>(i);
  return std::nullopt;
}

size_t numOps() { return std::size(kOps); }

}  // namespace bertc::ir
