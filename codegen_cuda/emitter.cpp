// Emitter: arguments, weights, the kernel registry, launches, GEMMs, and the
// walk over the plan's steps.
#include "codegen_cuda/emitter.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstring>

#include "ir/ops.h"

namespace bertc::cuda {

namespace {

constexpr int64_t kWeightAlign = 256;

int64_t roundUp(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

}  // namespace

bertc_cuda_arg arg(int kind, int64_t value) { return bertc_cuda_arg{kind, 0, value}; }

bertc_cuda_arg rowsOf(Layout l) {
  return arg(l == Layout::Batch ? BERTC_CUDA_ARG_BATCH_ROWS : BERTC_CUDA_ARG_NUM_ROWS);
}

int gridOf(Layout l) { return l == Layout::Batch ? BERTC_CUDA_GRID_BATCH : BERTC_CUDA_GRID_ROWS; }

int rowThreads(int64_t n) {
  // Elements are taken in pairs when n is even; rows wider than 512 loop.
  const int64_t items = n % 2 == 0 ? n / 2 : n;
  return static_cast<int>(std::clamp<int64_t>((items + 31) / 32 * 32, 32, 256));
}

std::string floatLiteral(double v) {
  std::string s = fmt::format("{}", static_cast<float>(v));
  BERTC_INTERNAL_ASSERT(s.find_first_of("ni") == std::string::npos, "a non-finite kernel constant: " + s);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s + "f";
}

int64_t widthOf(const ir::Value* v) { return v->type.shape.back().constValue().value(); }

int elementwiseCode(ir::OpKind op) {
  switch (op) {
    case ir::OpKind::Add: return 0;
    case ir::OpKind::Sub: return 1;
    case ir::OpKind::Mul: return 2;
    case ir::OpKind::Div: return 3;
    case ir::OpKind::Equal: return 4;
    case ir::OpKind::Less: return 5;
    case ir::OpKind::Greater: return 6;
    case ir::OpKind::And: return 7;
    case ir::OpKind::Or: return 8;
    case ir::OpKind::Not: return 9;
    case ir::OpKind::Cast: return 10;
    case ir::OpKind::Where: return 11;
    default: return -1;
  }
}

Emitter::Emitter(const ir::Graph& g, const plan::Plan& plan, KernelSet& set) : g_(g), plan_(plan), set_(set) {}

bertc_cuda_arg Emitter::at(const ir::Value* v) const {
  v = plan_.resolve(v);
  if (v->isInput) {
    const auto& ins = g_.inputs();
    return arg(BERTC_CUDA_ARG_INPUT, static_cast<int64_t>(std::find(ins.begin(), ins.end(), v) - ins.begin()));
  }
  return buffer(v);
}

bertc_cuda_arg Emitter::buffer(const ir::Value* v) const {
  return arg(BERTC_CUDA_ARG_BUFFER, plan_.bufferOf(v).offsetPerSlot);
}

bertc_cuda_arg Emitter::temp(const Step& s, size_t i, int64_t extraBytesPerSlot) {
  return arg(BERTC_CUDA_ARG_BUFFER, s.temps.at(i).offsetPerSlot + extraBytesPerSlot);
}

bertc_cuda_arg Emitter::weight(const ir::Value* v, Form form) {
  if (!v) return nullArg();
  BERTC_INTERNAL_ASSERT(v->isConstant(), "weight() of an activation: " + v->name);
  auto key = std::make_pair(v, form);
  if (auto it = weightAt_.find(key); it != weightAt_.end()) return arg(BERTC_CUDA_ARG_WEIGHT, it->second);
  const ir::Tensor& t = *v->constant;
  std::string bytes;
  if (form == Form::Raw) {
    bytes.assign(reinterpret_cast<const char*>(t.data()), t.nbytes());
  } else {
    BERTC_INTERNAL_ASSERT(ir::isFloat(t.dtype()), "a float weight of another type: " + v->name);
    const int64_t count = t.numel();
    int64_t rows = 1, cols = count;
    if (form == Form::StoreTransposed) {
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
  std::string& w = set_.plan.weights;
  w.resize(static_cast<size_t>(roundUp(static_cast<int64_t>(w.size()), kWeightAlign)), '\0');
  const int64_t off = static_cast<int64_t>(w.size());
  w += bytes;
  weightAt_[key] = off;
  return arg(BERTC_CUDA_ARG_WEIGHT, off);
}

int Emitter::add(const std::string& family, std::string entry, const std::vector<int64_t>& targs, int threads,
                 const ir::Node* node, const std::map<std::string, std::string>& consts) {
  const KernelFamily& f = kernelFamilies().at(family);
  std::string call = "bertc::" + family;
  if (!targs.empty()) {
    call += "<";
    for (size_t i = 0; i < targs.size(); ++i) call += (i ? ", " : "") + std::to_string(targs[i]);
    call += ">";
  }
  call += "(";
  for (size_t i = 0; i < f.call.size(); ++i) {
    const CallItem& item = f.call[i];
    std::string text = item.name;
    if (!item.ctype) {
      auto c = consts.find(item.name);
      BERTC_INTERNAL_ASSERT(c != consts.end(), fmt::format("{}: no value for the constant {}", family, item.name));
      text = c->second;
    }
    call += (i ? ", " : "") + text;
  }
  call += ")";
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

int Emitter::rowKernel(const std::string& family, const std::string& entry, const ir::Node& n, int64_t width,
                       const std::map<std::string, std::string>& consts, const std::vector<int64_t>& extra) {
  const int threads = rowThreads(width);
  std::vector<int64_t> targs = {width};
  targs.insert(targs.end(), extra.begin(), extra.end());
  targs.push_back(threads);
  return add(family, entry, targs, threads, &n, consts);
}

void Emitter::launch(int k, int grid, int gridArg, std::vector<bertc_cuda_arg> args) {
  const KernelSpec& spec = set_.kernels.at(static_cast<size_t>(k));
  const std::vector<ParamType> types = paramTypes(kernelFamilies().at(spec.family));
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
  s.first_arg = static_cast<int64_t>(set_.plan.args.size());
  set_.plan.args.insert(set_.plan.args.end(), args.begin(), args.end());
  set_.plan.steps.push_back(s);
}

void Emitter::gemm(const ir::Node& n, Layout l, bertc_cuda_arg a, int64_t k, const ir::Value* w,
                   const ir::Value* bias, bool relu, bertc_cuda_arg d) {
  (void)n;
  BERTC_INTERNAL_ASSERT(a.kind == BERTC_CUDA_ARG_BUFFER && d.kind == BERTC_CUDA_ARG_BUFFER,
                        "a GEMM's A and D must be arena buffers");
  const int64_t cols = w->type.shape.at(1).constValue().value();
  bertc_cuda_step s{};
  s.kind = BERTC_CUDA_STEP_GEMM;
  s.grid = gridOf(l);
  s.epilogue = bias ? (relu ? BERTC_CUDA_EPI_RELU_BIAS : BERTC_CUDA_EPI_BIAS)
                    : (relu ? BERTC_CUDA_EPI_RELU : BERTC_CUDA_EPI_NONE);
  s.n = cols;
  s.k = k;
  s.lda = k;
  s.ldd = cols;
  s.a = a.value;
  s.d = d.value;
  s.w = weight(w, Form::StoreTransposed).value;
  s.bias = bias ? weight(bias, Form::Store).value : -1;
  set_.plan.steps.push_back(s);
}

void Emitter::biasAct(const ir::Node& n, Layout l, bertc_cuda_arg x, const ir::Value* bias, bertc_cuda_arg y,
                      int64_t w, const char* act, int code) {
  const int k = rowKernel("bias_act", fmt::format("bertc_bias_{}_n{}", act, w), n, w, {}, {code});
  launch(k, gridOf(l), 0, {x, i64(w), weight(bias, Form::Store), y, i64(w), rowsOf(l)});
}

void Emitter::emitStep(const Step& s) {
  using K = Step::Kind;
  switch (s.kind) {
    case K::Elementwise: return emitElementwise(*this, s);
    case K::CumSum: return emitCumSum(*this, s);
    case K::Pack: return emitPack(*this, s);
    case K::EmbedLayerNorm: return emitEmbedLayerNorm(*this, s);
    case K::Linear: return emitLinear(*this, s);
    case K::LayerNorm: return emitLayerNorm(*this, s);
    case K::BiasAct: return emitBiasAct(*this, s);
    case K::Add: return emitAdd(*this, s);
    case K::Attention: return emitAttention(*this, s);
    case K::GatherToken: return emitGatherToken(*this, s);
    case K::MeanPool: return emitMeanPool(*this, s);
  }
}

void Emitter::emitAll() {
  for (const Step& s : plan_.steps) emitStep(s);
  for (size_t o = 0; o < g_.outputs().size(); ++o) emitOutput(*this, o);
}

std::string Emitter::program() const {
  // No file name or date: models of the same shapes give the same text,
  // which NVRTC results can be cached by.
  std::string s = fmt::format(
      "// Generated by bertc (codegen_cuda/), target cuda-{}: do not edit.\n"
      "#define BERTC_FP16 {}\n\n",
      precisionName(set_.precision), set_.precision == Precision::Fp16 ? 1 : 0);
  s += kernelLibrarySource();
  s += "\n// ---- entry points: the kernels above with this model's constants ----\n\n";
  s += "using bertc::store_t;\n\n";
  for (const KernelSpec& k : set_.kernels) {
    std::string params;
    for (const CallItem& item : kernelFamilies().at(k.family).call)
      if (item.ctype) params += (params.empty() ? "" : ", ") + std::string(item.ctype) + " " + item.name;
    s += fmt::format("extern \"C\" __global__ void __launch_bounds__({}) {}({}) {{\n  {};\n}}\n\n", k.threads, k.entry,
                     params, k.call);
  }
  return s;
}

}  // namespace bertc::cuda
