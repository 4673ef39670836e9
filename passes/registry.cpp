#include <algorithm>

#include "passes/canonicalize.h"
#include "passes/fusions.h"
#include "passes/pass.h"

namespace bertc::passes {

const std::vector<PassInfo>& registeredPasses() {
  static const std::vector<PassInfo> kPasses = {
#define BERTC_PASS(Name, Fn, Doc) {Name, &Fn, Doc},
#include "passes/passes.def"
#undef BERTC_PASS
  };
  return kPasses;
}

const PassInfo* findPass(std::string_view name) {
  const auto& all = registeredPasses();
  auto it = std::find_if(all.begin(), all.end(), [&](const PassInfo& p) { return p.name == name; });
  return it == all.end() ? nullptr : &*it;
}

}  // namespace bertc::passes
