// generateKernels: which specialised kernels a fused graph needs, and the
// CUDA C program that defines them.
#include "codegen_cuda/generate.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <map>

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

class Generator {
 public:
  Generator(const ir::Graph& g, Precision p, const std::string& file) : g_(g), file_(file) { set_.precision = p; }

  KernelSet run() {
    for (const Value* in : g_.inputs()) {
      if (in->type.rank() != 2) fail(fmt::format("input '{}' is not [batch, seq] like the token ids; the CUDA target takes only [batch, seq] inputs", in->name));
      layouts_[in] = Layout::Padded;
    }
    add("pack", "bertc_pack", "bertc::pack", {}, 1024, nullptr);
    for (const auto& n : g_.nodes()) visit(*n);
    if (g_.outputs().empty()) fail("the model has no outputs");
    for (const Value* out : g_.outputs()) {
      auto it = layouts_.find(out);
      if (it == layouts_.end()) fail(fmt::format("output '{}' is a constant; nothing to compile", out->name));
      const int64_t n = it->second == Layout::Padded ? 1 : width(nullptr, out);
      if (it->second == Layout::Token)
        add("scatter_rows", fmt::format("bertc_scatter_rows_n{}", n), "bertc::scatter_rows", {n, rowThreads(n)},
            rowThreads(n), nullptr);
      else if (it->second == Layout::Batch)
        add("to_float", fmt::format("bertc_to_float_n{}", n), "bertc::to_float", {n, rowThreads(n)}, rowThreads(n),
            nullptr);
      // Padded outputs (inputs passed through) are copies, no kernel.
    }
    set_.source = program();
    return std::move(set_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw UserError(fmt::format("{}: {}", file_, what)); }
  [[noreturn]] void failAt(const Node& n, const std::string& what) const {
    throw UserError(fmt::format("{}: {}: {}", file_, n.describe(), what));
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

  /// Registers the entry `entry` = fn<targs...>(family args) unless an
  /// identical one exists; the same name with other constants gets _2, _3...
  void add(const std::string& family, std::string entry, const std::string& fn, const std::vector<int64_t>& targs,
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
        return;
      }
      entry = fmt::format("{}_{}", base, suffix);
    }
    KernelSpec k{entry, family, call, threads, {}};
    if (node) k.nodes.push_back(node);
    set_.kernels.push_back(std::move(k));
  }

  void rowKernel(const std::string& family, const std::string& name, const Node& n, int64_t width,
                 const std::map<std::string, std::string>& consts = {}, std::vector<int64_t> extra = {}) {
    const int threads = rowThreads(width);
    std::vector<int64_t> targs = {width};
    targs.insert(targs.end(), extra.begin(), extra.end());
    targs.push_back(threads);
    add(family, name, "bertc::" + family, targs, threads, &n, consts);
  }

  void biasAct(const Node& n, const char* act, int code) {
    const int64_t w = width(&n, n.result());
    rowKernel("bias_act", fmt::format("bertc_bias_{}_n{}", act, w), n, w, {}, {code});
  }

  void visit(const Node& n) {
    bool anyActivation = false;
    for (const Value* v : n.operands) anyActivation |= v && !v->isConstant();
    if (!anyActivation) failAt(n, "has only constant operands (it should have been folded)");
    Layout l = Layout::Padded;
    switch (n.op) {
      case OpKind::Identity:
        l = layout(n, n.operand(0));
        break;
      case OpKind::EmbedLayerNorm: {
        for (size_t i : {2, 3, 4, 5, 6}) requireConst(n, i, "the embedding tables, gamma and beta");
        if (!n.operand(5) || !n.operand(6)) failAt(n, "the CUDA target needs EmbedLayerNorm's gamma and beta");
        const int64_t h = width(&n, n.result());
        add("gather_ids", "bertc_gather_ids", "bertc::gather_ids", {}, 256, &n);
        rowKernel("embed_layernorm", fmt::format("bertc_embed_layernorm_h{}", h), n, h,
                  {{"eps", floatLiteral(n.getFloat("epsilon", 1e-12))}});
        l = Layout::Token;
        break;
      }
      case OpKind::LayerNorm:
      case OpKind::SkipLayerNorm: {
        l = floatLayout(n, n.operand(0));
        for (size_t i = n.op == OpKind::LayerNorm ? 1 : 2; i < n.operands.size(); ++i)
          requireConst(n, i, "gamma, beta and bias");
        const int64_t h = width(&n, n.result());
        const int64_t rank = static_cast<int64_t>(n.result()->type.rank());
        if (n.op == OpKind::LayerNorm && n.getInt("axis", -1) != -1 && n.getInt("axis", -1) != rank - 1)
          failAt(n, "the CUDA target normalises only over the last axis");
        if (n.op == OpKind::SkipLayerNorm && floatLayout(n, n.operand(1)) != l)
          failAt(n, "adds a skip input of another layout, which the CUDA target does not lower");
        if (!n.operand(n.op == OpKind::LayerNorm ? 1 : 2)) failAt(n, "the CUDA target needs LayerNorm's scale");
        rowKernel("layernorm", fmt::format("bertc_layernorm_h{}", h), n, h,
                  {{"eps", floatLiteral(n.getFloat("epsilon", 1e-5))}});
        break;
      }
      case OpKind::BiasGelu:
      case OpKind::FastGelu:
      case OpKind::Gelu:
        l = floatLayout(n, n.operand(0));
        requireConst(n, 1, "the bias");
        if (n.op == OpKind::BiasGelu || (n.op == OpKind::Gelu && n.getString("approximate", "none") != "tanh"))
          biasAct(n, "gelu", 1);
        else
          biasAct(n, "gelu_tanh", 2);
        break;
      case OpKind::MatMul:
      case OpKind::Linear: {
        l = floatLayout(n, n.operand(0));
        requireConst(n, 1, "the weight (operand 1)");
        requireConst(n, 2, "the bias (operand 2)");
        if (n.operand(1)->type.rank() != 2) failAt(n, "the CUDA target needs a 2-D weight");
        // A cuBLASLt GEMM; bias and ReLU are its epilogues. Its GELU is the
        // tanh form, so exact GELU and tanh run as kernels after it.
        const std::string act = n.op == OpKind::Linear ? n.getString("activation", "none") : "none";
        if (act == "gelu") biasAct(n, "gelu", 1);
        else if (act == "tanh") biasAct(n, "tanh", 3);
        else if (act != "none" && act != "relu")
          failAt(n, "activation '" + act + "' is not supported by the CUDA target");
        break;
      }
      case OpKind::Attention: {
        l = floatLayout(n, n.operand(0));
        for (size_t i : {1, 2, 4}) requireConst(n, i, "the Attention weights and bias");
        checkMask(n);
        const int64_t h3 = width(&n, n.operand(1));
        const int64_t heads = n.getInt("num_heads", 1);
        if (heads < 1 || h3 % 3 != 0 || (h3 / 3) % heads != 0)
          failAt(n, fmt::format("hidden size {} is not num_heads {} times a head size", h3 / 3, heads));
        const int64_t d = h3 / 3 / heads;
        if (d > 128) failAt(n, fmt::format("head size {} is above the CUDA target's 128", d));
        double scale = n.getFloat("scale", 0.0);
        if (scale == 0.0) scale = 1.0 / std::sqrt(static_cast<double>(d));
        add("attention", fmt::format("bertc_attention_d{}_h{}", d, heads), "bertc::attention", {d, heads}, 128, &n,
            {{"scale", floatLiteral(scale)}});
        break;
      }
      case OpKind::Gather:
        if (layout(n, n.operand(0)) != Layout::Token || n.getInt("axis", 0) != 1 || !n.operand(1)->isConstant() ||
            n.operand(1)->constant->numel() != 1 || n.operand(1)->type.rank() != 0)
          failAt(n, "the CUDA target supports Gather only of one token per sequence (axis 1, a constant scalar index)");
        {
          const int64_t w = width(&n, n.result());
          add("gather_token", fmt::format("bertc_gather_token_n{}", w), "bertc::gather_token", {w, rowThreads(w)},
              rowThreads(w), &n);
        }
        l = Layout::Batch;
        break;
      case OpKind::MeanPool: {
        if (layout(n, n.operand(0)) != Layout::Token) failAt(n, "the CUDA target pools only token activations");
        const int64_t w = width(&n, n.result());
        add("mean_pool", fmt::format("bertc_mean_pool_n{}", w), "bertc::mean_pool", {w, 128}, 128, &n,
            {{"eps", floatLiteral(n.getFloat("epsilon", 1e-9))}});
        l = Layout::Batch;
        break;
      }
      case OpKind::Add: {
        const Value* act = nullptr;
        for (const Value* v : n.operands)
          if (!v->isConstant() && layout(n, v) != Layout::Padded) act = v;
        if (act) {
          l = layout(n, act);
          for (const Value* v : n.operands)
            if (!v->isConstant() && layout(n, v) != l) failAt(n, "adds activations of different layouts, which the CUDA target does not lower");
          const int64_t w = width(&n, n.result());
          rowKernel("add_rows", fmt::format("bertc_add_n{}", w), n, w);
          break;
        }
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
            if (v->constant->numel() != 1 && n.op != OpKind::CumSum)
              failAt(n, "the CUDA target supports only scalar constants in [batch, seq] arithmetic");
            continue;
          }
          if (layout(n, v) != Layout::Padded)
            failAt(n, "mixes float activations into [batch, seq] arithmetic, which the CUDA target does not lower");
        }
        if (n.result()->type.rank() != 2)
          failAt(n, "the CUDA target lowers integer arithmetic only on [batch, seq] tensors");
        if (n.op == OpKind::CumSum) add("cumsum", "bertc_cumsum", "bertc::cumsum", {}, 128, &n);
        else add("elementwise", "bertc_elementwise", "bertc::elementwise", {}, 256, &n);
        break;
      default:
        failAt(n, "is not supported by the CUDA target");
    }
    for (const Value* r : n.results) layouts_[r] = l;
  }

  /// Every Attention must mask keys by the same [batch, seq] value: it
  /// decides the packing (as on the CPU target).
  void checkMask(const Node& n) {
    const Value* m = n.operand(3);
    if (maskSeen_ && m != mask_)
      failAt(n, m ? "masks by a different value than the other Attention ops" : "has no mask while other Attention ops have one");
    if (m && (m->type.rank() != 2 || layout(n, m) != Layout::Padded))
      failAt(n, "the CUDA target needs a [batch, seq] key-padding mask");
    maskSeen_ = true;
    mask_ = m;
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

  const ir::Graph& g_;
  std::string file_;
  KernelSet set_;
  std::map<const Value*, Layout> layouts_;
  const Value* mask_ = nullptr;
  bool maskSeen_ = false;
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

Result<KernelSet> generateKernels(const ir::Graph& g, Precision precision, const std::string& file) {
  return catchUserError([&]() -> Result<KernelSet> { return Generator(g, precision, file).run(); });
}

}  // namespace bertc::cuda
