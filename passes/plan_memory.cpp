// The memory plan: liveness over the ordered steps, then first fit.
#include <algorithm>

#include "ir/ops.h"
#include "passes/plan_internal.h"

namespace bertc::plan {
namespace {

int64_t roundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/// Bytes per slot of a planned value.
int64_t bytesPerSlot(const ir::Value* v, const Plan& plan, int64_t align) {
  if (plan.layouts.at(v) == Layout::Padded) return roundUp(static_cast<int64_t>(ir::dtypeSize(v->type.dtype)), 8);
  const int64_t width = v->type.shape.back().constValue().value();
  return roundUp(width * static_cast<int64_t>(ir::dtypeSize(plan.precision.at(v))), align);
}

}  // namespace

/// First fit over live ranges: a value lives from the step that defines it
/// to the last step that reads it (outputs to the end); a step's temps only
/// during it. Offsets are per slot; planned values never share bytes with
/// anything live at the same time, so a step's output never aliases its
/// inputs (kernels that work in place are given the same buffer on purpose).
void planMemory(const ir::Graph& g, const TargetCaps& caps, Plan& plan) {
  struct Live {
    const ir::Value* v;  // null for a temp
    size_t step, temp;
    int64_t first, last, bytes, align;
  };
  const int64_t slotAlign = caps.slotAlign;
  std::vector<Live> lives;
  std::map<const ir::Value*, size_t> index;
  const int64_t end = static_cast<int64_t>(plan.steps.size());
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    Step& s = plan.steps[i];
    const auto at = static_cast<int64_t>(i);
    if (s.out) {
      const int64_t bytes = bytesPerSlot(s.out, plan, slotAlign);
      index[s.out] = lives.size();
      lives.push_back({s.out, i, 0, at, at, bytes, bytes >= slotAlign ? slotAlign : 8});
    }
    for (size_t t = 0; t < s.temps.size(); ++t)
      lives.push_back({nullptr, i, t, at, at, roundUp(s.temps[t].bytesPerSlot, 8), slotAlign});
  }
  for (size_t i = 0; i < plan.steps.size(); ++i)
    for (const ir::Value* r : plan.steps[i].reads)
      if (auto it = index.find(plan.resolve(r)); it != index.end()) lives[it->second].last = static_cast<int64_t>(i);
  for (const ir::Value* o : g.outputs())
    if (auto it = index.find(plan.resolve(o)); it != index.end()) lives[it->second].last = end;

  const int64_t base = roundUp(caps.packBytesPerSlot, slotAlign);
  std::vector<int64_t> offsets(lives.size(), 0);
  int64_t top = base;
  for (size_t k = 0; k < lives.size(); ++k) {
    const Live& l = lives[k];
    // Candidate offsets: the start, and the end of every placed block that overlaps in time.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t j = 0; j < k; ++j)
      if (lives[j].first <= l.last && l.first <= lives[j].last) busy.push_back({offsets[j], offsets[j] + lives[j].bytes});
    std::sort(busy.begin(), busy.end());
    int64_t at = base;
    for (const auto& [b, e] : busy) {
      at = roundUp(at, l.align);
      if (at + l.bytes <= b) break;
      at = std::max(at, e);
    }
    at = roundUp(at, l.align);
    offsets[k] = at;
    top = std::max(top, at + l.bytes);
    if (l.v) {
      const Layout layout = plan.layouts.at(l.v);
      const int64_t width = layout == Layout::Padded ? 1 : l.v->type.shape.back().constValue().value();
      plan.buffers[l.v] = Buffer{at, l.bytes, layout, width};
    } else {
      plan.steps[l.step].temps[l.temp].offsetPerSlot = at;
    }
  }
  if (caps.packBytesPerSlot > 0) {
    plan.tokOffset = 0;
    plan.rowOfOffset = 4;
    plan.seqStartOffset = 8;
  }
  plan.bytesPerSlot = roundUp(top, slotAlign);
}

}  // namespace bertc::plan
