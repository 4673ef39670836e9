// generateKernels: which specialised kernels a fused graph needs, and the
// CUDA C program that defines them.
#include "codegen_cuda/generate.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>

#include "ir/ops.h"

namespace bertc::cuda {

// Defined by the source that embed_kernels.cmake generates.
std::string_view embeddedKernelFile(size_t i, std::string_view* name);

namespace {

using ir::DType;
using ir::Node;
using ir::OpKind;
using ir::Value;

/// Where a value lives at run time, as on the CPU target: Padded [batch,
/// seq] as the caller gives it, Token packed rows, Batch one row a sequence.
enum class Layout { Padded, Token, Batch };

/// The parameters and the arguments of each family's entry point: the
/// entry passes its parameters straight on. Keep in step with kernels/*.cuh.
struct Family {
  const char* params;
  const char* args;
};

const std::map<std::string, Family>& families() {
  static const std::map<std::string, Family> f = {
      {"pack", {"const void* mask, int mask_dt, int batch, int seq, int* tok, int* row_of, int* seq_start",
                "mask, mask_dt, batch, seq, tok, row_of, seq_start"}},
      {"gather_ids", {"const void* src, int src_dt, int mode, const int* tok, const int* num_rows, int seq, i64* dst",
                      "src, src_dt, mode, tok, num_rows, seq, dst"}},
      {"elementwise", {"int op, void* dst, int dst_dt, i64 n, const void* a, int a_dt, i64 a_n, const void* b, "
                       "int b_dt, i64 b_n, const void* c, int c_dt, i64 c_n",
                       "op, dst, dst_dt, n, a, a_dt, a_n, b, b_dt, b_n, c, c_dt, c_n"}},
      {"cumsum", {"void* dst, const void* src, int dt, i64 rows, i64 cols, int exclusive, int reverse",
                  "dst, src, dt, rows, cols, exclusive, reverse"}},
      {"embed_layernorm",
       {"const i64* ids, const i64* seg, const i64* pos, const store_t* word, i64 vocab, const store_t* pos_table, "
        "i64 positions, const store_t* seg_table, i64 types, const store_t* gamma, const store_t* beta, store_t* y, "
        "const int* num_rows, int* bad_token",
        "ids, seg, pos, word, vocab, pos_table, positions, seg_table, types, gamma, beta, y, num_rows, {eps}, "
        "bad_token"}},
      {"layernorm", {"const store_t* x, i64 ldx, const store_t* skip, i64 ldskip, const store_t* bias, "
                     "const store_t* gamma, const store_t* beta, store_t* y, i64 ldy, const int* num_rows",
                     "x, ldx, skip, ldskip, bias, gamma, beta, y, ldy, num_rows, {eps}"}},
      {"bias_act", {"const store_t* x, i64 ldx, const store_t* bias, store_t* y, i64 ldy, const int* num_rows",
                    "x, ldx, bias, y, ldy, num_rows"}},
      {"add_rows", {"const store_t* x, i64 ldx, const store_t* z, i64 ldz, store_t* y, i64 ldy, const int* num_rows",
                    "x, ldx, z, ldz, y, ldy, num_rows"}},
      {"attention", {"const store_t* qkv, i64 ldqkv, store_t* context, i64 ldctx, const int* seq_start",
                     "qkv, ldqkv, context, ldctx, seq_start, {scale}"}},
      {"mean_pool", {"const store_t* packed, const int* seq_start, store_t* out", "packed, seq_start, {eps}, out"}},
      {"gather_token", {"const store_t* packed, const int* row_of, int seq, int index, store_t* out",
                        "packed, row_of, seq, index, out"}},
      {"scatter_rows", {"const store_t* packed, const int* row_of, float* out", "packed, row_of, out"}},
      {"to_float", {"const store_t* x, float* out", "x, out"}},
  };
  return f;
}

/// Threads for a kernel along a row of n elements taken in pairs when n is
/// even: one warp at least, 256 at most (rows wider than 512 loop).
int rowThreads(int64_t n) {
  const int64_t items = n % 2 == 0 ? n / 2 : n;
  return static_cast<int>(std::clamp<int64_t>((items + 31) / 32 * 32, 32, 256));
}

/// A float constant as the shortest C literal that reads back to the same
/// float ("1e-12f", "0.25f", "1.0f").
std::string floatLiteral(double v) {
  std::string s = fmt::format("{}", static_cast<float>(v));
  BERTC_INTERNAL_ASSERT(s.find_first_of("ni") == std::string::npos, "a non-finite kernel constant: " + s);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s + "f";
}

/// The C type class of one kernel parameter, from the family's text.
enum class ParamType { Pointer, Int, I64 };

std::vector<ParamType> paramTypes(const std::string& params) {
  std::vector<ParamType> types;
  size_t at = 0;
  while (at <= params.size()) {
    size_t end = params.find(',', at);
    if (end == std::string::npos) end = params.size();
    const std::string p = params.substr(at, end - at);
    types.push_back(p.find('*') != std::string::npos ? ParamType::Pointer
                    : p.find("i64") != std::string::npos ? ParamType::I64
                                                         : ParamType::Int);
    at = end + 1;
  }
  return types;
}

ParamType argType(int kind) {
  switch (kind) {
    case BERTC_CUDA_ARG_I32:
    case BERTC_CUDA_ARG_BATCH:
    case BERTC_CUDA_ARG_SEQ: return ParamType::Int;
    case BERTC_CUDA_ARG_I64:
    case BERTC_CUDA_ARG_SLOTS:
    case BERTC_CUDA_ARG_BATCH_I64:
    case BERTC_CUDA_ARG_SEQ_I64: return ParamType::I64;
    default: return ParamType::Pointer;
  }
}

bertc_cuda_arg arg(int kind, int64_t value = 0) { return bertc_cuda_arg{kind, 0, value}; }
bertc_cuda_arg i32(int64_t v) { return arg(BERTC_CUDA_ARG_I32, v); }
bertc_cuda_arg i64(int64_t v) { return arg(BERTC_CUDA_ARG_I64, v); }
const bertc_cuda_arg kNull = arg(BERTC_CUDA_ARG_NULL);

/// Integer [batch, seq] arithmetic ops (kernels/padded.cuh's EW_* codes).
int elementwiseCode(OpKind op) {
  switch (op) {
    case OpKind::Add: return 0;
    case OpKind::Sub: return 1;
    case OpKind::Mul: return 2;
    case OpKind::Div: return 3;
    case OpKind::Equal: return 4;
    case OpKind::Less: return 5;
    case OpKind::Greater: return 6;
    case OpKind::And: return 7;
    case OpKind::Or: return 8;
    case OpKind::Not: return 9;
    case OpKind::Cast: return 10;
    case OpKind::Where: return 11;
    default: return -1;
  }
}

constexpr int64_t kWeightAlign = 256;
constexpr int64_t kSlotAlign = 16;

int64_t roundUp(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

const Value* source(const Value* v) { return ir::throughIdentityAndCast(v); }

/// Whether the kernels (load_int / store_as in kernels/common.cuh and
/// padded.cuh) and the runtime's host checks read and write this dtype.
bool kernelDtype(DType t) {
  switch (t) {
    case DType::F32:
    case DType::F64:
    case DType::U8:
    case DType::I8:
    case DType::I32:
    case DType::I64:
    case DType::Bool: return true;
    default: return false;
  }
}

class Generator {
 public:
  Generator(const ir::Graph& g, Precision p, const std::string& file, const GenerateOptions& opts)
      : g_(g), file_(file), opts_(opts) {
    set_.precision = p;
  }

  KernelSet run() {
    for (const auto& n : g_.nodes())
      if (!isSupported(n->op)) failAt(*n, "is not supported by the CUDA target");
    bounds();
    for (size_t i = 0; i < g_.inputs().size(); ++i) {
      const Value* in = g_.inputs()[i];
      if (!isBS(in))
        fail(fmt::format("input '{}' is not [batch, seq] like the token ids; the CUDA target takes only [batch, seq] inputs", in->name));
      if (!kernelDtype(in->type.dtype))
        fail(fmt::format("input '{}' is {}; the CUDA target takes integer, bool, float32 or float64 inputs", in->name,
                         ir::dtypeName(in->type.dtype)));
      layouts_[in] = Layout::Padded;
      where_[in] = arg(BERTC_CUDA_ARG_INPUT, static_cast<int64_t>(i));
      plan().inputs.push_back({in->name, static_cast<int>(in->type.dtype), false, 0});
    }
    findMask();
    order();

    size_t i = 0;
    for (; i < order_.size() && padded_.count(order_[i]); ++i) step(i);
    pack();
    for (; i < order_.size(); ++i) step(i);

    if (g_.outputs().empty()) fail("the model has no outputs");
    for (size_t o = 0; o < g_.outputs().size(); ++o) output(o);
    plan().arenaBytesPerSlot = static_cast<uint64_t>(roundUp(arenaPeak_, kSlotAlign));
    set_.source = program();
    return std::move(set_);
  }

 private:
  LaunchPlan& plan() { return set_.plan; }

  [[noreturn]] void fail(const std::string& what) const { throw UserError(fmt::format("{}: {}", file_, what)); }
  [[noreturn]] void failAt(const Node& n, const std::string& what) const {
    throw UserError(fmt::format("{}: {}: {}", file_, n.describe(), what));
  }

  // ---- shapes ----------------------------------------------------------

  /// The batch and sequence dims from the token ids, and their bounds
  /// (as the CPU target: --max-batch/--max-seq, the fixed size, 64 / the
  /// position table).
  void bounds() {
    const Node* embed = nullptr;
    for (const auto& n : g_.nodes())
      if (n->op == OpKind::EmbedLayerNorm) {
        embed = n.get();
        break;
      }
    const Value* ids = embed ? source(embed->operand(0)) : nullptr;
    if (!ids || !ids->isInput || ids->type.rank() != 2)
      fail("the CUDA target needs a model whose embeddings (EmbedLayerNorm after `bertc optimize`'s fusions) "
           "read a [batch, seq] input of token ids");
    batchDim_ = ids->type.shape[0];
    seqDim_ = ids->type.shape[1];
    plan().maxBatch = bound(batchDim_, opts_.maxBatch, 64, "batch");
    const int64_t positions = embed->operand(3)->type.shape.at(0).constValue().value_or(0);
    plan().maxSeq = bound(seqDim_, opts_.maxSeq, positions, "seq");
    if (!embed->operand(7) && positions > 0 && plan().maxSeq > positions)
      fail(fmt::format("--max-seq {} is above the {} rows of the position table", plan().maxSeq, positions));
    if (plan().maxBatch * plan().maxSeq > (int64_t{1} << 24))
      fail(fmt::format("--max-batch {} x --max-seq {} is above the CUDA target's 16M tokens", plan().maxBatch,
                       plan().maxSeq));
  }

  int64_t bound(const ir::SymExpr& dim, int64_t requested, int64_t dflt, const char* what) const {
    if (auto c = dim.constValue()) {
      if (requested > *c) fail(fmt::format("--max-{} {} is above the model's fixed {} size {}", what, requested, what, *c));
      return requested > 0 ? requested : *c;
    }
    const int64_t v = requested > 0 ? requested : dflt;
    if (v < 1) fail(fmt::format("cannot tell the largest {} size; give --max-{}", what, what));
    return v;
  }

  bool isBS(const Value* v) const {
    return v->type.rank() == 2 && v->type.shape[0] == batchDim_ && v->type.shape[1] == seqDim_;
  }

  int64_t width(const Node* n, const Value* v) const {
    auto c = v->type.shape.empty() ? std::nullopt : v->type.shape.back().constValue();
    if (!c) {
      if (n) failAt(*n, fmt::format("'{}' has a symbolic last dim; the CUDA target needs constant widths", v->name));
      fail(fmt::format("'{}' has a symbolic last dim; the CUDA target needs constant widths", v->name));
    }
    return *c;
  }

  Layout layout(const Node& n, const Value* v) const {
    auto it = layouts_.find(v);
    if (it == layouts_.end())
      failAt(n, fmt::format("operand '{}' is a constant where the CUDA target needs an activation", v->name));
    return it->second;
  }

  Layout floatLayout(const Node& n, const Value* v) const {
    const Layout l = layout(n, v);
    if (l == Layout::Padded) failAt(n, "runs on integer [batch, seq] data; the CUDA target expects float activations");
    return l;
  }

  void requireConst(const Node& n, size_t i, const char* what) const {
    const Value* v = n.operand(i);
    if (v && !v->isConstant()) failAt(n, fmt::format("{} must be a constant for the CUDA target", what));
  }

  // ---- the mask and the order of the steps -------------------------------

  /// Every Attention must mask keys by the same [batch, seq] value: it
  /// decides the packing. MeanPool must pool by that mask (nonzero = a real token).
  void findMask() {
    bool seen = false;
    for (const auto& n : g_.nodes()) {
      if (n->op != OpKind::Attention) continue;
      const Value* m = n->operand(3);
      if (seen && m != mask_)
        failAt(*n, m ? "masks by a different value than the other Attention ops" : "has no mask while other Attention ops have one");
      if (m && !isBS(m)) failAt(*n, "the CUDA target needs a [batch, seq] key-padding mask");
      seen = true;
      mask_ = m;
    }
    for (const auto& n : g_.nodes()) {
      if (n->op != OpKind::MeanPool) continue;
      const Value* m = source(n->operand(1));
      if (!mask_ || source(mask_) != m || !m->isInput)
        failAt(*n, "pools by a mask other than the attention mask the tokens are packed by");
      if (!ir::isInteger(m->type.dtype) && m->type.dtype != DType::Bool)
        failAt(*n, "the CUDA target pools only by an integer or bool mask input");
    }
    if (mask_ && source(mask_)->isInput) plan().inputs.at(inputIndex(source(mask_))).isMask = true;
  }

  size_t inputIndex(const Value* in) const {
    const auto& ins = g_.inputs();
    return static_cast<size_t>(std::find(ins.begin(), ins.end(), in) - ins.begin());
  }

  /// Values of input `in` must lie in [0, limit): checked by the runtime on
  /// the host before a run (token ids against their table, a 0/1 mask).
  void limitInput(const Value* in, int64_t limit) {
    if (!in->isInput || limit <= 0) return;
    int64_t& l = plan().inputs.at(inputIndex(in)).idLimit;
    l = l == 0 ? limit : std::min(l, limit);
  }

  static bool isPaddedOp(OpKind op) { return elementwiseCode(op) >= 0 || op == OpKind::CumSum; }

  static bool isSupported(OpKind op) {
    switch (op) {
      case OpKind::Identity:
      case OpKind::EmbedLayerNorm:
      case OpKind::LayerNorm:
      case OpKind::SkipLayerNorm:
      case OpKind::BiasGelu:
      case OpKind::FastGelu:
      case OpKind::Gelu:
      case OpKind::MatMul:
      case OpKind::Linear:
      case OpKind::Attention:
      case OpKind::Gather:
      case OpKind::MeanPool: return true;
      default: return isPaddedOp(op);
    }
  }

  /// The steps' order: the [batch, seq] integer arithmetic first (it may
  /// compute the mask the packing needs), then the rest in graph order; and
  /// the last step that reads each buffer (outputs: never freed).
  void order() {
    std::set<const Value*> paddedValues(g_.inputs().begin(), g_.inputs().end());
    std::vector<const Node*> rest;
    for (const auto& n : g_.nodes()) {
      bool padded = isPaddedOp(n->op) || n->op == OpKind::Identity;
      for (const Value* v : n->operands) padded &= !v || v->isConstant() || paddedValues.count(v);
      if (padded) {
        for (const Value* r : n->results) paddedValues.insert(r);
        padded_.insert(n.get());
        order_.push_back(n.get());
      } else {
        rest.push_back(n.get());
      }
    }
    order_.insert(order_.end(), rest.begin(), rest.end());
    for (size_t i = 0; i < order_.size(); ++i) {
      const Node& n = *order_[i];
      if (n.op == OpKind::Identity && n.operand(0)) root_[n.result()] = rootOf(n.operand(0));
      for (const Value* v : n.operands)
        if (v && !v->isConstant()) lastUse_[rootOf(v)] = i;
    }
    // The pack step reads the mask between the padded ops and the rest: as
    // if the first step after it did.
    if (mask_) lastUse_[rootOf(mask_)] = std::max(lastUse_[rootOf(mask_)], padded_.size());
    for (const Value* out : g_.outputs()) lastUse_[rootOf(out)] = SIZE_MAX;
  }

  const Value* rootOf(const Value* v) const {
    auto it = root_.find(v);
    return it == root_.end() ? v : it->second;
  }

  // ---- memory ------------------------------------------------------------

  /// A buffer of `bytes` per slot for `v` (null: a temp), first fit among
  /// the live ones; its per-slot offset.
  int64_t allocate(const Value* v, int64_t bytes) {
    bytes = roundUp(std::max<int64_t>(bytes, 1), kSlotAlign);
    int64_t at = 0;
    for (bool moved = true; moved;) {
      moved = false;
      for (const auto& [off, live] : live_)
        if (at < off + live.bytes && off < at + bytes) {
          at = off + live.bytes;
          moved = true;
        }
    }
    live_[at] = Live{v, bytes};
    arenaPeak_ = std::max(arenaPeak_, at + bytes);
    if (v) where_[v] = arg(BERTC_CUDA_ARG_BUFFER, at);
    return at;
  }

  void release(int64_t off) { live_.erase(off); }

  /// Frees the buffers whose last reader is step i.
  void releaseAfter(size_t i) {
    for (auto it = live_.begin(); it != live_.end();) {
      const Value* v = it->second.value;
      auto last = v ? lastUse_.find(v) : lastUse_.end();
      if (v && (last == lastUse_.end() || last->second == i)) it = live_.erase(it);
      else ++it;
    }
  }

  int64_t storeSize() const { return set_.precision == Precision::Fp16 ? 2 : 4; }

  /// A buffer for a float activation result of node n in layout l.
  int64_t floatResult(const Node& n, Layout l) {
    layouts_[n.result()] = l;
    return allocate(n.result(), width(&n, n.result()) * storeSize());
  }

  bertc_cuda_arg at(const Node& n, const Value* v) const {
    auto it = where_.find(rootOf(v));
    if (it == where_.end()) failAt(n, fmt::format("operand '{}' has no place at run time", v->name));
    return it->second;
  }

  int64_t bufferOf(const Node& n, const Value* v) const {
    const bertc_cuda_arg a = at(n, v);
    if (a.kind != BERTC_CUDA_ARG_BUFFER) failAt(n, fmt::format("'{}' is not an activation buffer", v->name));
    return a.value;
  }

  // ---- weights -----------------------------------------------------------

  enum class Form { Raw, Store, StoreTransposed };

  /// Appends constant `v` to the weights, once per form: Raw bytes (the
  /// integer scalars), Store (the storage precision), StoreTransposed (a
  /// [K, N] GEMM weight as [N, K]).
  bertc_cuda_arg weight(const Node& n, const Value* v, Form form) {
    if (!v) return kNull;
    if (!v->isConstant()) failAt(n, fmt::format("'{}' must be a constant for the CUDA target", v->name));
    auto key = std::make_pair(v, form);
    if (auto it = weightAt_.find(key); it != weightAt_.end()) return arg(BERTC_CUDA_ARG_WEIGHT, it->second);
    const ir::Tensor& t = *v->constant;
    std::string bytes;
    if (form == Form::Raw) {
      bytes.assign(reinterpret_cast<const char*>(t.data()), t.nbytes());
    } else {
      if (!ir::isFloat(t.dtype())) failAt(n, fmt::format("'{}' is not a float tensor", v->name));
      const int64_t count = t.numel();
      int64_t rows = 1, cols = count;
      if (form == Form::StoreTransposed) {
        if (t.shape().size() != 2) failAt(n, "the CUDA target needs a 2-D weight");
        rows = t.shape()[0];
        cols = t.shape()[1];
      }
      bytes.resize(static_cast<size_t>(count * storeSize()));
      for (int64_t i = 0; i < count; ++i) {
        // Element i of the tensor goes to slot j: transposed, (r, c) -> (c, r).
        const int64_t j = form == Form::StoreTransposed ? (i % cols) * rows + i / cols : i;
        const float f = static_cast<float>(t.getDouble(static_cast<size_t>(i)));
        if (set_.precision == Precision::Fp16) {
          const uint16_t h = ir::floatToHalf(f);
          std::memcpy(bytes.data() + j * 2, &h, 2);
        } else {
          std::memcpy(bytes.data() + j * 4, &f, 4);
        }
      }
    }
    std::string& w = plan().weights;
    w.resize(static_cast<size_t>(roundUp(static_cast<int64_t>(w.size()), kWeightAlign)), '\0');
    const int64_t off = static_cast<int64_t>(w.size());
    w += bytes;
    weightAt_[key] = off;
    return arg(BERTC_CUDA_ARG_WEIGHT, off);
  }

  // ---- kernels and steps -------------------------------------------------

  /// Registers the entry `entry` = fn<targs...>(family args) unless an
  /// identical one exists (the same name with other constants gets _2,
  /// _3...); its index in set_.kernels.
  int add(const std::string& family, std::string entry, const std::string& fn, const std::vector<int64_t>& targs,
          int threads, const Node* node, const std::map<std::string, std::string>& consts = {}) {
    std::string call = fn;
    if (!targs.empty()) {
      call += "<";
      for (size_t i = 0; i < targs.size(); ++i) call += (i ? ", " : "") + std::to_string(targs[i]);
      call += ">";
    }
    std::string args = families().at(family).args;
    for (const auto& [k, v] : consts) {
      const std::string key = "{" + k + "}";
      for (size_t at; (at = args.find(key)) != std::string::npos;) args.replace(at, key.size(), v);
    }
    call += "(" + args + ")";
    const std::string base = entry;
    for (int suffix = 2;; ++suffix) {
      auto it = std::find_if(set_.kernels.begin(), set_.kernels.end(), [&](const KernelSpec& k) { return k.entry == entry; });
      if (it == set_.kernels.end()) break;
      if (it->call == call) {
        if (node) it->nodes.push_back(node);
        return static_cast<int>(it - set_.kernels.begin());
      }
      entry = fmt::format("{}_{}", base, suffix);
    }
    KernelSpec k{entry, family, call, threads, {}};
    if (node) k.nodes.push_back(node);
    set_.kernels.push_back(std::move(k));
    return static_cast<int>(set_.kernels.size() - 1);
  }

  /// A launch of kernel k; the arguments must match its family's parameters
  /// in number and kind (checked here, since nothing else can check them
  /// without a GPU).
  void launch(int k, int grid, int gridArg, std::vector<bertc_cuda_arg> args) {
    const KernelSpec& spec = set_.kernels.at(static_cast<size_t>(k));
    const std::vector<ParamType> types = paramTypes(families().at(spec.family).params);
    BERTC_INTERNAL_ASSERT(types.size() == args.size(),
                          fmt::format("{}: {} arguments for {} parameters", spec.entry, args.size(), types.size()));
    for (size_t i = 0; i < args.size(); ++i)
      BERTC_INTERNAL_ASSERT(argType(args[i].kind) == types[i],
                            fmt::format("{}: argument {} has the wrong kind ({})", spec.entry, i, args[i].kind));
    bertc_cuda_step s{};
    s.kind = BERTC_CUDA_STEP_KERNEL;
    s.kernel = k;
    s.grid = grid;
    s.grid_arg = gridArg;
    s.threads = spec.threads;
    s.num_args = static_cast<int32_t>(args.size());
    s.first_arg = static_cast<int64_t>(plan().args.size());
    plan().args.insert(plan().args.end(), args.begin(), args.end());
    plan().steps.push_back(s);
  }

  /// D = A W (+ bias) (ReLU) over the rows of A's layout.
  void gemm(const Node& n, Layout l, int64_t a, int64_t k, const Value* w, const Value* bias, bool relu, int64_t d) {
    const int64_t cols = w->type.shape.at(1).constValue().value_or(0);
    if (w->type.rank() != 2 || w->type.shape.at(0).constValue().value_or(-1) != k)
      failAt(n, "the CUDA target needs a 2-D [K, N] weight matching the input width");
    bertc_cuda_step s{};
    s.kind = BERTC_CUDA_STEP_GEMM;
    s.grid = l == Layout::Batch ? BERTC_CUDA_GRID_BATCH : BERTC_CUDA_GRID_ROWS;
    s.epilogue = bias ? (relu ? BERTC_CUDA_EPI_RELU_BIAS : BERTC_CUDA_EPI_BIAS)
                      : (relu ? BERTC_CUDA_EPI_RELU : BERTC_CUDA_EPI_NONE);
    s.n = cols;
    s.k = k;
    s.lda = k;
    s.ldd = cols;
    s.a = a;
    s.d = d;
    s.w = weight(n, w, Form::StoreTransposed).value;
    s.bias = bias ? weight(n, bias, Form::Store).value : -1;
    if (bias && bias->constant->numel() != cols) failAt(n, "the bias is not one value per output column");
    plan().steps.push_back(s);
  }

  /// Where row kernels on layout l read their row count, and their grid.
  static bertc_cuda_arg rowsOf(Layout l) {
    return arg(l == Layout::Batch ? BERTC_CUDA_ARG_BATCH_ROWS : BERTC_CUDA_ARG_NUM_ROWS);
  }
  static int gridOf(Layout l) { return l == Layout::Batch ? BERTC_CUDA_GRID_BATCH : BERTC_CUDA_GRID_ROWS; }

  int rowKernel(const std::string& family, const std::string& name, const Node& n, int64_t width,
                const std::map<std::string, std::string>& consts = {}, std::vector<int64_t> extra = {}) {
    const int threads = rowThreads(width);
    std::vector<int64_t> targs = {width};
    targs.insert(targs.end(), extra.begin(), extra.end());
    targs.push_back(threads);
    return add(family, name, "bertc::" + family, targs, threads, &n, consts);
  }

  /// y = act(x + bias) on rows of width w (bias may be null; y may be x).
  void biasAct(const Node& n, Layout l, int64_t x, const Value* bias, int64_t y, int64_t w, const char* act, int code) {
    const int k = rowKernel("bias_act", fmt::format("bertc_bias_{}_n{}", act, w), n, w, {}, {code});
    launch(k, gridOf(l), 0,
           {arg(BERTC_CUDA_ARG_BUFFER, x), i64(w), weight(n, bias, Form::Store), arg(BERTC_CUDA_ARG_BUFFER, y), i64(w),
            rowsOf(l)});
  }

  void pack() {
    const int k = add("pack", "bertc_pack", "bertc::pack", {}, 1024, nullptr);
    bertc_cuda_arg m = kNull;
    int dtype = 0;
    if (mask_) {
      m = where_.count(rootOf(mask_)) ? where_.at(rootOf(mask_)) : kNull;
      if (m.kind == BERTC_CUDA_ARG_NULL) fail(fmt::format("the attention mask '{}' is not computed from the inputs", mask_->name));
      dtype = static_cast<int>(mask_->type.dtype);
    }
    launch(k, BERTC_CUDA_GRID_ONE, 0,
           {m, i32(dtype), arg(BERTC_CUDA_ARG_BATCH), arg(BERTC_CUDA_ARG_SEQ), arg(BERTC_CUDA_ARG_TOK),
            arg(BERTC_CUDA_ARG_ROW_OF), arg(BERTC_CUDA_ARG_SEQ_START)});
    // Nothing is released here: the mask's last use counts as the first
    // step after the packing (order()), so it is freed with that step's.
  }

  void step(size_t i) {
    const Node& n = *order_[i];
    bool anyActivation = false;
    for (const Value* v : n.operands) anyActivation |= v && !v->isConstant();
    if (!anyActivation) failAt(n, "has only constant operands (it should have been folded)");
    if (padded_.count(&n)) paddedStep(n);
    else floatStep(n);
    for (int64_t t : temps_) release(t);
    temps_.clear();
    releaseAfter(i);
  }

  int64_t temp(int64_t bytes) {
    const int64_t off = allocate(nullptr, bytes);
    temps_.push_back(off);
    return off;
  }

  /// Integer [batch, seq] arithmetic on the caller's layout.
  void paddedStep(const Node& n) {
    if (n.op == OpKind::Identity) {
      layouts_[n.result()] = Layout::Padded;
      return;
    }
    for (const Value* v : n.operands)
      if (v && v->isConstant() && v->constant->numel() != 1 && n.op != OpKind::CumSum)
        failAt(n, "the CUDA target supports only scalar constants in [batch, seq] arithmetic");
    if (!isBS(n.result())) failAt(n, "the CUDA target lowers integer arithmetic only on [batch, seq] tensors");
    const Value* out = n.result();
    layouts_[out] = Layout::Padded;
    const int64_t off = allocate(out, 8);
    const int dt = static_cast<int>(out->type.dtype);
    if (!kernelDtype(out->type.dtype))
      failAt(n, fmt::format("produces {} on [batch, seq], which the CUDA target does not keep",
                            ir::dtypeName(out->type.dtype)));
    if (n.op == OpKind::CumSum) {
      const Value* axis = n.operand(1);
      const int64_t a = axis && axis->isConstant() ? axis->constant->getInt(0) : -99;
      if (a != 1 && a != -1) failAt(n, "the CUDA target runs CumSum only along the sequence axis");
      if (n.operand(0)->type.dtype != out->type.dtype) failAt(n, "CumSum's input and output types differ");
      const int k = add("cumsum", "bertc_cumsum", "bertc::cumsum", {}, 128, &n);
      launch(k, BERTC_CUDA_GRID_ELEMENTS, 0,
             {arg(BERTC_CUDA_ARG_BUFFER, off), at(n, n.operand(0)), i32(dt), arg(BERTC_CUDA_ARG_BATCH_I64),
              arg(BERTC_CUDA_ARG_SEQ_I64), i32(n.getInt("exclusive", 0)), i32(n.getInt("reverse", 0))});
      return;
    }
    const int k = add("elementwise", "bertc_elementwise", "bertc::elementwise", {}, 256, &n);
    std::vector<bertc_cuda_arg> args = {i32(elementwiseCode(n.op)), arg(BERTC_CUDA_ARG_BUFFER, off), i32(dt),
                                        arg(BERTC_CUDA_ARG_SLOTS)};
    for (size_t j = 0; j < 3; ++j) {
      const Value* v = n.operand(j);
      if (!v) {
        args.insert(args.end(), {kNull, i32(0), i64(0)});
        continue;
      }
      const bool c = v->isConstant();
      args.insert(args.end(), {c ? weight(n, v, Form::Raw) : at(n, v), i32(static_cast<int>(v->type.dtype)),
                               c ? i64(1) : arg(BERTC_CUDA_ARG_SLOTS)});
    }
    launch(k, BERTC_CUDA_GRID_ELEMENTS, 0, std::move(args));
  }

  void floatStep(const Node& n) {
    switch (n.op) {
      case OpKind::Identity:
        layouts_[n.result()] = layout(n, n.operand(0));
        break;
      case OpKind::EmbedLayerNorm: embed(n); break;
      case OpKind::LayerNorm:
      case OpKind::SkipLayerNorm: layerNorm(n); break;
      case OpKind::BiasGelu:
      case OpKind::FastGelu:
      case OpKind::Gelu: {
        const Layout l = floatLayout(n, n.operand(0));
        requireConst(n, 1, "the bias");
        const bool exact =
            n.op == OpKind::BiasGelu || (n.op == OpKind::Gelu && n.getString("approximate", "none") != "tanh");
        const int64_t w = width(&n, n.result());
        const int64_t y = floatResult(n, l);
        biasAct(n, l, bufferOf(n, n.operand(0)), n.operand(1), y, w, exact ? "gelu" : "gelu_tanh", exact ? 1 : 2);
        break;
      }
      case OpKind::MatMul:
      case OpKind::Linear: {
        const Layout l = floatLayout(n, n.operand(0));
        requireConst(n, 1, "the weight (operand 1)");
        requireConst(n, 2, "the bias (operand 2)");
        // cuBLASLt's GELU epilogue is the tanh form: exact GELU and tanh run
        // as kernels after the GEMM, in place.
        const std::string act = n.op == OpKind::Linear ? n.getString("activation", "none") : "none";
        if (act != "none" && act != "relu" && act != "gelu" && act != "tanh")
          failAt(n, "activation '" + act + "' is not supported by the CUDA target");
        const int64_t k = width(&n, n.operand(0));
        const int64_t d = floatResult(n, l);
        gemm(n, l, bufferOf(n, n.operand(0)), k, n.operand(1), n.operand(2), act == "relu", d);
        const int64_t w = width(&n, n.result());
        if (act == "gelu") biasAct(n, l, d, nullptr, d, w, "gelu", 1);
        else if (act == "tanh") biasAct(n, l, d, nullptr, d, w, "tanh", 3);
        break;
      }
      case OpKind::Attention: attention(n); break;
      case OpKind::Gather: gatherToken(n); break;
      case OpKind::MeanPool: {
        if (layout(n, n.operand(0)) != Layout::Token) failAt(n, "the CUDA target pools only token activations");
        const int64_t w = width(&n, n.result());
        const int k = add("mean_pool", fmt::format("bertc_mean_pool_n{}", w), "bertc::mean_pool", {w, 128}, 128, &n,
                          {{"eps", floatLiteral(n.getFloat("epsilon", 1e-9))}});
        const int64_t y = floatResult(n, Layout::Batch);
        launch(k, BERTC_CUDA_GRID_COLUMNS, static_cast<int>(w),
               {arg(BERTC_CUDA_ARG_BUFFER, bufferOf(n, n.operand(0))), arg(BERTC_CUDA_ARG_SEQ_START),
                arg(BERTC_CUDA_ARG_BUFFER, y)});
        break;
      }
      case OpKind::Add: addRows(n); break;
      default:
        if (isPaddedOp(n.op))
          failAt(n, "mixes float activations into [batch, seq] arithmetic, which the CUDA target does not lower");
        failAt(n, "is not supported by the CUDA target");
    }
  }

  void embed(const Node& n) {
    for (size_t i : {2, 3, 4, 5, 6}) requireConst(n, i, "the embedding tables, gamma and beta");
    if (!n.operand(5) || !n.operand(6)) failAt(n, "the CUDA target needs EmbedLayerNorm's gamma and beta");
    auto rows = [](const Value* table) { return table->type.shape.at(0).constValue().value_or(0); };
    const int64_t h = width(&n, n.result());
    for (size_t i : {2, 3, 4})
      if (n.operand(i) && width(&n, n.operand(i)) != h) failAt(n, "an embedding table is not as wide as the output");
    limitInput(source(n.operand(0)), rows(n.operand(2)));
    if (n.operand(1) && n.operand(4)) limitInput(source(n.operand(1)), rows(n.operand(4)));

    // The ids of the packed tokens, as int64 [T].
    const int gather = add("gather_ids", "bertc_gather_ids", "bertc::gather_ids", {}, 256, &n);
    auto gatherIds = [&](bertc_cuda_arg src, int dtype, int mode) {
      const int64_t dst = temp(8);
      launch(gather, BERTC_CUDA_GRID_ELEMENTS, 0,
             {src, i32(dtype), i32(mode), arg(BERTC_CUDA_ARG_TOK), arg(BERTC_CUDA_ARG_NUM_ROWS),
              arg(BERTC_CUDA_ARG_SEQ), arg(BERTC_CUDA_ARG_BUFFER, dst)});
      return arg(BERTC_CUDA_ARG_BUFFER, dst);
    };
    auto integerBS = [&](const Value* v, const char* what) {
      if (v->isConstant() || layout(n, v) != Layout::Padded || !ir::isInteger(v->type.dtype))
        failAt(n, fmt::format("the CUDA target needs the {} as an integer [batch, seq] tensor", what));
      return gatherIds(at(n, v), static_cast<int>(v->type.dtype), 0);  // IDS_FULL
    };
    const bertc_cuda_arg ids = integerBS(n.operand(0), "token ids");
    const bertc_cuda_arg seg = n.operand(1) && n.operand(4) ? integerBS(n.operand(1), "segment ids") : kNull;
    bertc_cuda_arg pos;
    if (const Value* p = n.operand(7)) {
      if (p->isConstant()) {
        // A constant row of positions every sequence shares (IDS_ROW).
        if (p->constant->numel() < plan().maxSeq)
          failAt(n, "the constant position ids are shorter than the longest sequence");
        pos = gatherIds(weight(n, p, Form::Raw), static_cast<int>(p->type.dtype), 1);
      } else if (isBS(p)) {
        pos = integerBS(p, "position ids");
      } else {
        failAt(n, "the CUDA target needs position ids of shape [batch, seq] or a constant row");
      }
    } else {
      pos = gatherIds(kNull, 0, 2);  // IDS_POSITIONS: s itself
    }
    const int k = rowKernel("embed_layernorm", fmt::format("bertc_embed_layernorm_h{}", h), n, h,
                            {{"eps", floatLiteral(n.getFloat("epsilon", 1e-12))}});
    const int64_t y = floatResult(n, Layout::Token);
    const Value* segTable = n.operand(1) ? n.operand(4) : nullptr;
    launch(k, BERTC_CUDA_GRID_ROWS, 0,
           {ids, seg, pos, weight(n, n.operand(2), Form::Store), i64(rows(n.operand(2))),
            weight(n, n.operand(3), Form::Store), i64(rows(n.operand(3))), weight(n, segTable, Form::Store),
            i64(segTable ? rows(segTable) : 0), weight(n, n.operand(5), Form::Store),
            weight(n, n.operand(6), Form::Store), arg(BERTC_CUDA_ARG_BUFFER, y), arg(BERTC_CUDA_ARG_NUM_ROWS),
            arg(BERTC_CUDA_ARG_BAD_TOKEN)});
  }

  void layerNorm(const Node& n) {
    const bool skip = n.op == OpKind::SkipLayerNorm;
    const Layout l = floatLayout(n, n.operand(0));
    for (size_t i = skip ? 2 : 1; i < n.operands.size(); ++i) requireConst(n, i, "gamma, beta and bias");
    const int64_t h = width(&n, n.result());
    const int64_t rank = static_cast<int64_t>(n.result()->type.rank());
    if (!skip && n.getInt("axis", -1) != -1 && n.getInt("axis", -1) != rank - 1)
      failAt(n, "the CUDA target normalises only over the last axis");
    if (skip && floatLayout(n, n.operand(1)) != l)
      failAt(n, "adds a skip input of another layout, which the CUDA target does not lower");
    const Value* gamma = n.operand(skip ? 2 : 1);
    const Value* beta = n.operand(skip ? 3 : 2);
    const Value* bias = skip ? n.operand(4) : nullptr;
    if (!gamma) failAt(n, "the CUDA target needs LayerNorm's scale");
    for (const Value* v : {gamma, beta, bias})
      if (v && v->constant->numel() != h) failAt(n, "the CUDA target needs gamma, beta and bias of one value a column");
    if (width(&n, n.operand(0)) != h || (skip && width(&n, n.operand(1)) != h))
      failAt(n, "the CUDA target needs inputs as wide as the output (no broadcasting)");
    const int k = rowKernel("layernorm", fmt::format("bertc_layernorm_h{}", h), n, h,
                            {{"eps", floatLiteral(n.getFloat("epsilon", 1e-5))}});
    const int64_t y = floatResult(n, l);
    launch(k, gridOf(l), 0,
           {arg(BERTC_CUDA_ARG_BUFFER, bufferOf(n, n.operand(0))), i64(h),
            skip ? arg(BERTC_CUDA_ARG_BUFFER, bufferOf(n, n.operand(1))) : kNull, i64(skip ? h : 0),
            weight(n, bias, Form::Store), weight(n, gamma, Form::Store), weight(n, beta, Form::Store),
            arg(BERTC_CUDA_ARG_BUFFER, y), i64(h), rowsOf(l)});
  }

  void attention(const Node& n) {
    const Layout l = floatLayout(n, n.operand(0));
    if (l != Layout::Token) failAt(n, "the CUDA target runs attention only over token activations");
    for (size_t i : {1, 2, 4}) requireConst(n, i, "the Attention weights and bias");
    const int64_t hin = width(&n, n.operand(0));
    const int64_t h3 = width(&n, n.operand(1));
    const int64_t heads = n.getInt("num_heads", 1);
    if (heads < 1 || h3 % 3 != 0 || (h3 / 3) % heads != 0)
      failAt(n, fmt::format("hidden size {} is not num_heads {} times a head size", h3 / 3, heads));
    if (!n.operand(2)) failAt(n, "the CUDA target needs Attention's QKV bias");
    const int64_t hidden = h3 / 3, d = hidden / heads;
    if (d > 128) failAt(n, fmt::format("head size {} is above the CUDA target's 128", d));
    double scale = n.getFloat("scale", 0.0);
    if (scale == 0.0) scale = 1.0 / std::sqrt(static_cast<double>(d));
    const int k = add("attention", fmt::format("bertc_attention_d{}_h{}", d, heads), "bertc::attention", {d, heads},
                      128, &n, {{"scale", floatLiteral(scale)}});
    const int64_t qkv = temp(h3 * storeSize());
    gemm(n, l, bufferOf(n, n.operand(0)), hin, n.operand(1), n.operand(2), false, qkv);
    const Value* wout = n.operand(4);
    const int64_t context = wout ? temp(hidden * storeSize()) : floatResult(n, l);
    launch(k, BERTC_CUDA_GRID_ATTENTION, static_cast<int>(heads),
           {arg(BERTC_CUDA_ARG_BUFFER, qkv), i64(h3), arg(BERTC_CUDA_ARG_BUFFER, context), i64(hidden),
            arg(BERTC_CUDA_ARG_SEQ_START)});
    if (wout) gemm(n, l, context, hidden, wout, nullptr, false, floatResult(n, l));
  }

  void gatherToken(const Node& n) {
    if (layout(n, n.operand(0)) != Layout::Token || n.getInt("axis", 0) != 1 || !n.operand(1)->isConstant() ||
        n.operand(1)->constant->numel() != 1 || n.operand(1)->type.rank() != 0)
      failAt(n, "the CUDA target supports Gather only of one token per sequence (axis 1, a constant scalar index)");
    const int64_t index = n.operand(1)->constant->getInt(0);
    if (index < 0) failAt(n, "the CUDA target gathers only from a non-negative position");
    if (index >= plan().maxSeq) failAt(n, fmt::format("gathers position {} of sequences of at most {}", index, plan().maxSeq));
    plan().minSeq = std::max(plan().minSeq, index + 1);
    const int64_t w = width(&n, n.result());
    const int k = add("gather_token", fmt::format("bertc_gather_token_n{}", w), "bertc::gather_token",
                      {w, rowThreads(w)}, rowThreads(w), &n);
    const int64_t y = floatResult(n, Layout::Batch);
    launch(k, BERTC_CUDA_GRID_BATCH, 0,
           {arg(BERTC_CUDA_ARG_BUFFER, bufferOf(n, n.operand(0))), arg(BERTC_CUDA_ARG_ROW_OF), arg(BERTC_CUDA_ARG_SEQ),
            i32(index), arg(BERTC_CUDA_ARG_BUFFER, y)});
  }

  /// Float Add of two activations of one layout, or of an activation and a
  /// constant row broadcast over it.
  void addRows(const Node& n) {
    const Value* a = n.operand(0);
    const Value* b = n.operand(1);
    if (a->isConstant()) std::swap(a, b);
    const Layout l = floatLayout(n, a);
    const int64_t w = width(&n, n.result());
    if (width(&n, a) != w) failAt(n, "the CUDA target adds only rows of the output's width");
    bertc_cuda_arg z;
    int64_t ldz = w;
    if (b->isConstant()) {
      if (b->constant->numel() != w) failAt(n, "the CUDA target adds only a constant of one value a column");
      z = weight(n, b, Form::Store);
      ldz = 0;
    } else {
      if (floatLayout(n, b) != l || width(&n, b) != w)
        failAt(n, "adds activations of different layouts or widths, which the CUDA target does not lower");
      z = arg(BERTC_CUDA_ARG_BUFFER, bufferOf(n, b));
    }
    const int k = rowKernel("add_rows", fmt::format("bertc_add_n{}", w), n, w);
    const int64_t y = floatResult(n, l);
    launch(k, gridOf(l), 0,
           {arg(BERTC_CUDA_ARG_BUFFER, bufferOf(n, a)), i64(w), z, i64(ldz), arg(BERTC_CUDA_ARG_BUFFER, y), i64(w),
            rowsOf(l)});
  }

  /// Output o, as float32 in the caller's shape.
  void output(size_t o) {
    const Value* out = g_.outputs()[o];
    auto it = layouts_.find(rootOf(out));
    if (it == layouts_.end()) {
      it = layouts_.find(out);
      if (it == layouts_.end()) fail(fmt::format("output '{}' is a constant; nothing to compile", out->name));
    }
    const bertc_cuda_arg src = where_.at(rootOf(out));
    const auto dst = arg(BERTC_CUDA_ARG_OUTPUT, static_cast<int64_t>(o));
    if (it->second == Layout::Padded) {
      // [batch, seq] data (an input passed through, or computed from one):
      // copied in its own dtype.
      const int dt = static_cast<int>(out->type.dtype);
      if (!kernelDtype(out->type.dtype))
        fail(fmt::format("output '{}' is {}, which the CUDA target does not return", out->name,
                         ir::dtypeName(out->type.dtype)));
      const int k = add("elementwise", "bertc_elementwise", "bertc::elementwise", {}, 256, nullptr);
      launch(k, BERTC_CUDA_GRID_ELEMENTS, 0,
             {i32(elementwiseCode(OpKind::Cast)), dst, i32(dt), arg(BERTC_CUDA_ARG_SLOTS), src,
              i32(static_cast<int>(rootOf(out)->type.dtype)), arg(BERTC_CUDA_ARG_SLOTS), kNull, i32(0), i64(0), kNull,
              i32(0), i64(0)});
      plan().outputs.push_back({out->name, BERTC_CUDA_OUT_PADDED, dt, 0});
      return;
    }
    const int64_t n = width(nullptr, out);
    if (it->second == Layout::Token) {
      const int k = add("scatter_rows", fmt::format("bertc_scatter_rows_n{}", n), "bertc::scatter_rows",
                        {n, rowThreads(n)}, rowThreads(n), nullptr);
      launch(k, BERTC_CUDA_GRID_SLOTS, 0, {src, arg(BERTC_CUDA_ARG_ROW_OF), dst});
      plan().outputs.push_back({out->name, BERTC_CUDA_OUT_TOKENS, 1, n});
    } else {
      const int k = add("to_float", fmt::format("bertc_to_float_n{}", n), "bertc::to_float", {n, rowThreads(n)},
                        rowThreads(n), nullptr);
      launch(k, BERTC_CUDA_GRID_BATCH, 0, {src, dst});
      plan().outputs.push_back({out->name, BERTC_CUDA_OUT_SEQUENCES, 1, n});
    }
  }

  std::string program() const {
    // No file name or date: models of the same shapes give the same text,
    // which NVRTC results can be cached by.
    std::string s = fmt::format(
        "// Generated by bertc (codegen_cuda/generate.cpp), target cuda-{}: do not edit.\n"
        "#define BERTC_FP16 {}\n\n",
        precisionName(set_.precision), set_.precision == Precision::Fp16 ? 1 : 0);
    s += kernelLibrarySource();
    s += "\n// ---- entry points: the kernels above with this model's constants ----\n\n";
    s += "using bertc::store_t;\n\n";
    for (const KernelSpec& k : set_.kernels)
      s += fmt::format("extern \"C\" __global__ void __launch_bounds__({}) {}({}) {{\n  {};\n}}\n\n", k.threads,
                       k.entry, families().at(k.family).params, k.call);
    return s;
  }

  struct Live {
    const Value* value;  // null: a step's temp
    int64_t bytes;
  };

  const ir::Graph& g_;
  std::string file_;
  GenerateOptions opts_;
  KernelSet set_;
  ir::SymExpr batchDim_, seqDim_;
  std::map<const Value*, Layout> layouts_;
  std::map<const Value*, bertc_cuda_arg> where_;
  std::map<const Value*, const Value*> root_;
  std::map<const Value*, size_t> lastUse_;
  std::map<std::pair<const Value*, Form>, int64_t> weightAt_;
  std::map<int64_t, Live> live_;
  std::vector<int64_t> temps_;
  int64_t arenaPeak_ = 0;
  std::vector<const Node*> order_;
  std::set<const Node*> padded_;
  const Value* mask_ = nullptr;
};

}  // namespace

const char* precisionName(Precision p) { return p == Precision::Fp16 ? "fp16" : "fp32"; }

const std::string& kernelLibrarySource() {
  static const std::string text = [] {
    std::string all;
    std::string_view name;
    for (size_t i = 0;; ++i) {
      std::string_view body = embeddedKernelFile(i, &name);
      if (body.empty()) break;
      all += fmt::format("// ---- kernels/{} ----\n", name);
      // The files include each other for editors and nvcc; here they are
      // already in order.
      for (size_t at = 0; at < body.size();) {
        size_t end = body.find('\n', at);
        if (end == std::string_view::npos) end = body.size();
        std::string_view line = body.substr(at, end - at);
        if (!line.starts_with("#include \"") && line != "#pragma once") {
          all += line;
          all += '\n';
        }
        at = end + 1;
      }
    }
    return all;
  }();
  return text;
}

Result<KernelSet> generateKernels(const ir::Graph& g, Precision precision, const std::string& file,
                                  const GenerateOptions& opts) {
  return catchUserError([&]() -> Result<KernelSet> { return Generator(g, precision, file, opts).run(); });
}

}  // namespace bertc::cuda
