// Internal to the lowering plan (passes/plan*.cpp).
#pragma once

#include "passes/plan.h"

namespace bertc::plan {

/// Places every step's result and temps in the arena (plan_memory.cpp).
void planMemory(const ir::Graph& g, const TargetCaps& caps, Plan& plan);

}  // namespace bertc::plan
