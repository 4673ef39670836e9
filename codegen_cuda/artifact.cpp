// The CUDA target's artifact: the bertc_cuda_model tables, as an object
// file (LLVM constants) and as a C header of inline wrappers.
#include "codegen_cuda/artifact.h"

#include <fmt/core.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <cctype>
#include <cstddef>

#include "codegen_common/c_names.h"
#include "codegen_common/llvm_target.h"
#ifdef BERTC_HAVE_NVRTC
#include "codegen_cuda/nvrtc.h"
#endif

namespace bertc::cuda {

CudaModel::CudaModel(std::string name, KernelSet set, std::vector<Image> images)
    : name_(std::move(name)), set_(std::move(set)), images_(std::move(images)) {
  for (const Image& im : images_)
    imageTable_.push_back({im.arch, im.isPtx ? 1 : 0, im.bytes.data(), static_cast<uint64_t>(im.bytes.size())});
  const LaunchPlan& p = set_.plan;
  for (const auto& in : p.inputs) inputTable_.push_back({in.name.c_str(), in.dtype, in.isMask ? 1 : 0, in.idLimit});
  for (const auto& out : p.outputs) outputTable_.push_back({out.name.c_str(), out.layout, out.dtype, out.width});
  for (const auto& k : set_.kernels) kernelNames_.push_back(k.entry.c_str());
  model_.abi_version = BERTC_CUDA_ABI_VERSION;
  model_.precision = set_.precision == Precision::Fp16 ? BERTC_CUDA_FP16 : BERTC_CUDA_FP32;
  model_.name = name_.c_str();
  model_.max_batch = p.maxBatch;
  model_.max_seq = p.maxSeq;
  model_.min_seq = p.minSeq;
  model_.num_images = static_cast<int32_t>(imageTable_.size());
  model_.images = imageTable_.data();
  model_.weights = p.weights.data();
  model_.weights_bytes = p.weights.size();
  model_.arena_bytes_per_slot = p.arenaBytesPerSlot;
  model_.num_inputs = static_cast<int32_t>(inputTable_.size());
  model_.inputs = inputTable_.data();
  model_.num_outputs = static_cast<int32_t>(outputTable_.size());
  model_.outputs = outputTable_.data();
  model_.num_kernels = static_cast<int32_t>(kernelNames_.size());
  model_.kernels = kernelNames_.data();
  model_.num_steps = static_cast<int32_t>(p.steps.size());
  model_.steps = p.steps.data();
  model_.num_args = static_cast<int64_t>(p.args.size());
  model_.args = p.args.data();
  model_.weights_checksum = bertc_rt_checksum(p.weights.data(), p.weights.size());
}

void CudaModel::keepWeightsIn(std::string path) {
  weightsFile_ = std::move(path);
  model_.weights = nullptr;
  model_.weights_file = weightsFile_.c_str();
}

Result<std::unique_ptr<CudaModel>> compileModel(const ir::Graph& g, const std::string& file,
                                                const CudaCompileOptions& opts) {
  GenerateOptions gen;
  gen.maxBatch = opts.maxBatch;
  gen.maxSeq = opts.maxSeq;
  auto set = generateKernels(g, opts.precision, file, gen);
  if (!set) return set.status();
  if (opts.progress)
    opts.progress(fmt::format("generate: {} kernels, {} steps, {:.1f} MB of weights", set->kernels.size(),
                              set->plan.steps.size(), static_cast<double>(set->plan.weights.size()) / 1e6));
#ifdef BERTC_HAVE_NVRTC
  NvrtcOptions nv;
  nv.archs = opts.archs.empty() ? defaultArchitectures() : opts.archs;
  auto program = compileProgram(set->source, nv);
  if (!program) return Status::error(fmt::format("{}: {}", file, program.message()));
  std::vector<Image> images;
  for (const Cubin& c : program->cubins) images.push_back({archNumber(c.arch), false, c.image});
  if (!program->ptx.empty()) {
    std::string ptx = program->ptx;
    if (ptx.back() != '\0') ptx.push_back('\0');
    images.push_back({std::stoi(program->ptxArch.substr(8)), true, std::move(ptx)});
  }
  if (opts.progress)
    opts.progress(fmt::format("nvrtc: {} cubins{} (NVRTC {})", program->cubins.size(),
                              program->ptx.empty() ? "" : " + PTX " + program->ptxArch, nvrtcVersionString()));
  return std::make_unique<CudaModel>(opts.name, std::move(*set), std::move(images));
#else
  return Status::error("the CUDA targets need NVRTC, and this bertc was built without the CUDA toolkit");
#endif
}

int archNumber(const std::string& arch) {
  if (arch.size() < 5 || arch.compare(0, 3, "sm_") != 0) return 0;
  for (size_t i = 3; i < arch.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(arch[i]))) return 0;
  return std::stoi(arch.substr(3));
}

namespace {

/// Builds the tables as LLVM constants whose layout is the C structs' (the
/// offsets are checked against offsetof, so the two cannot drift apart).
class ObjectBuilder {
 public:
  ObjectBuilder(llvm::Module& m, const llvm::DataLayout& dl)
      : m_(m), c_(m.getContext()), dl_(dl), i32_(llvm::Type::getInt32Ty(c_)), i64_(llvm::Type::getInt64Ty(c_)),
        ptr_(llvm::PointerType::getUnqual(c_)) {}

  llvm::Constant* build(const CudaModel& cm) {
    const bertc_cuda_model& v = cm.view();
    auto* imageT = structType({i32_, i32_, ptr_, i64_}, {offsetof(bertc_cuda_image, arch), offsetof(bertc_cuda_image, is_ptx),
                                                        offsetof(bertc_cuda_image, data), offsetof(bertc_cuda_image, size)},
                              sizeof(bertc_cuda_image));
    std::vector<llvm::Constant*> images;
    for (int i = 0; i < v.num_images; ++i) {
      const Image& im = cm.images()[static_cast<size_t>(i)];
      images.push_back(llvm::ConstantStruct::get(
          imageT, {i32(im.arch), i32(im.isPtx), bytes("image", im.bytes, 256), i64(static_cast<int64_t>(im.bytes.size()))}));
    }
    auto* ioT = structType({ptr_, i32_, i32_, i64_}, {offsetof(bertc_cuda_input, name), offsetof(bertc_cuda_input, dtype),
                                                      offsetof(bertc_cuda_input, is_mask), offsetof(bertc_cuda_input, id_limit)},
                           sizeof(bertc_cuda_input));
    static_assert(sizeof(bertc_cuda_input) == sizeof(bertc_cuda_output) &&
                      offsetof(bertc_cuda_output, width) == offsetof(bertc_cuda_input, id_limit),
                  "inputs and outputs share one LLVM struct type");
    std::vector<llvm::Constant*> inputs, outputs, kernels, steps, args;
    for (int i = 0; i < v.num_inputs; ++i) {
      const bertc_cuda_input& in = v.inputs[i];
      inputs.push_back(llvm::ConstantStruct::get(ioT, {string(in.name), i32(in.dtype), i32(in.is_mask), i64(in.id_limit)}));
    }
    for (int i = 0; i < v.num_outputs; ++i) {
      const bertc_cuda_output& out = v.outputs[i];
      outputs.push_back(llvm::ConstantStruct::get(ioT, {string(out.name), i32(out.layout), i32(out.dtype), i64(out.width)}));
    }
    for (int i = 0; i < v.num_kernels; ++i) kernels.push_back(string(v.kernels[i]));
    auto* stepT = structType(
        {i32_, i32_, i32_, i32_, i32_, i32_, i64_, i32_, i32_, i64_, i64_, i64_, i64_, i64_, i64_, i64_, i64_},
        {offsetof(bertc_cuda_step, kind), offsetof(bertc_cuda_step, kernel), offsetof(bertc_cuda_step, grid),
         offsetof(bertc_cuda_step, grid_arg), offsetof(bertc_cuda_step, threads), offsetof(bertc_cuda_step, num_args),
         offsetof(bertc_cuda_step, first_arg), offsetof(bertc_cuda_step, epilogue), offsetof(bertc_cuda_step, reserved),
         offsetof(bertc_cuda_step, n), offsetof(bertc_cuda_step, k), offsetof(bertc_cuda_step, lda),
         offsetof(bertc_cuda_step, ldd), offsetof(bertc_cuda_step, a), offsetof(bertc_cuda_step, d),
         offsetof(bertc_cuda_step, w), offsetof(bertc_cuda_step, bias)},
        sizeof(bertc_cuda_step));
    for (int i = 0; i < v.num_steps; ++i) {
      const bertc_cuda_step& s = v.steps[i];
      steps.push_back(llvm::ConstantStruct::get(
          stepT, {i32(s.kind), i32(s.kernel), i32(s.grid), i32(s.grid_arg), i32(s.threads), i32(s.num_args),
                  i64(s.first_arg), i32(s.epilogue), i32(0), i64(s.n), i64(s.k), i64(s.lda), i64(s.ldd), i64(s.a),
                  i64(s.d), i64(s.w), i64(s.bias)}));
    }
    auto* argT = structType({i32_, i32_, i64_}, {offsetof(bertc_cuda_arg, kind), offsetof(bertc_cuda_arg, reserved),
                                                 offsetof(bertc_cuda_arg, value)},
                            sizeof(bertc_cuda_arg));
    for (int64_t i = 0; i < v.num_args; ++i)
      args.push_back(llvm::ConstantStruct::get(argT, {i32(v.args[i].kind), i32(0), i64(v.args[i].value)}));

    auto* modelT = structType(
        {i32_, i32_, ptr_, i64_, i64_, i64_, i32_, ptr_, ptr_, i64_, i64_, i32_, ptr_, i32_, ptr_, i32_, ptr_, i32_,
         ptr_, i64_, ptr_, ptr_, i64_},
        {offsetof(bertc_cuda_model, abi_version), offsetof(bertc_cuda_model, precision),
         offsetof(bertc_cuda_model, name), offsetof(bertc_cuda_model, max_batch), offsetof(bertc_cuda_model, max_seq),
         offsetof(bertc_cuda_model, min_seq), offsetof(bertc_cuda_model, num_images),
         offsetof(bertc_cuda_model, images), offsetof(bertc_cuda_model, weights),
         offsetof(bertc_cuda_model, weights_bytes), offsetof(bertc_cuda_model, arena_bytes_per_slot),
         offsetof(bertc_cuda_model, num_inputs), offsetof(bertc_cuda_model, inputs),
         offsetof(bertc_cuda_model, num_outputs), offsetof(bertc_cuda_model, outputs),
         offsetof(bertc_cuda_model, num_kernels), offsetof(bertc_cuda_model, kernels),
         offsetof(bertc_cuda_model, num_steps), offsetof(bertc_cuda_model, steps), offsetof(bertc_cuda_model, num_args),
         offsetof(bertc_cuda_model, args), offsetof(bertc_cuda_model, weights_file),
         offsetof(bertc_cuda_model, weights_checksum)},
        sizeof(bertc_cuda_model));
    // In a side file (keepWeightsIn): the object holds its path, not the bytes.
    llvm::Constant* weights = llvm::ConstantPointerNull::get(ptr_);
    if (v.weights) weights = bytes("weights", std::string(static_cast<const char*>(v.weights), v.weights_bytes), 256);
    llvm::Constant* weightsFile =
        v.weights_file ? string(v.weights_file) : static_cast<llvm::Constant*>(llvm::ConstantPointerNull::get(ptr_));
    return llvm::ConstantStruct::get(
        modelT, {i32(static_cast<int64_t>(v.abi_version)), i32(v.precision), string(v.name), i64(v.max_batch),
                 i64(v.max_seq), i64(v.min_seq), i32(v.num_images), array("images", imageT, images), weights,
                 i64(static_cast<int64_t>(v.weights_bytes)), i64(static_cast<int64_t>(v.arena_bytes_per_slot)),
                 i32(v.num_inputs), array("inputs", ioT, inputs), i32(v.num_outputs), array("outputs", ioT, outputs),
                 i32(v.num_kernels), array("kernels", ptr_, kernels), i32(v.num_steps), array("steps", stepT, steps),
                 i64(v.num_args), array("args", argT, args), weightsFile,
                 i64(static_cast<int64_t>(v.weights_checksum))});
  }

 private:
  llvm::Constant* i32(int64_t v) const { return llvm::ConstantInt::get(i32_, static_cast<uint64_t>(v), true); }
  llvm::Constant* i64(int64_t v) const { return llvm::ConstantInt::get(i64_, static_cast<uint64_t>(v), true); }

  llvm::StructType* structType(std::vector<llvm::Type*> fields, std::vector<size_t> offsets, size_t size) const {
    auto* t = llvm::StructType::get(c_, fields);
    const llvm::StructLayout* layout = dl_.getStructLayout(t);
    BERTC_INTERNAL_ASSERT(layout->getSizeInBytes() == size, "an LLVM table struct's size differs from bertc_cuda.h");
    for (size_t i = 0; i < offsets.size(); ++i)
      BERTC_INTERNAL_ASSERT(layout->getElementOffset(static_cast<unsigned>(i)) == offsets[i],
                            fmt::format("an LLVM table struct's field {} is not where bertc_cuda.h has it", i));
    return t;
  }

  llvm::Constant* global(const std::string& name, llvm::Constant* init, uint64_t align) {
    auto* g = new llvm::GlobalVariable(m_, init->getType(), true, llvm::GlobalValue::PrivateLinkage, init, name);
    g->setAlignment(llvm::Align(align));
    return g;
  }

  llvm::Constant* bytes(const std::string& name, const std::string& data, uint64_t align) {
    return global(name, llvm::ConstantDataArray::getString(c_, data, false), align);
  }

  llvm::Constant* string(const char* s) {
    return global("str", llvm::ConstantDataArray::getString(c_, s ? s : "", true), 1);
  }

  llvm::Constant* array(const std::string& name, llvm::Type* t, const std::vector<llvm::Constant*>& items) {
    if (items.empty()) return llvm::ConstantPointerNull::get(ptr_);
    return global(name, llvm::ConstantArray::get(llvm::ArrayType::get(t, items.size()), items), 16);
  }

  llvm::Module& m_;
  llvm::LLVMContext& c_;
  const llvm::DataLayout& dl_;
  llvm::Type* i32_;
  llvm::Type* i64_;
  llvm::PointerType* ptr_;
};

}  // namespace

Status writeObject(const CudaModel& model, const std::string& path) {
  llvm::LLVMContext c;
  llvm::Module m(model.name(), c);
  // Plain x86-64: the object holds data only.
  auto tm = codegen::makeTargetMachine("x86-64");
  m.setTargetTriple(tm->getTargetTriple().str());
  const llvm::DataLayout dl = tm->createDataLayout();
  m.setDataLayout(dl);
  llvm::Constant* init = ObjectBuilder(m, dl).build(model);
  auto* g = new llvm::GlobalVariable(m, init->getType(), true, llvm::GlobalValue::ExternalLinkage, init,
                                     model.name() + "_cuda_model");
  g->setAlignment(llvm::Align(16));

  return codegen::writeModule(m, *tm, codegen::FileKind::Object, path);
}

Status writeWeightsFile(const CudaModel& model, const std::string& path) {
  const std::string& w = model.plan().weights;
  if (bertc_rt_weights_write(path.c_str(), model.name().c_str(), w.data(), w.size()) != BERTC_OK)
    return Status::error(bertc_rt_last_error());
  return Status();
}

std::string headerText(const CudaModel& model, const ir::Graph& g) {
  const std::string& p = model.name();
  const LaunchPlan& plan = model.plan();
  std::string guard;
  for (char ch : p) guard += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  std::string params, ins, outs, docs;
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    const ir::Value* v = g.inputs()[i];
    const std::string name = codegen::paramName(v->name, fmt::format("input{}", i));
    params += fmt::format(",\n    const {}* {}", codegen::cType(v->type.dtype), name);
    ins += (i ? ", " : "") + name;
    const auto& in = plan.inputs[i];
    docs += fmt::format(" *   input {} \"{}\": {} [batch, seq]{}\n", i, v->name, codegen::cType(v->type.dtype),
                        in.isMask  ? " (the attention mask: nonzero = a real token)"
                        : in.idLimit > 0 ? fmt::format(", each in [0, {})", in.idLimit)
                                         : std::string());
  }
  for (size_t o = 0; o < plan.outputs.size(); ++o) {
    const auto& out = plan.outputs[o];
    const std::string name = codegen::paramName(out.name, fmt::format("output{}", o));
    const char* type = codegen::cType(static_cast<ir::DType>(out.dtype));
    params += fmt::format(",\n    {}* {}", type, name);
    outs += (o ? ", " : "") + name;
    docs += fmt::format(" *   output {} \"{}\": {} {}\n", o, out.name, type,
                        out.layout == BERTC_CUDA_OUT_TOKENS      ? fmt::format("[batch, seq, {}]", out.width)
                        : out.layout == BERTC_CUDA_OUT_SEQUENCES ? fmt::format("[batch, {}]", out.width)
                                                                  : std::string("[batch, seq] (passed through)"));
  }
  const char* precision = model.kernels().precision == Precision::Fp16 ? "fp16" : "fp32";
  const char* file = model.view().weights_file;
  std::string shown = file ? file : "";  // inside a C comment: no "*/"
  for (size_t at; (at = shown.find("*/")) != std::string::npos;) shown.replace(at, 2, "* /");
  const std::string weightsDoc =
      file ? fmt::format("\n *  The weights are in the side file \"{}\" (bertc compile --weights-file;\n *  "
                         "a relative path is from the working directory); {}_create_with_weights\n *  takes another.",
                         shown, p)
           : std::string();
  std::string archs;
  for (const Image& im : model.images())
    archs += fmt::format("{}{}_{}", archs.empty() ? "" : ", ", im.isPtx ? "compute" : "sm", im.arch);

  return fmt::format(R"(/* {p}.h - generated by bertc: the C API of a model compiled for cuda-{precision}.
 *
 * Link {p}.o with libbertc_rt_cuda, libbertc_rt, cudart and cuBLASLt
 * (CMake: bertc_add_model(... TARGET cuda-{precision}) does it). Kernel images:
 * {archs}; a GPU without one of these fails {p}_create with BERTC_ERR_DEVICE.
 * Storage is {precision}; sums, LayerNorm and softmax statistics are fp32;
 * float outputs are float32.
 *
 * Tensors, in model order:
{docs} *
 * batch is 1..{P}_MAX_BATCH and seq {P}_MIN_SEQ..{P}_MAX_SEQ. Tokens whose
 * mask entry is 0 are packed away: outputs at those positions are 0.
 *
 * A context holds the device's copy of the weights, an arena for the
 * largest shape and one CUDA graph per shape run (captured on first use,
 * replayed after). It runs one call at a time, and runs on different
 * streams one after another on the GPU (they share the arena); use a context
 * per host thread or stream for concurrency. Every call returns BERTC_OK (0)
 * or a bertc_rt_status code, with the message in {p}_last_error.
 */
#ifndef {P}_H
#define {P}_H

#include <stddef.h>
#include <stdint.h>

#include "bertc_cuda.h"

#ifdef __cplusplus
extern "C" {{
#endif

#define {P}_MAX_BATCH {maxBatch}
#define {P}_MAX_SEQ {maxSeq}
#define {P}_MIN_SEQ {minSeq}
#define {P}_NUM_INPUTS {nin}
#define {P}_NUM_OUTPUTS {nout}

/** The compiled model: kernels, weights and plan (defined in {p}.o). */
extern const bertc_cuda_model {p}_cuda_model;

typedef bertc_cuda_context {p}_context;

/** Loads the model on CUDA device `device` (0 for the first).{weightsDoc} */
static inline int {p}_create({p}_context** ctx, int device) {{
  return bertc_cuda_create(&{p}_cuda_model, device, ctx);
}}

/** As {p}_create, with the weights side file at `weights_path` (NULL: the
 *  path given at compile time). A file that is missing, truncated, corrupt
 *  or of another model is an error code, checked before the GPU is touched.
 *  A model with embedded weights takes only NULL. */
static inline int {p}_create_with_weights({p}_context** ctx, int device, const char* weights_path) {{
  return bertc_cuda_create_with_weights(&{p}_cuda_model, device, weights_path, ctx);
}}

/** Waits for the context's last run and frees it; NULL is a no-op. */
static inline void {p}_destroy({p}_context* ctx) {{ bertc_cuda_destroy(ctx); }}

/** Runs on host memory and returns when the outputs are written. Ids and
 *  the mask are checked first (BERTC_ERR_OUT_OF_RANGE names the position).
 *  stream: a cudaStream_t, or NULL for the default stream. */
static inline int {p}_run({p}_context* ctx, bertc_cuda_stream stream, int64_t batch, int64_t seq{params}) {{
  const void* const in[] = {{{ins_or_null}}};
  void* const out[] = {{{outs}}};
  return bertc_cuda_run(ctx, stream, batch, seq, in, out);
}}

/** The same on device memory (same types, device pointers), enqueued on
 *  `stream` without waiting. {p}_sync waits and reports an id out of range,
 *  which gives a zero row rather than a read out of bounds. */
static inline int {p}_run_device({p}_context* ctx, bertc_cuda_stream stream, int64_t batch, int64_t seq{params}) {{
  const void* const in[] = {{{ins_or_null}}};
  void* const out[] = {{{outs}}};
  return bertc_cuda_run_device(ctx, stream, batch, seq, in, out);
}}

/** Array forms: inputs and outputs in model order. */
static inline int {p}_run_v({p}_context* ctx, bertc_cuda_stream stream, int64_t batch, int64_t seq,
    const void* const* inputs, void* const* outputs) {{
  return bertc_cuda_run(ctx, stream, batch, seq, inputs, outputs);
}}
static inline int {p}_run_device_v({p}_context* ctx, bertc_cuda_stream stream, int64_t batch, int64_t seq,
    const void* const* inputs, void* const* outputs) {{
  return bertc_cuda_run_device(ctx, stream, batch, seq, inputs, outputs);
}}

static inline int {p}_sync({p}_context* ctx, bertc_cuda_stream stream) {{ return bertc_cuda_sync(ctx, stream); }}

/** The last failed call's message; with ctx NULL, the thread's (a failed create). */
static inline const char* {p}_last_error(const {p}_context* ctx) {{ return bertc_cuda_last_error(ctx); }}

static inline int {p}_num_inputs(void) {{ return {P}_NUM_INPUTS; }}
static inline int {p}_num_outputs(void) {{ return {P}_NUM_OUTPUTS; }}
static inline const char* {p}_input_name(int i) {{
  return i >= 0 && i < {P}_NUM_INPUTS ? {p}_cuda_model.inputs[i].name : NULL;
}}
static inline const char* {p}_output_name(int i) {{
  return i >= 0 && i < {P}_NUM_OUTPUTS ? {p}_cuda_model.outputs[i].name : NULL;
}}

#ifdef __cplusplus
}} /* extern "C" */
#endif

#endif /* {P}_H */
)",
                     fmt::arg("p", p), fmt::arg("P", guard), fmt::arg("precision", precision), fmt::arg("archs", archs),
                     fmt::arg("docs", docs), fmt::arg("maxBatch", plan.maxBatch), fmt::arg("maxSeq", plan.maxSeq),
                     fmt::arg("minSeq", plan.minSeq), fmt::arg("nin", plan.inputs.size()),
                     fmt::arg("nout", plan.outputs.size()), fmt::arg("params", params),
                     fmt::arg("ins_or_null", ins.empty() ? "NULL" : ins), fmt::arg("outs", outs),
                     fmt::arg("weightsDoc", weightsDoc));
}

}  // namespace bertc::cuda
