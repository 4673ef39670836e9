// planGraph: bounds, layouts, the ordered steps with folded epilogues, and
// every check of what a target lowers. The memory plan is plan_memory.cpp.
#include "passes/plan.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "ir/ops.h"
#include "passes/plan_internal.h"

namespace bertc::plan {
namespace {

using ir::DType;
using ir::Node;
using ir::OpKind;
using ir::SymExpr;
using ir::Value;
using Kind = Step::Kind;

int64_t roundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/// The [batch, seq] ops the padded kernels run.
bool isPaddedOp(OpKind op) {
  switch (op) {
    case OpKind::Add: case OpKind::Sub: case OpKind::Mul: case OpKind::Div: case OpKind::Equal: case OpKind::Less:
    case OpKind::Greater: case OpKind::And: case OpKind::Or: case OpKind::Not: case OpKind::Cast: case OpKind::Where:
    case OpKind::CumSum:
      return true;
    default:
      return false;
  }
}

/// The ops a plan has steps for (after the default pipeline's fusions).
bool isLowered(OpKind op) {
  switch (op) {
    case OpKind::Identity: case OpKind::EmbedLayerNorm: case OpKind::LayerNorm: case OpKind::SkipLayerNorm:
    case OpKind::BiasGelu: case OpKind::FastGelu: case OpKind::Gelu: case OpKind::MatMul: case OpKind::Linear:
    case OpKind::Attention: case OpKind::Gather: case OpKind::MeanPool:
      return true;
    default:
      return isPaddedOp(op);
  }
}

class Planner {
 public:
  Planner(const ir::Graph& g, const TargetCaps& caps, const std::string& file) : g_(g), caps_(caps), file_(file) {}

  Plan run(const PlanOptions& opts) {
    plan_.target = caps_.name;
    for (const auto& n : g_.nodes())
      if (!isLowered(n->op)) failAt(*n, fmt::format("is not supported by {}", target()));
    findDims(opts);
    planInputs();
    findMask();
    buildSteps();
    if (g_.outputs().empty()) fail("the model has no outputs");
    for (const Value* out : g_.outputs()) checkOutput(out);
    planMemory(g_, caps_, plan_);
    return std::move(plan_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw UserError(fmt::format("{}: {}", file_, what)); }
  [[noreturn]] void failAt(const Node& n, const std::string& what) const {
    throw UserError(fmt::format("{}: {}: {}", file_, n.describe(), what));
  }
  /// "the CPU target", for messages.
  std::string target() const { return "the " + caps_.name + " target"; }

  // ---- bounds ------------------------------------------------------------

  /// batch and seq are the dims of the embedding's ids, a [batch, seq] input.
  void findDims(const PlanOptions& opts) {
    const Node* embed = nullptr;
    for (const auto& n : g_.nodes())
      if (n->op == OpKind::EmbedLayerNorm) {
        embed = n.get();
        break;
      }
    const Value* ids = embed ? source(embed->operand(0)) : nullptr;
    if (!ids || !ids->isInput || ids->type.rank() != 2)
      fail(fmt::format("{} needs a model whose embeddings (EmbedLayerNorm after `bertc optimize`'s fusions) "
                       "read a [batch, seq] input of token ids",
                       target()));
    plan_.batchDim = ids->type.shape[0];
    plan_.seqDim = ids->type.shape[1];
    plan_.maxBatch = bound(plan_.batchDim, opts.maxBatch, 64, "batch");
    const int64_t positions = embed->operand(3) ? embed->operand(3)->type.shape.at(0).constValue().value_or(0) : 0;
    plan_.maxSeq = bound(plan_.seqDim, opts.maxSeq, positions, "seq");
    // Past the position table every run would fail on a position id; past
    // these caps the arena's size arithmetic would overflow.
    if (!embed->operand(7) && positions > 0 && plan_.maxSeq > positions)
      fail(fmt::format("--max-seq {} is longer than the model's {} positions", plan_.maxSeq, positions));
    if (plan_.maxBatch > kMaxBatchBound)
      fail(fmt::format("--max-batch {} is above the largest supported, {}", plan_.maxBatch, kMaxBatchBound));
    if (plan_.maxSeq > kMaxSeqBound)
      fail(fmt::format("--max-seq {} is above the largest supported, {}", plan_.maxSeq, kMaxSeqBound));
    if (caps_.maxTokens > 0 && plan_.maxBatch * plan_.maxSeq > caps_.maxTokens)
      fail(fmt::format("--max-batch {} x --max-seq {} is above {}'s {} tokens", plan_.maxBatch, plan_.maxSeq,
                       target(), caps_.maxTokens));
  }

  /// The largest size a dim may take: the requested one, else the
  /// constant, else `dflt`.
  int64_t bound(const SymExpr& dim, int64_t requested, int64_t dflt, const char* what) const {
    if (auto c = dim.constValue()) {
      if (requested > *c) fail(fmt::format("--max-{} {} is above the model's fixed {} size {}", what, requested, what, *c));
      return requested > 0 ? requested : *c;
    }
    const int64_t v = requested > 0 ? requested : dflt;
    if (v < 1) fail(fmt::format("cannot tell the largest {} size; give --max-{}", what, what));
    return v;
  }

  // ---- values --------------------------------------------------------------

  static const Value* source(const Value* v) { return ir::throughIdentityAndCast(v); }

  bool isBS(const Value* v) const {
    return v->type.rank() == 2 && v->type.shape[0] == plan_.batchDim && v->type.shape[1] == plan_.seqDim;
  }

  bool paddedDtype(DType t) const {
    return caps_.paddedDtypes.empty() ||
           std::find(caps_.paddedDtypes.begin(), caps_.paddedDtypes.end(), t) != caps_.paddedDtypes.end();
  }

  /// "f32, f64, u8, i8, i32, i64 or bool".
  std::string paddedDtypeNames() const {
    std::string s;
    for (size_t i = 0; i < caps_.paddedDtypes.size(); ++i)
      s += std::string(i == 0 ? "" : i + 1 == caps_.paddedDtypes.size() ? " or " : ", ") +
           std::string(ir::dtypeName(caps_.paddedDtypes[i]));
    return s;
  }

  void setLayout(const Value* v, Layout l, DType stored) {
    plan_.layouts[v] = l;
    plan_.precision[v] = stored;
  }

  void planInputs() {
    for (const Value* in : g_.inputs()) {
      if (!isBS(in))
        fail(fmt::format("input '{}' is not [batch, seq] like the token ids; {} takes only [batch, seq] inputs",
                         in->name, target()));
      if (!paddedDtype(in->type.dtype))
        fail(fmt::format("input '{}' is {}; {} takes {} inputs", in->name, ir::dtypeName(in->type.dtype), target(),
                         paddedDtypeNames()));
      setLayout(in, Layout::Padded, in->type.dtype);
    }
  }

  Layout layout(const Node& n, const Value* v) const {
    auto it = plan_.layouts.find(v);
    if (it == plan_.layouts.end())
      failAt(n, fmt::format("operand '{}' is a constant where {} needs an activation", v->name, target()));
    return it->second;
  }

  Layout floatLayout(const Node& n, const Value* v) const {
    const Layout l = layout(n, v);
    if (l == Layout::Padded) failAt(n, fmt::format("runs on integer [batch, seq] data; {} expects float activations", target()));
    return l;
  }

  int64_t width(const Node& n, const Value* v) const {
    auto c = v->type.shape.empty() ? std::nullopt : v->type.shape.back().constValue();
    if (!c) failAt(n, fmt::format("'{}' has a symbolic last dim; {} needs constant widths", v->name, target()));
    return *c;
  }

  void requireConst(const Node& n, size_t i, const char* what) const {
    const Value* v = n.operand(i);
    if (v && !v->isConstant()) failAt(n, fmt::format("{} must be a constant for {}", what, target()));
  }

  /// A constant float row of `w` values (a bias, gamma or beta), or absent.
  void requireRow(const Node& n, const Value* v, int64_t w, const char* what) const {
    if (!v) return;
    if (!v->isConstant()) failAt(n, fmt::format("{} must be a constant for {}", what, target()));
    if (!ir::isFloat(v->type.dtype) || v->constant->numel() != w)
      failAt(n, fmt::format("{} needs {} of one float value per column ({})", target(), what, w));
  }

  // ---- masks ---------------------------------------------------------------

  /// Every Attention must mask keys by the same [batch, seq] value: it
  /// decides the packing. MeanPool must pool by it too (its kernel averages
  /// the packed tokens).
  void findMask() {
    bool seen = false;
    for (const auto& n : g_.nodes()) {
      if (n->op != OpKind::Attention) continue;
      const Value* m = n->operand(3);
      if (seen && m != plan_.mask)
        failAt(*n, m ? "masks by a different value than the other Attention ops" : "has no mask while other Attention ops have one");
      if (m && !isBS(m)) failAt(*n, fmt::format("{} needs a [batch, seq] key-padding mask", target()));
      seen = true;
      plan_.mask = m;
    }
    for (const auto& n : g_.nodes()) {
      if (n->op != OpKind::MeanPool) continue;
      const Value* m = source(n->operand(1));
      if (!plan_.mask || source(plan_.mask) != m || !m->isInput)
        failAt(*n, "pools by a mask other than the attention mask the tokens are packed by");
      if (!ir::isInteger(m->type.dtype) && m->type.dtype != DType::Bool)
        failAt(*n, fmt::format("{} pools only by an integer or bool mask input", target()));
    }
  }

  // ---- steps ---------------------------------------------------------------

  /// The steps' order: the [batch, seq] integer arithmetic first (it reads
  /// only inputs and itself, and may compute the mask the packing needs),
  /// then packing, then the rest in graph order.
  void buildSteps() {
    std::set<const Value*> paddedValues(g_.inputs().begin(), g_.inputs().end());
    std::vector<const Node*> padded, rest;
    for (const auto& n : g_.nodes()) {
      bool isPadded = isPaddedOp(n->op) || n->op == OpKind::Identity;
      for (const Value* v : n->operands) isPadded &= !v || v->isConstant() || paddedValues.count(v);
      if (isPadded) {
        for (const Value* r : n->results) paddedValues.insert(r);
        padded.push_back(n.get());
      } else {
        rest.push_back(n.get());
      }
    }
    for (const Node* n : padded) paddedStep(*n);
    Step pack;
    pack.kind = Kind::Pack;
    if (plan_.mask) {
      if (!plan_.layouts.count(plan_.mask))
        fail(fmt::format("the attention mask '{}' is not computed from the inputs", plan_.mask->name));
      pack.reads.push_back(plan_.mask);
    }
    plan_.steps.push_back(std::move(pack));
    for (const Node* n : rest)
      if (!folded_.count(n)) floatStep(*n);
  }

  bool hasActivation(const Node& n) const {
    for (const Value* v : n.operands)
      if (v && !v->isConstant()) return true;
    return false;
  }

  Step& newStep(Kind kind, const Node& n) {
    if (!hasActivation(n)) failAt(n, "has only constant operands (it should have been folded)");
    Step s;
    s.kind = kind;
    s.node = &n;
    s.out = n.result();
    addReads(s, n);
    plan_.steps.push_back(std::move(s));
    return plan_.steps.back();
  }

  static void addReads(Step& s, const Node& n) {
    for (const Value* v : n.operands)
      if (v && !v->isConstant() && v != s.node->result() &&
          std::find(s.reads.begin(), s.reads.end(), v) == s.reads.end())
        s.reads.push_back(v);
  }

  void alias(const Node& n) {
    const Value* from = n.operand(0);
    plan_.aliases[n.result()] = plan_.resolve(from);
    setLayout(n.result(), layout(n, from), plan_.precision.at(from));
  }

  /// Integer [batch, seq] arithmetic on the caller's layout.
  void paddedStep(const Node& n) {
    if (n.op == OpKind::Identity) return alias(n);
    for (const Value* v : n.operands)
      if (v && v->isConstant() && v->constant->numel() != 1 && n.op != OpKind::CumSum)
        failAt(n, fmt::format("{} supports only scalar constants in [batch, seq] arithmetic", target()));
    const Value* out = n.result();
    if (!isBS(out)) failAt(n, fmt::format("{} lowers integer arithmetic only on [batch, seq] tensors", target()));
    if (!paddedDtype(out->type.dtype))
      failAt(n, fmt::format("produces {} on [batch, seq], which {} does not keep", ir::dtypeName(out->type.dtype), target()));
    if (n.op == OpKind::CumSum) {
      const Value* axis = n.operand(1);
      const int64_t a = axis && axis->isConstant() ? axis->constant->getInt(0) : -99;
      if (a != 1 && a != -1) failAt(n, fmt::format("{} runs CumSum only along the sequence axis", target()));
      if (n.operand(0)->type.dtype != out->type.dtype) failAt(n, "CumSum's input and output types differ");
    }
    newStep(n.op == OpKind::CumSum ? Kind::CumSum : Kind::Elementwise, n);
    setLayout(out, Layout::Padded, out->type.dtype);
  }

  void floatResult(const Node& n, Layout l) { setLayout(n.result(), l, caps_.store); }

  void floatStep(const Node& n) {
    switch (n.op) {
      case OpKind::Identity: return alias(n);
      case OpKind::EmbedLayerNorm: return embed(n);
      case OpKind::LayerNorm:
      case OpKind::SkipLayerNorm: return layerNorm(n);
      case OpKind::BiasGelu:
      case OpKind::FastGelu:
      case OpKind::Gelu: return biasAct(n);
      case OpKind::MatMul:
      case OpKind::Linear: return linear(n);
      case OpKind::Attention: return attention(n);
      case OpKind::Gather: return gatherToken(n);
      case OpKind::MeanPool: return meanPool(n);
      case OpKind::Add: return add(n);
      default:
        if (isPaddedOp(n.op))
          failAt(n, fmt::format("mixes float activations into [batch, seq] arithmetic, which {} does not lower", target()));
        failAt(n, fmt::format("is not supported by {}", target()));
    }
  }

  void embed(const Node& n) {
    for (size_t i : {2, 3, 4, 5, 6}) requireConst(n, i, "the embedding tables, gamma and beta");
    if (!n.operand(3)) failAt(n, fmt::format("{} needs a position embedding table", target()));
    if (!n.operand(5)) failAt(n, fmt::format("{} needs EmbedLayerNorm's gamma", target()));
    const int64_t h = width(n, n.result());
    for (size_t i : {2, 3, 4})
      if (n.operand(i) && (n.operand(i)->type.rank() != 2 || width(n, n.operand(i)) != h))
        failAt(n, "an embedding table is not a 2-D table as wide as the output");
    requireRow(n, n.operand(5), h, "gamma");
    requireRow(n, n.operand(6), h, "beta");
    auto rows = [](const Value* table) { return table->type.shape.at(0).constValue().value_or(0); };
    auto integerBS = [&](const Value* v, const char* what) {
      if (v->isConstant() || layout(n, v) != Layout::Padded || !ir::isInteger(v->type.dtype))
        failAt(n, fmt::format("{} needs the {} as an integer [batch, seq] tensor computed from the inputs", target(), what));
    };
    integerBS(n.operand(0), "token ids");
    limitInput(source(n.operand(0)), rows(n.operand(2)));
    if (n.operand(1) && n.operand(4)) {
      integerBS(n.operand(1), "segment ids");
      limitInput(source(n.operand(1)), rows(n.operand(4)));
    }
    if (const Value* p = n.operand(7)) {
      if (p->isConstant()) {
        if (!caps_.constPositionIds) failAt(n, fmt::format("{} needs position ids computed from the inputs", target()));
        if (!ir::isInteger(p->type.dtype)) failAt(n, "the constant position ids are not integers");
        if (p->constant->numel() < plan_.maxSeq)
          failAt(n, "the constant position ids are shorter than the longest sequence");
      } else if (isBS(p)) {
        integerBS(p, "position ids");
      } else {
        failAt(n, fmt::format("{} needs position ids of shape [batch, seq]{}", target(),
                              caps_.constPositionIds ? " or a constant row" : ""));
      }
    }
    Step& s = newStep(Kind::EmbedLayerNorm, n);
    s.temps.push_back({"ids, segment ids, positions of the packed tokens (int64)", 3 * 8});
    floatResult(n, Layout::Token);
  }

  void layerNorm(const Node& n) {
    const bool skip = n.op == OpKind::SkipLayerNorm;
    const Layout l = floatLayout(n, n.operand(0));
    for (size_t i = skip ? 2 : 1; i < n.operands.size(); ++i) requireConst(n, i, "gamma, beta and bias");
    const int64_t h = width(n, n.result());
    const int64_t rank = static_cast<int64_t>(n.result()->type.rank());
    if (!skip && n.getInt("axis", -1) != -1 && n.getInt("axis", -1) != rank - 1)
      failAt(n, fmt::format("{} normalises only over the last axis", target()));
    if (skip && (n.operand(1)->isConstant() || floatLayout(n, n.operand(1)) != l))
      failAt(n, fmt::format("{} needs the skip input to be an activation of X's layout", target()));
    const Value* gamma = n.operand(skip ? 2 : 1);
    if (!gamma) failAt(n, fmt::format("{} needs LayerNorm's scale", target()));
    requireRow(n, gamma, h, "gamma");
    requireRow(n, n.operand(skip ? 3 : 2), h, "beta");
    if (skip) requireRow(n, n.operand(4), h, "the bias");
    if (width(n, n.operand(0)) != h || (skip && width(n, n.operand(1)) != h))
      failAt(n, fmt::format("{} needs inputs as wide as the output (no broadcasting)", target()));
    newStep(Kind::LayerNorm, n);
    floatResult(n, l);
  }

  void biasAct(const Node& n) {
    const Layout l = floatLayout(n, n.operand(0));
    const int64_t w = width(n, n.result());
    if (n.op != OpKind::Gelu) requireRow(n, n.operand(1), w, "the bias");
    newStep(Kind::BiasAct, n);
    floatResult(n, l);
  }

  /// Float Add of two activations of one layout and shape, or of an
  /// activation and a constant row broadcast over it.
  void add(const Node& n) {
    const Value* a = n.operand(0);
    const Value* b = n.operand(1);
    if (a->isConstant()) std::swap(a, b);
    const Layout l = floatLayout(n, a);
    const int64_t w = width(n, n.result());
    if (width(n, a) != w) failAt(n, fmt::format("{} adds only rows of the output's width", target()));
    if (b->isConstant()) {
      requireRow(n, b, w, "a constant addend");
    } else if (floatLayout(n, b) != l || !(a->type.shape == b->type.shape)) {
      failAt(n, fmt::format("adds activations of different layouts or shapes, which {} does not lower", target()));
    }
    newStep(Kind::Add, n);
    floatResult(n, l);
  }

  /// A [K, N] constant weight for an input of width k; N.
  int64_t gemmWeight(const Node& n, const Value* w, int64_t k) const {
    if (!w || !w->isConstant()) failAt(n, fmt::format("the weight must be a constant for {}", target()));
    if (w->type.rank() != 2 || !ir::isFloat(w->type.dtype) || w->type.shape.at(0).constValue().value_or(-1) != k)
      failAt(n, fmt::format("{} needs a 2-D float [K, N] weight matching the input width {}", target(), k));
    return w->type.shape.at(1).constValue().value();
  }

  void linear(const Node& n) {
    const Layout l = floatLayout(n, n.operand(0));
    const int64_t cols = gemmWeight(n, n.operand(1), width(n, n.operand(0)));
    requireRow(n, n.operand(2), cols, "the bias");
    Epilogue epi = Epilogue::None;
    if (n.op == OpKind::Linear) {
      const std::string act = n.getString("activation", "none");
      if (act == "none") epi = n.operand(2) ? Epilogue::Bias : Epilogue::None;
      else if (act == "relu") epi = Epilogue::BiasRelu;
      else if (act == "gelu") epi = Epilogue::BiasGelu;
      else if (act == "tanh") epi = Epilogue::BiasTanh;
      else failAt(n, fmt::format("activation '{}' is not supported by {}", act, target()));
    }
    Step& s = newStep(Kind::Linear, n);
    s.epilogue = epi;
    plan_.precision[n.operand(1)] = caps_.gemmWeights;
    floatResult(n, l);
    if (n.op == OpKind::MatMul) fold(s, n);
  }

  void attention(const Node& n) {
    const Layout l = floatLayout(n, n.operand(0));
    if (l != Layout::Token) failAt(n, fmt::format("{} runs attention only over token activations", target()));
    for (size_t i : {1, 2, 4}) requireConst(n, i, "the Attention weights and bias");
    const int64_t hin = width(n, n.operand(0));
    const int64_t h3 = gemmWeight(n, n.operand(1), hin);
    const int64_t heads = n.getInt("num_heads", 0);
    if (heads < 1 || h3 % 3 != 0 || (h3 / 3) % heads != 0)
      failAt(n, fmt::format("hidden size {} is not num_heads {} times a head size", h3 / 3, heads));
    const int64_t hidden = h3 / 3, d = hidden / heads;
    if (caps_.maxHeadSize > 0 && d > caps_.maxHeadSize)
      failAt(n, fmt::format("head size {} is above {}'s {}", d, target(), caps_.maxHeadSize));
    if (!n.operand(2)) failAt(n, fmt::format("{} needs Attention's QKV bias", target()));
    requireRow(n, n.operand(2), h3, "the QKV bias");
    if (n.operand(4)) gemmWeight(n, n.operand(4), hidden);
    else if (width(n, n.result()) != hidden) failAt(n, "the output is not as wide as the hidden size");
    const int64_t store = static_cast<int64_t>(ir::dtypeSize(caps_.store));
    Step& s = newStep(Kind::Attention, n);
    plan_.precision[n.operand(1)] = caps_.gemmWeights;
    if (n.operand(4)) plan_.precision[n.operand(4)] = caps_.gemmWeights;
    s.temps.push_back({"QKV projection", roundUp(h3 * store, caps_.slotAlign)});
    if (n.operand(4)) s.temps.push_back({"context before the output projection", roundUp(hidden * store, caps_.slotAlign)});
    floatResult(n, l);
    if (n.operand(4)) fold(s, n);
  }

  void gatherToken(const Node& n) {
    if (layout(n, n.operand(0)) != Layout::Token || n.getInt("axis", 0) != 1 || !n.operand(1)->isConstant() ||
        n.operand(1)->constant->numel() != 1 || n.operand(1)->type.rank() != 0)
      failAt(n, fmt::format("{} supports Gather only of one token per sequence (axis 1, a constant scalar index)", target()));
    const int64_t index = n.operand(1)->constant->getInt(0);
    if (index < 0) failAt(n, fmt::format("{} gathers only from a non-negative position", target()));
    if (index >= plan_.maxSeq)
      failAt(n, fmt::format("gathers position {} of sequences of at most {}", index, plan_.maxSeq));
    plan_.minSeq = std::max(plan_.minSeq, index + 1);
    width(n, n.result());
    newStep(Kind::GatherToken, n);
    floatResult(n, Layout::Batch);
  }

  void meanPool(const Node& n) {
    if (layout(n, n.operand(0)) != Layout::Token) failAt(n, fmt::format("{} pools only token activations", target()));
    width(n, n.result());
    newStep(Kind::MeanPool, n);
    floatResult(n, Layout::Batch);
  }

  /// Values of input `in` must lie in [0, limit): checked by the runtime
  /// before a run (token ids against their table).
  void limitInput(const Value* in, int64_t limit) {
    if (!in->isInput || limit <= 0) return;
    auto [it, fresh] = plan_.idLimits.try_emplace(in, limit);
    if (!fresh) it->second = std::min(it->second, limit);
  }

  // ---- epilogues -------------------------------------------------------------

  /// The sole user of v, when v is not also a graph output.
  const Node* soleUser(const Value* v) const {
    if (std::find(g_.outputs().begin(), g_.outputs().end(), v) != g_.outputs().end()) return nullptr;
    auto users = g_.users(v);
    return users.size() == 1 ? users[0] : nullptr;
  }

  static bool isConstRow(const Value* v, int64_t n) {
    return v && v->isConstant() && v->type.dtype == DType::F32 && v->constant->numel() == n;
  }

  /// What a GEMM writing `mm` (of width n) can take over from its consumer
  /// u, or nothing. A SkipLayerNorm folds as bias + residual, then runs in place.
  std::optional<Epilogue> foldable(const Node& u, const Value* mm, int64_t n) const {
    switch (u.op) {
      case OpKind::BiasGelu:
        if (isConstRow(u.operand(1), n)) return Epilogue::BiasGelu;
        return std::nullopt;
      case OpKind::FastGelu:
        if (!u.operand(1) || isConstRow(u.operand(1), n)) return Epilogue::BiasGeluTanh;
        return std::nullopt;
      case OpKind::Gelu:
        return u.getString("approximate", "none") == "tanh" ? Epilogue::BiasGeluTanh : Epilogue::BiasGelu;
      case OpKind::Add: {
        const Value* other = u.operand(0) == mm ? u.operand(1) : u.operand(0);
        if (isConstRow(other, n) && other->type.rank() == 1) return Epilogue::Bias;
        return std::nullopt;
      }
      case OpKind::SkipLayerNorm: {
        if (u.operand(0) != mm && u.operand(1) != mm) return std::nullopt;
        const Value* skip = u.operand(0) == mm ? u.operand(1) : u.operand(0);
        if (skip == mm || skip->isConstant() || !plan_.layouts.count(skip) ||
            plan_.layouts.at(skip) != plan_.layouts.at(mm))
          return std::nullopt;
        return Epilogue::BiasResidual;
      }
      default:
        return std::nullopt;
    }
  }

  /// Folds the sole consumer of s's result into s when the target's GEMM
  /// takes its epilogue: an Attention folds only a SkipLayerNorm.
  void fold(Step& s, const Node& n) {
    const Node* u = soleUser(n.result());
    if (!u) return;
    const auto epi = foldable(*u, n.result(), width(n, n.result()));
    if (!epi || !(caps_.foldedEpilogues & epilogueBit(*epi))) return;
    if (n.op == OpKind::Attention && u->op != OpKind::SkipLayerNorm) return;
    // The consumer's own checks, as if it were a step.
    if (u->op == OpKind::SkipLayerNorm) {
      const int64_t h = width(*u, u->result());
      requireConst(*u, 2, "gamma");
      if (!u->operand(2)) failAt(*u, fmt::format("{} needs LayerNorm's scale", target()));
      requireRow(*u, u->operand(2), h, "gamma");
      requireRow(*u, u->operand(3), h, "beta");
      requireRow(*u, u->operand(4), h, "the bias");
    }
    s.fused = u;
    s.epilogue = *epi;
    s.out = u->result();
    addReads(s, *u);
    std::erase(s.reads, n.result());
    folded_.insert(u);
    setLayout(u->result(), plan_.layouts.at(n.result()), caps_.store);
  }

  // ---- outputs -------------------------------------------------------------

  void checkOutput(const Value* out) {
    auto it = plan_.layouts.find(out);
    if (it == plan_.layouts.end()) fail(fmt::format("output '{}' is a constant; nothing to compile", out->name));
    if (it->second == Layout::Padded) {
      if (!paddedDtype(out->type.dtype))
        fail(fmt::format("output '{}' is {}, which {} does not return", out->name, ir::dtypeName(out->type.dtype), target()));
      return;
    }
    auto c = out->type.shape.empty() ? std::nullopt : out->type.shape.back().constValue();
    if (!c) fail(fmt::format("output '{}' has a symbolic last dim; {} needs constant widths", out->name, target()));
  }

  const ir::Graph& g_;
  const TargetCaps& caps_;
  std::string file_;
  Plan plan_;
  std::set<const Node*> folded_;
};

}  // namespace

Result<Plan> planGraph(const ir::Graph& g, const TargetCaps& caps, const PlanOptions& opts, const std::string& file) {
  return catchUserError([&]() -> Result<Plan> { return Planner(g, caps, file).run(opts); });
}

}  // namespace bertc::plan
