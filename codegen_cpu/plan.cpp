// planGraph: layouts, kernel steps with folded epilogues, and the arena plan.
#include "codegen_cpu/plan.h"

#include <fmt/core.h>

#include <algorithm>
#include <set>

#include "codegen_cpu/libmodel/bertc_k.h"
#include "ir/ops.h"
#include "kernels/attention.h"

namespace bertc::cpu {
namespace {

using ir::DType;
using ir::Node;
using ir::OpKind;
using ir::SymExpr;
using ir::Value;
using Kind = Step::Kind;

/// Bytes per slot of the packing arrays at the arena's start (tok, rowOf,
/// seqStart), rounded so planned buffers start 64-byte aligned.
constexpr int64_t kPackBytesPerSlot = 64;

int64_t roundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

class Planner {
 public:
  Planner(const ir::Graph& g, const std::string& file) : g_(g), file_(file) {}

  Plan run(const PlanOptions& opts) {
    findDims(opts);
    for (const auto& n : g_.nodes()) inferLayout(*n);
    if (g_.outputs().empty()) fail("the model has no outputs");
    for (const Value* out : g_.outputs())
      if (!plan_.layouts.count(out)) fail(fmt::format("output '{}' is a constant; nothing to compile", out->name));
    buildSteps();
    planMemory();
    return std::move(plan_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw UserError(fmt::format("{}: {}", file_, what)); }
  [[noreturn]] void failAt(const Node& n, const std::string& what) const {
    throw UserError(fmt::format("{}: {}: {}", file_, n.describe(), what));
  }

  /// batch and seq are the dims of the embedding's ids, a [batch, seq] input.
  void findDims(const PlanOptions& opts) {
    const Value* ids = nullptr;
    for (const auto& n : g_.nodes())
      if (n->op == OpKind::EmbedLayerNorm) {
        ids = source(n->operand(0));
        break;
      }
    if (!ids || !ids->isInput || ids->type.rank() != 2)
      fail("the CPU target needs a model whose embeddings (EmbedLayerNorm after `bertc optimize`'s fusions) "
           "read a [batch, seq] input of token ids");
    plan_.batchDim = ids->type.shape[0];
    plan_.seqDim = ids->type.shape[1];
    plan_.maxBatch = bound(plan_.batchDim, opts.maxBatch, 64, "batch");
    int64_t positions = 0;
    bool explicitPositionIds = false;
    for (const auto& n : g_.nodes())
      if (n->op == OpKind::EmbedLayerNorm) {
        positions = n->operand(3)->type.shape.at(0).constValue().value_or(0);
        explicitPositionIds = n->operand(7) != nullptr;
      }
    plan_.maxSeq = bound(plan_.seqDim, opts.maxSeq, positions, "sequence");
    // Past the position table every run would fail on a position id; past
    // these caps the arena's size arithmetic would overflow.
    if (!explicitPositionIds && positions > 0 && plan_.maxSeq > positions)
      fail(fmt::format("--max-seq {} is longer than the model's {} positions", plan_.maxSeq, positions));
    if (plan_.maxBatch > kMaxBatchBound)
      fail(fmt::format("--max-batch {} is above the largest supported, {}", plan_.maxBatch, kMaxBatchBound));
    if (plan_.maxSeq > kMaxSeqBound)
      fail(fmt::format("--max-seq {} is above the largest supported, {}", plan_.maxSeq, kMaxSeqBound));
  }

  /// The largest size a dim may take: the requested one, else the
  /// constant, else `dflt`.
  int64_t bound(const SymExpr& dim, int64_t requested, int64_t dflt, const char* what) const {
    if (auto c = dim.constValue()) {
      if (requested > *c)
        fail(fmt::format("--max-{} {} is above the model's fixed {} size {}", what[0] == 'b' ? "batch" : "seq",
                         requested, what, *c));
      return requested > 0 ? requested : *c;
    }
    int64_t v = requested > 0 ? requested : dflt;
    if (v < 1) fail(fmt::format("cannot tell the largest {} size; give --max-{}", what, what[0] == 'b' ? "batch" : "seq"));
    return v;
  }

  static const Value* source(const Value* v) { return ir::throughIdentityAndCast(v); }

  bool isBS(const Value* v) const {
    return v->type.rank() == 2 && v->type.shape[0] == plan_.batchDim && v->type.shape[1] == plan_.seqDim;
  }

  Layout layout(const Node& n, const Value* v) const {
    auto it = plan_.layouts.find(v);
    if (it == plan_.layouts.end()) failAt(n, fmt::format("operand '{}' is a constant where the CPU target needs an activation", v->name));
    return it->second;
  }

  /// The first operand that is not a constant, or null.
  static const Value* firstActivation(const Node& n) {
    for (const Value* v : n.operands)
      if (v && !v->isConstant()) return v;
    return nullptr;
  }

  void requireConst(const Node& n, size_t i, const char* what) const {
    const Value* v = n.operand(i);
    if (v && !v->isConstant()) failAt(n, fmt::format("{} must be a constant for the CPU target", what));
  }

  void inferLayout(const Node& n) {
    for (const Value* in : g_.inputs())
      if (!plan_.layouts.count(in)) {
        if (!isBS(in)) fail(fmt::format("input '{}' is not [batch, seq] like the token ids; the CPU target takes only [batch, seq] inputs", in->name));
        plan_.layouts[in] = Layout::Padded;
      }
    const Value* first = firstActivation(n);
    if (!first) failAt(n, "has only constant operands (it should have been folded)");
    Layout l = Layout::Padded;
    switch (n.op) {
      case OpKind::EmbedLayerNorm:
        l = Layout::Token;
        break;
      case OpKind::Identity:
        plan_.aliases[n.result()] = plan_.aliases.count(first) ? plan_.aliases.at(first) : first;
        l = layout(n, first);
        break;
      case OpKind::Attention:
      case OpKind::SkipLayerNorm:
      case OpKind::LayerNorm:
      case OpKind::BiasGelu:
      case OpKind::FastGelu:
      case OpKind::Gelu:
      case OpKind::MatMul:
      case OpKind::Linear:
        l = layout(n, n.operand(0));
        if (l == Layout::Padded) failAt(n, "runs on integer [batch, seq] data; the CPU target expects float activations");
        break;
      case OpKind::Gather:
        if (layout(n, n.operand(0)) != Layout::Token || n.getInt("axis", 0) != 1 || !n.operand(1)->isConstant() ||
            n.operand(1)->constant->numel() != 1 || n.operand(1)->type.rank() != 0)
          failAt(n, "the CPU target supports Gather only of one token per sequence (axis 1, a constant scalar index)");
        l = Layout::Batch;
        break;
      case OpKind::MeanPool:
        if (layout(n, n.operand(0)) != Layout::Token) failAt(n, "the CPU target pools only token activations");
        l = Layout::Batch;
        break;
      case OpKind::Add: {
        bool anyFloat = false;
        for (const Value* v : n.operands)
          if (!v->isConstant() && layout(n, v) != Layout::Padded) { anyFloat = true; l = layout(n, v); }
        if (anyFloat) break;
        [[fallthrough]];
      }
      case OpKind::Sub:
      case OpKind::Mul:
      case OpKind::Div:
      case OpKind::Equal:
      case OpKind::Less:
      case OpKind::Greater:
      case OpKind::And:
      case OpKind::Or:
      case OpKind::Not:
      case OpKind::Cast:
      case OpKind::Where:
      case OpKind::CumSum:
        for (const Value* v : n.operands) {
          if (v->isConstant()) {
            if (v->constant->numel() != 1 && !(n.op == OpKind::CumSum))
              failAt(n, "the CPU target supports only scalar constants in [batch, seq] arithmetic");
            continue;
          }
          if (layout(n, v) != Layout::Padded)
            failAt(n, "mixes float activations into [batch, seq] arithmetic, which the CPU target does not lower");
        }
        if (!isBS(n.result())) failAt(n, "the CPU target lowers integer arithmetic only on [batch, seq] tensors");
        l = Layout::Padded;
        break;
      default:
        failAt(n, "is not supported by the CPU target");
    }
    for (const Value* r : n.results) plan_.layouts[r] = l;
  }

  int64_t width(const Value* v) const {
    auto c = v->type.shape.back().constValue();
    BERTC_INTERNAL_ASSERT(c.has_value(), "activation with a symbolic last dim: " + v->name);
    return *c;
  }

  /// The sole user of v, when v is not also a graph output.
  const Node* soleUser(const Value* v) const {
    if (std::find(g_.outputs().begin(), g_.outputs().end(), v) != g_.outputs().end()) return nullptr;
    auto users = g_.users(v);
    return users.size() == 1 ? users[0] : nullptr;
  }

  static bool isConstRow(const Value* v, int64_t n) {
    return v && v->isConstant() && v->type.dtype == DType::F32 && v->constant->numel() == n;
  }

  /// What a GEMM writing `mm` can fold from its consumer u: the epilogue, or
  /// -1. A SkipLayerNorm folds as bias + residual, then runs in place.
  int foldableEpilogue(const Node& u, const Value* mm) const {
    const int64_t n = width(mm);
    switch (u.op) {
      case OpKind::BiasGelu:
        return isConstRow(u.operand(1), n) ? BERTC_K_EPI_BIAS_GELU : -1;
      case OpKind::FastGelu:
        return (!u.operand(1) || isConstRow(u.operand(1), n)) ? BERTC_K_EPI_BIAS_GELU_TANH : -1;
      case OpKind::Gelu:
        return u.getString("approximate", "none") == "tanh" ? BERTC_K_EPI_BIAS_GELU_TANH : BERTC_K_EPI_BIAS_GELU;
      case OpKind::Add: {
        const Value* other = u.operand(0) == mm ? u.operand(1) : u.operand(0);
        return isConstRow(other, n) && other->type.rank() == 1 ? BERTC_K_EPI_BIAS : -1;
      }
      case OpKind::SkipLayerNorm: {
        if (u.operand(0) != mm && u.operand(1) != mm) return -1;
        const Value* skip = u.operand(0) == mm ? u.operand(1) : u.operand(0);
        if (skip == mm || skip->isConstant() || plan_.layouts.at(skip) != plan_.layouts.at(mm)) return -1;
        return BERTC_K_EPI_BIAS_RESIDUAL;
      }
      default:
        return -1;
    }
  }

  void addReads(Step& s, const Node& n) {
    for (const Value* v : n.operands)
      if (v && !v->isConstant() && v != s.node->result()) s.reads.push_back(v);
  }

  void buildSteps() {
    std::set<const Node*> folded;
    for (const auto& np : g_.nodes()) {
      const Node& n = *np;
      if (folded.count(&n) || n.op == OpKind::Identity) continue;
      Step s;
      s.kind = kindOf(n);
      s.node = &n;
      s.out = n.result();
      addReads(s, n);
      if (s.kind == Kind::Linear || s.kind == Kind::Attention) {
        if (s.kind == Kind::Linear) {
          requireConst(n, 1, "the weight (operand 1)");
          requireConst(n, 2, "the bias (operand 2)");
          if (n.operand(1)->type.rank() != 2) failAt(n, "the CPU target needs a 2-D weight");
          s.epilogue = n.op == OpKind::Linear ? linearEpilogue(n) : BERTC_K_EPI_NONE;
        } else {
          for (size_t i : {1, 2, 4}) requireConst(n, i, "the Attention weights and bias");
          s.epilogue = BERTC_K_EPI_NONE;
          checkMask(n);
        }
        const bool canFold = n.op == OpKind::MatMul || (n.op == OpKind::Attention && n.operand(4));
        if (const Node* u = canFold ? soleUser(n.result()) : nullptr) {
          int epi = foldableEpilogue(*u, n.result());
          if (n.op == OpKind::Attention && u->op != OpKind::SkipLayerNorm) epi = -1;
          if (epi >= 0) {
            s.fused = u;
            s.epilogue = epi;
            s.out = u->result();
            addReads(s, *u);
            std::erase(s.reads, n.result());
            folded.insert(u);
          }
        }
        if (s.kind == Kind::Attention) {
          const int64_t hidden = n.operand(1)->type.shape.at(1).constValue().value() / 3;
          s.tempBytes = {roundUp(3 * hidden * 4, 64)};  // QKV projection
          if (n.operand(4)) s.tempBytes.push_back(roundUp(hidden * 4, 64));  // context before Wout
        }
      }
      if (s.kind == Kind::EmbedLayerNorm) s.tempBytes = {3 * 8};  // gathered ids, segment ids, positions
      if (s.kind == Kind::EmbedLayerNorm) recordIdRanges(n);
      if (s.kind == Kind::MeanPool) checkMeanPoolMask(n);
      plan_.steps.push_back(std::move(s));
    }
    // [batch, seq] arithmetic reads only inputs and itself, so it can all run
    // first: then the mask is known before the tokens are packed.
    std::stable_partition(plan_.steps.begin(), plan_.steps.end(),
                          [](const Step& s) { return s.kind == Kind::Elementwise || s.kind == Kind::CumSum; });
  }

  Kind kindOf(const Node& n) const {
    switch (n.op) {
      case OpKind::EmbedLayerNorm: return Kind::EmbedLayerNorm;
      case OpKind::MatMul:
      case OpKind::Linear: return Kind::Linear;
      case OpKind::LayerNorm:
      case OpKind::SkipLayerNorm: return Kind::LayerNorm;
      case OpKind::BiasGelu:
      case OpKind::FastGelu:
      case OpKind::Gelu: return Kind::BiasAct;
      case OpKind::Attention: return Kind::Attention;
      case OpKind::Gather: return Kind::GatherToken;
      case OpKind::MeanPool: return Kind::MeanPool;
      case OpKind::CumSum: return Kind::CumSum;
      case OpKind::Add:
        if (plan_.layouts.at(n.result()) != Layout::Padded) return Kind::Add;
        return Kind::Elementwise;
      default: return Kind::Elementwise;
    }
  }

  int linearEpilogue(const Node& n) const {
    const std::string act = n.getString("activation", "none");
    const bool bias = n.operand(2) != nullptr;
    if (act == "none") return bias ? BERTC_K_EPI_BIAS : BERTC_K_EPI_NONE;
    if (act == "tanh") return BERTC_K_EPI_BIAS_TANH;
    if (act == "relu") return BERTC_K_EPI_BIAS_RELU;
    if (act == "gelu") return BERTC_K_EPI_BIAS_GELU;
    failAt(n, "activation '" + act + "' is not supported by the CPU target");
  }

  /// Every Attention must mask keys by the same [batch, seq] value: it
  /// decides the packing.
  void checkMask(const Node& n) {
    const Value* m = n.operand(3);
    if (!m) {
      if (maskSeen_ && plan_.mask) failAt(n, "has no mask while other Attention ops have one");
      maskSeen_ = true;
      return;
    }
    if (!isBS(m)) failAt(n, "the CPU target needs a [batch, seq] key-padding mask");
    if (maskSeen_ && plan_.mask != m) failAt(n, "masks by a different value than the other Attention ops");
    maskSeen_ = true;
    plan_.mask = m;
  }

  /// MeanPool weighs tokens by the mask; the kernel averages the packed
  /// (real) tokens, which is the same when the mask is the packing mask and
  /// holds only 0 and 1. The C API checks the latter on every run.
  void checkMeanPoolMask(const Node& n) {
    const Value* m = source(n.operand(1));
    if (!plan_.mask || source(plan_.mask) != m || !m->isInput)
      failAt(n, "pools by a mask other than the attention mask the tokens are packed by");
    if (!ir::isInteger(m->type.dtype) && m->type.dtype != DType::Bool)
      failAt(n, "the CPU target pools only by an integer or bool mask input");
  }

  void recordIdRanges(const Node& n) {
    auto rows = [](const Value* table) { return table->type.shape.at(0).constValue().value_or(0); };
    const Value* ids = source(n.operand(0));
    if (ids->isInput) plan_.idRanges[ids] = rows(n.operand(2));
    if (n.operand(1) && n.operand(4)) {
      const Value* seg = source(n.operand(1));
      if (seg->isInput) plan_.idRanges[seg] = rows(n.operand(4));
    }
  }

  /// Bytes per slot of a planned value.
  int64_t bytesPerSlot(const Value* v) const {
    switch (plan_.layouts.at(v)) {
      case Layout::Padded: return roundUp(static_cast<int64_t>(ir::dtypeSize(v->type.dtype)), 8);
      case Layout::Token:
      case Layout::Batch: return roundUp(width(v) * 4, 64);
    }
    return 0;
  }

  /// First-fit over live ranges: a value lives from the step that defines it
  /// to the last step that reads it (outputs to the end); a step's temps only
  /// during it. Offsets are per slot; planned values never share bytes with
  /// anything live at the same time, so a step's output never aliases its
  /// inputs (kernels that work in place are given the same buffer on purpose).
  void planMemory() {
    struct Live {
      const Value* v;  // null for a temp
      size_t step, temp;
      int64_t first, last, bytes, align;
    };
    std::vector<Live> lives;
    std::map<const Value*, size_t> index;
    const int64_t end = static_cast<int64_t>(plan_.steps.size());
    for (size_t i = 0; i < plan_.steps.size(); ++i) {
      Step& s = plan_.steps[i];
      const Value* out = s.out;
      const int64_t bytes = bytesPerSlot(out);
      index[out] = lives.size();
      lives.push_back({out, i, 0, static_cast<int64_t>(i), static_cast<int64_t>(i), bytes, bytes >= 64 ? 64 : 8});
      for (size_t t = 0; t < s.tempBytes.size(); ++t)
        lives.push_back({nullptr, i, t, static_cast<int64_t>(i), static_cast<int64_t>(i), s.tempBytes[t], 64});
      s.tempOffsets.assign(s.tempBytes.size(), 0);
    }
    auto resolve = [&](const Value* v) { return plan_.aliases.count(v) ? plan_.aliases.at(v) : v; };
    for (size_t i = 0; i < plan_.steps.size(); ++i)
      for (const Value* r : plan_.steps[i].reads)
        if (auto it = index.find(resolve(r)); it != index.end()) lives[it->second].last = static_cast<int64_t>(i);
    for (const Value* o : g_.outputs())
      if (auto it = index.find(resolve(o)); it != index.end()) lives[it->second].last = end;

    std::vector<const Live*> placed;
    std::vector<int64_t> offsets(lives.size(), 0);
    int64_t top = kPackBytesPerSlot;
    for (size_t k = 0; k < lives.size(); ++k) {
      const Live& l = lives[k];
      // Candidate offsets: the start, and the end of every placed block that overlaps in time.
      std::vector<std::pair<int64_t, int64_t>> busy;
      for (size_t j = 0; j < k; ++j)
        if (lives[j].first <= l.last && l.first <= lives[j].last) busy.push_back({offsets[j], offsets[j] + lives[j].bytes});
      std::sort(busy.begin(), busy.end());
      int64_t at = kPackBytesPerSlot;
      for (const auto& [b, e] : busy) {
        at = roundUp(at, l.align);
        if (at + l.bytes <= b) break;
        at = std::max(at, e);
      }
      at = roundUp(at, l.align);
      offsets[k] = at;
      top = std::max(top, at + l.bytes);
      if (l.v)
        plan_.buffers[l.v] = Buffer{at, l.bytes, plan_.layouts.at(l.v), plan_.layouts.at(l.v) == Layout::Padded ? 1 : width(l.v)};
      else
        plan_.steps[l.step].tempOffsets[l.temp] = at;
    }
    plan_.tokOffset = 0;
    plan_.rowOfOffset = 4;
    plan_.seqStartOffset = 8;
    plan_.bytesPerSlot = roundUp(top, 64);
    int64_t scratch = 0;
    for (const Step& s : plan_.steps)
      if (s.kind == Kind::Attention) {
        AttentionArgs a;
        a.H = static_cast<int>(s.node->operand(1)->type.shape.at(1).constValue().value() / 3);
        a.heads = static_cast<int>(s.node->getInt("num_heads", 1));
        a.length = static_cast<int>(plan_.maxSeq);
        scratch = std::max<int64_t>(scratch, attentionScratchFloats(a));
      }
    plan_.workerScratchFloats = roundUp(scratch, 16);
  }

  const ir::Graph& g_;
  std::string file_;
  Plan plan_;
  bool maskSeen_ = false;
};

const char* kindName(Step::Kind k) {
  switch (k) {
    case Kind::Elementwise: return "elementwise";
    case Kind::CumSum: return "cumsum";
    case Kind::EmbedLayerNorm: return "embed_layernorm";
    case Kind::Linear: return "linear";
    case Kind::LayerNorm: return "layernorm";
    case Kind::BiasAct: return "bias_act";
    case Kind::Add: return "add";
    case Kind::Attention: return "attention";
    case Kind::GatherToken: return "gather_token";
    case Kind::MeanPool: return "mean_pool";
  }
  return "?";
}

const char* layoutName(Layout l) {
  switch (l) {
    case Layout::Padded: return "padded";
    case Layout::Token: return "token";
    case Layout::Batch: return "batch";
  }
  return "?";
}

}  // namespace

Result<Plan> planGraph(const ir::Graph& g, const PlanOptions& opts, const std::string& file) {
  return catchUserError([&]() -> Result<Plan> { return Planner(g, file).run(opts); });
}

std::string describePlan(const ir::Graph& g, const Plan& plan) {
  std::string out = fmt::format("plan: max batch {}, max seq {}, arena {} bytes per batch*seq slot, {} steps\n",
                                plan.maxBatch, plan.maxSeq, plan.bytesPerSlot, plan.steps.size());
  (void)g;
  for (const Step& s : plan.steps) {
    const Buffer& b = plan.buffers.at(s.out);
    out += fmt::format("  {:<16} {:<28} -> {:<6} [{}] @{}/slot", kindName(s.kind), s.node->describe(),
                       layoutName(b.layout), b.width, b.offsetPerSlot);
    if (s.fused) out += fmt::format("  + folds {}", s.fused->describe());
    out += "\n";
  }
  return out;
}

}  // namespace bertc::cpu
