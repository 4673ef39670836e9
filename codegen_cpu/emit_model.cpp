// The module around the body: the model library's bitcode, the weight blob,
// the bertc_k_model descriptor, the exported `<name>_` C API, optimization,
// and writing an object, assembly or LLVM IR.
#include <fmt/core.h>
#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/ReplaceConstant.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>
#include <llvm/TargetParser/Host.h>

#include <cctype>
#include <chrono>
#include <fstream>

#include "codegen_common/c_names.h"
#include "codegen_common/llvm_target.h"
#include "codegen_cpu/compile.h"
#include "codegen_cpu/emitter.h"
#include "codegen_cpu/libmodel/bertc_k.h"
#include "codegen_cpu/libmodel_bitcode.h"
#include "codegen_cpu/module.h"
#include "bertc_rt.h"

namespace bertc::cpu {

namespace {

using codegen::kTriple;

/// Wall time of the stages, reported through opts.progress.
class Stopwatch {
 public:
  explicit Stopwatch(const CompileOptions& o) : o_(o), t_(std::chrono::steady_clock::now()) {}
  void lap(const std::string& stage) {
    auto now = std::chrono::steady_clock::now();
    if (o_.progress) o_.progress(fmt::format("{:<10} {:.2f} s", stage, std::chrono::duration<double>(now - t_).count()));
    t_ = now;
  }

 private:
  const CompileOptions& o_;
  std::chrono::steady_clock::time_point t_;
};

/// C types of the API's arguments.
struct ApiTypes {
  llvm::Type *i32, *i64, *ptr, *voidTy;
};

/// The model's inputs or outputs as bertc_k_tensor constants:
/// { ptr name, i32 dtype, i32 rank, [4 x i32] kind, [4 x i64] dims, i64 lo, i64 hi }.
llvm::Constant* tensorTable(llvm::Module& m, const Plan& plan, const std::vector<ir::Value*>& values,
                            const std::string& symbol) {
  llvm::LLVMContext& c = m.getContext();
  auto* i32 = llvm::Type::getInt32Ty(c);
  auto* i64 = llvm::Type::getInt64Ty(c);
  auto* kinds = llvm::ArrayType::get(i32, 4);
  auto* dims = llvm::ArrayType::get(i64, 4);
  auto* type = llvm::StructType::get(c, {llvm::PointerType::get(c, 0), i32, i32, kinds, dims, i64, i64});
  std::vector<llvm::Constant*> rows;
  for (const ir::Value* v : values) {
    if (v->type.rank() > 4) throw UserError(fmt::format("tensor '{}' has rank above 4", v->name));
    std::vector<llvm::Constant*> k(4, llvm::ConstantInt::get(i32, 0)), d(4, llvm::ConstantInt::get(i64, 0));
    for (size_t a = 0; a < v->type.rank(); ++a) {
      const ir::SymExpr& dim = v->type.shape[a];
      int kind = BERTC_K_DIM_FIXED;
      if (a == 0 && dim == plan.batchDim) kind = BERTC_K_DIM_BATCH;
      else if (a == 1 && dim == plan.seqDim) kind = BERTC_K_DIM_SEQ;
      else if (!dim.isConst()) throw UserError(fmt::format("tensor '{}' has a dim that is neither batch, seq nor fixed", v->name));
      k[a] = llvm::ConstantInt::get(i32, kind);
      d[a] = llvm::ConstantInt::get(i64, dim.constValue().value_or(0));
    }
    int64_t hi = 0;
    if (auto it = plan.idLimits.find(v); it != plan.idLimits.end()) hi = it->second;
    auto* name = llvm::ConstantDataArray::getString(c, v->name);
    auto* nameVar = new llvm::GlobalVariable(m, name->getType(), true, llvm::GlobalValue::PrivateLinkage, name, ".name");
    rows.push_back(llvm::ConstantStruct::get(
        type, {nameVar, llvm::ConstantInt::get(i32, static_cast<int>(v->type.dtype)),
               llvm::ConstantInt::get(i32, static_cast<int>(v->type.rank())), llvm::ConstantArray::get(kinds, k),
               llvm::ConstantArray::get(dims, d), llvm::ConstantInt::get(i64, 0), llvm::ConstantInt::get(i64, hi)}));
  }
  auto* arr = llvm::ArrayType::get(type, rows.size());
  return new llvm::GlobalVariable(m, arr, true, llvm::GlobalValue::InternalLinkage, llvm::ConstantArray::get(arr, rows),
                                  symbol);
}

/// scratch_bytes(batch, seq) = bytesPerSlot * batch * seq.
llvm::Function* scratchFunction(llvm::Module& m, const Plan& plan, const std::string& name) {
  llvm::IRBuilder<> b(m.getContext());
  auto* i64 = b.getInt64Ty();
  auto* f = llvm::Function::Create(llvm::FunctionType::get(i64, {i64, i64}, false), llvm::GlobalValue::InternalLinkage,
                                   name, m);
  b.SetInsertPoint(llvm::BasicBlock::Create(m.getContext(), "entry", f));
  b.CreateRet(b.CreateMul(b.CreateMul(f->getArg(0), f->getArg(1)), b.getInt64(plan.bytesPerSlot)));
  return f;
}

/// Where the weights are: a side file (bytes, checksum, path), or embedded
/// (all zero).
struct SideWeights {
  uint64_t bytes = 0, checksum = 0;
  std::string file;
};

/// bertc_k_model { name, num_inputs, num_outputs, inputs, outputs, max_batch, max_seq,
///                 worker_scratch_floats, scratch_bytes, body, weights_bytes, weights_checksum, weights_file }.
llvm::GlobalVariable* descriptor(llvm::Module& m, const ir::Graph& g, const Plan& plan, const std::string& prefix,
                                 llvm::Function* body, const SideWeights& side) {
  llvm::LLVMContext& c = m.getContext();
  auto* i32 = llvm::Type::getInt32Ty(c);
  auto* i64 = llvm::Type::getInt64Ty(c);
  auto* ptr = llvm::PointerType::get(c, 0);
  auto* type = llvm::StructType::get(c, {ptr, i32, i32, ptr, ptr, i64, i64, i64, ptr, ptr, i64, i64, ptr});
  llvm::Constant* file = llvm::ConstantPointerNull::get(ptr);
  if (!side.file.empty()) {
    auto* text = llvm::ConstantDataArray::getString(c, side.file);
    file = new llvm::GlobalVariable(m, text->getType(), true, llvm::GlobalValue::PrivateLinkage, text, ".weights_file");
  }
  auto* name = llvm::ConstantDataArray::getString(c, prefix);
  auto* nameVar = new llvm::GlobalVariable(m, name->getType(), true, llvm::GlobalValue::PrivateLinkage, name, ".name");
  llvm::Constant* fields[] = {
      nameVar,
      llvm::ConstantInt::get(i32, g.inputs().size()),
      llvm::ConstantInt::get(i32, g.outputs().size()),
      tensorTable(m, plan, g.inputs(), prefix + "_inputs_table"),
      tensorTable(m, plan, g.outputs(), prefix + "_outputs_table"),
      llvm::ConstantInt::get(i64, plan.maxBatch),
      llvm::ConstantInt::get(i64, plan.maxSeq),
      llvm::ConstantInt::get(i64, workerScratchFloats(g, plan)),
      scratchFunction(m, plan, prefix + "_scratch_formula"),
      body,
      llvm::ConstantInt::get(i64, side.bytes),
      llvm::ConstantInt::get(i64, side.checksum),
      file,
  };
  return new llvm::GlobalVariable(m, type, true, llvm::GlobalValue::InternalLinkage, llvm::ConstantStruct::get(type, fields),
                                  prefix + "_model");
}

/// The exported API: each function a call of its bertc_k_api_* twin with the
/// descriptor (see headerText for what each does).
void exportApi(llvm::Module& m, const ir::Graph& g, const std::string& p, llvm::GlobalVariable* model,
               Precision precision) {
  llvm::LLVMContext& c = m.getContext();
  llvm::IRBuilder<> b(c);
  ApiTypes t{b.getInt32Ty(), b.getInt64Ty(), b.getPtrTy(), b.getVoidTy()};
  auto define = [&](const std::string& name, llvm::Type* ret, std::vector<llvm::Type*> args) {
    auto* f = llvm::Function::Create(llvm::FunctionType::get(ret, args, false), llvm::GlobalValue::ExternalLinkage, name, m);
    b.SetInsertPoint(llvm::BasicBlock::Create(c, "entry", f));
    return f;
  };
  auto lib = [&](const char* name) {
    llvm::Function* f = m.getFunction(name);
    BERTC_INTERNAL_ASSERT(f != nullptr, std::string("the model library has no ") + name);
    return f;
  };
  auto ret = [&](llvm::Value* v) { v->getType()->isVoidTy() ? b.CreateRetVoid() : b.CreateRet(v); };

  llvm::Function* f = define(p + "_create", t.i32, {t.ptr, t.i32});
  ret(b.CreateCall(lib("bertc_k_api_create"), {model, f->getArg(0), f->getArg(1)}));
  f = define(p + "_create_with_pool", t.i32, {t.ptr, t.ptr});
  ret(b.CreateCall(lib("bertc_k_api_create_with_pool"), {model, f->getArg(0), f->getArg(1)}));
  f = define(p + "_create_with_weights", t.i32, {t.ptr, t.i32, t.ptr});
  ret(b.CreateCall(lib("bertc_k_api_create_with_weights"), {model, f->getArg(0), f->getArg(1), f->getArg(2)}));
  f = define(p + "_destroy", t.voidTy, {t.ptr});
  b.CreateCall(lib("bertc_k_api_destroy"), {f->getArg(0)});
  b.CreateRetVoid();
  f = define(p + "_scratch_bytes", t.i64, {t.i64, t.i64});
  ret(b.CreateCall(lib("bertc_k_api_scratch_bytes"), {model, f->getArg(0), f->getArg(1)}));
  f = define(p + "_last_error", t.ptr, {t.ptr});
  ret(b.CreateCall(lib("bertc_k_api_last_error"), {f->getArg(0)}));
  f = define(p + "_run_v", t.i32, {t.ptr, t.i64, t.i64, t.ptr, t.ptr});
  ret(b.CreateCall(lib("bertc_k_api_run"), {model, f->getArg(0), f->getArg(1), f->getArg(2), f->getArg(3), f->getArg(4)}));
  f = define(p + "_run_v_scratch", t.i32, {t.ptr, t.i64, t.i64, t.ptr, t.ptr, t.ptr, t.i64});
  ret(b.CreateCall(lib("bertc_k_api_run_scratch"), {model, f->getArg(0), f->getArg(1), f->getArg(2), f->getArg(3),
                                                    f->getArg(4), f->getArg(5), f->getArg(6)}));

  // run and run_scratch take the tensors as separate typed arguments.
  const size_t ni = g.inputs().size(), no = g.outputs().size();
  for (bool withScratch : {false, true}) {
    std::vector<llvm::Type*> args{t.ptr, t.i64, t.i64};
    args.insert(args.end(), ni + no, t.ptr);
    if (withScratch) args.insert(args.end(), {t.ptr, t.i64});
    f = define(p + (withScratch ? "_run_scratch" : "_run"), t.i32, args);
    auto* inArr = b.CreateAlloca(llvm::ArrayType::get(t.ptr, ni), nullptr, "inputs");
    auto* outArr = b.CreateAlloca(llvm::ArrayType::get(t.ptr, no), nullptr, "outputs");
    for (size_t i = 0; i < ni; ++i) b.CreateStore(f->getArg(3 + i), b.CreateConstInBoundsGEP1_64(t.ptr, inArr, i));
    for (size_t i = 0; i < no; ++i) b.CreateStore(f->getArg(3 + ni + i), b.CreateConstInBoundsGEP1_64(t.ptr, outArr, i));
    std::vector<llvm::Value*> callArgs{model, f->getArg(0), f->getArg(1), f->getArg(2), inArr, outArr};
    if (withScratch) {
      callArgs.push_back(f->getArg(3 + ni + no));
      callArgs.push_back(f->getArg(4 + ni + no));
    }
    ret(b.CreateCall(lib(withScratch ? "bertc_k_api_run_scratch" : "bertc_k_api_run"), callArgs));
  }

  // The precision compiled in, and the tier the library picked on this CPU.
  f = define(p + "_precision", t.ptr, {});
  ret(b.CreateGlobalString(precisionName(precision), p + "_precision_name"));
  f = define(p + "_cpu_tier", t.ptr, {});
  ret(b.CreateCall(lib("bertc_k_cpu_tier_name"), {b.CreateCall(lib("bertc_k_cpu_tier"), {})}));

  // Queries: counts, names, dtypes, shapes.
  f = define(p + "_num_inputs", t.i32, {});
  ret(b.getInt32(static_cast<int>(ni)));
  f = define(p + "_num_outputs", t.i32, {});
  ret(b.getInt32(static_cast<int>(no)));
  for (int isOutput : {0, 1}) {
    const std::string kind = isOutput ? "_output" : "_input";
    // name(i): tensor ? tensor->name : NULL; dtype(i): tensor ? tensor->dtype : 0.
    for (bool name : {true, false}) {
      f = define(p + kind + (name ? "_name" : "_dtype"), name ? t.ptr : t.i32, {t.i32});
      llvm::Value* tensor = b.CreateCall(lib("bertc_k_api_tensor"), {model, b.getInt32(isOutput), f->getArg(0)});
      auto* found = llvm::BasicBlock::Create(c, "found", f);
      auto* missing = llvm::BasicBlock::Create(c, "missing", f);
      b.CreateCondBr(b.CreateIsNull(tensor), missing, found);
      b.SetInsertPoint(missing);
      ret(name ? static_cast<llvm::Value*>(llvm::ConstantPointerNull::get(b.getPtrTy())) : b.getInt32(0));
      b.SetInsertPoint(found);
      if (name) ret(b.CreateLoad(t.ptr, tensor));
      else ret(b.CreateLoad(t.i32, b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), tensor, 8)));
    }
    f = define(p + kind + "_shape", t.i32, {t.i32, t.i64, t.i64, t.ptr});
    ret(b.CreateCall(lib("bertc_k_api_shape"),
                     {model, b.getInt32(isOutput), f->getArg(0), f->getArg(1), f->getArg(2), f->getArg(3)}));
  }
}

/// Side-file weights: every weight address, a constant offset from the
/// placeholder, becomes an offset from exec->weights (the file create
/// mapped), loaded once at the body's entry. The constant expressions are
/// turned into instructions first, since a load is not a constant.
void bindWeightsToExec(llvm::Function* body, llvm::GlobalVariable* placeholder) {
  llvm::convertUsersOfConstantsToInstructions({placeholder});
  llvm::IRBuilder<> b(&*body->getEntryBlock().getFirstInsertionPt());
  llvm::Value* field = b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), body->getArg(0), offsetof(bertc_k_exec, weights));
  llvm::Value* base = b.CreateLoad(b.getPtrTy(), field, "weights");
  for (llvm::Use& u : llvm::make_early_inc_range(placeholder->uses())) {
    auto* inst = llvm::dyn_cast<llvm::Instruction>(u.getUser());
    BERTC_INTERNAL_ASSERT(inst && inst->getFunction() == body, "a weight address outside the model's body");
    u.set(base);
  }
}

/// Everything but the `<prefix>_` API becomes internal, so two models link
/// into one program and the optimizer may specialise and drop what is unused.
void internalize(llvm::Module& m, const std::string& prefix) {
  auto exported = [&](const llvm::GlobalValue& v) {
    return v.getName().starts_with(prefix + "_") && !v.hasLocalLinkage();
  };
  // An internal symbol leaves its COMDAT group too: the group (an inline
  // function's static, e.g. the library's cached CPUID) would have the same
  // name in every model, and the linker would keep one model's group and
  // drop the others', which their internal code still references.
  auto internal = [](llvm::GlobalObject& o) {
    o.setLinkage(llvm::GlobalValue::InternalLinkage);
    o.setComdat(nullptr);
  };
  for (llvm::Function& f : m)
    if (!f.isDeclaration() && !exported(f)) internal(f);
  for (llvm::GlobalVariable& v : m.globals())
    if (!v.isDeclaration() && !exported(v)) internal(v);
}

/// The generated functions get the library's target attributes, so the
/// inliner may put kernels into them (it refuses across differing features).
void copyTargetAttributes(llvm::Module& m) {
  llvm::Attribute cpu, features;
  for (llvm::Function& f : m)
    if (!f.isDeclaration() && f.hasFnAttribute("target-features")) {
      cpu = f.getFnAttribute("target-cpu");
      features = f.getFnAttribute("target-features");
      break;
    }
  for (llvm::Function& f : m) {
    if (f.isDeclaration() || f.hasFnAttribute("target-features")) continue;
    if (cpu.isValid()) f.addFnAttr(cpu);
    if (features.isValid()) f.addFnAttr(features);
    f.addFnAttr(llvm::Attribute::NoUnwind);
  }
}

}  // namespace

Result<Target> resolveTarget(const std::string& cpu) {
  if (cpu == "x86-64-v3") return Target{Isa::Avx2, "x86-64-v3", ""};
  if (cpu == "x86-64-v4") return Target{Isa::Avx512, "x86-64-v4", ""};
  if (cpu == "native") {
    const bool avx512 = isaSupported(Isa::Avx512);
    if (!avx512 && !isaSupported(Isa::Avx2)) return Status::error("--cpu=native: this CPU lacks AVX2 and FMA, which bertc's kernels need");
    return Target{avx512 ? Isa::Avx512 : Isa::Avx2, llvm::sys::getHostCPUName().str(), ""};
  }
  return Status::error(fmt::format("--cpu={}: expected x86-64-v3, x86-64-v4 or native", cpu));
}

Result<GeneratedModule> buildModule(llvm::LLVMContext& c, const ir::Graph& g, const std::string& file,
                                    const CompileOptions& opts) {
  return catchUserError([&]() -> Result<GeneratedModule> {
    if (!codegen::isValidPrefix(opts.name))
      return Status::error(fmt::format("--name '{}': the symbol prefix must be a C identifier (letters, digits, _), "
                                       "not a keyword, not starting with bertc_", opts.name));
    auto target = resolveTarget(opts.cpu);
    if (!target) return target.status();
    Stopwatch watch(opts);
    auto plan = planGraph(g, opts.maxBatch, opts.maxSeq, file, opts.precision);
    if (!plan) return plan.status();
    watch.lap("plan");

    std::string_view bc = libmodelBitcode(target->isa);
    auto parsed = llvm::parseBitcodeFile(llvm::MemoryBufferRef(llvm::StringRef(bc.data(), bc.size()), "libmodel"), c);
    if (!parsed) {
      std::string msg = llvm::toString(parsed.takeError());
      BERTC_INTERNAL_ASSERT(false, "the embedded model library does not load: " + msg);
    }
    GeneratedModule out;
    const bool side = !opts.weightsFile.empty();
    out.module = std::move(*parsed);
    out.plan = std::move(*plan);
    out.target = *target;
    llvm::Module& m = *out.module;
    m.setTargetTriple(kTriple);

    Emitter e(m, g, out.plan, target->isa, file, opts.profile);
    llvm::Function* body = e.emitBody(opts.name + "_body");
    watch.lap("emit");
    // The weights: one 64-byte-aligned blob, emitted as bytes (an i8 array
    // is written to the object in one piece), or kept for a side file.
    std::vector<char>& blob = e.blob();
    if (blob.empty()) blob.resize(64);
    out.weightBytes = blob.size();
    llvm::GlobalVariable* placeholder = e.weightsPlaceholder();
    SideWeights sideWeights;
    if (side) {
      sideWeights = {blob.size(), bertc_rt_checksum(blob.data(), blob.size()), opts.weightsFile};
      out.sideWeights = std::move(blob);
      bindWeightsToExec(body, placeholder);
    } else {
      auto* data = llvm::ConstantDataArray::getRaw(llvm::StringRef(blob.data(), blob.size()), blob.size(),
                                                   llvm::Type::getInt8Ty(c));
      std::vector<char>().swap(blob);
      auto* weights = new llvm::GlobalVariable(m, data->getType(), true, llvm::GlobalValue::InternalLinkage, data,
                                               opts.name + "_weights");
      weights->setAlignment(llvm::Align(64));
      placeholder->replaceAllUsesWith(weights);
    }
    placeholder->eraseFromParent();
    watch.lap("weights");

    exportApi(m, g, opts.name, descriptor(m, g, out.plan, opts.name, body, sideWeights), opts.precision);
    internalize(m, opts.name);
    copyTargetAttributes(m);
    std::string err;
    llvm::raw_string_ostream es(err);
    BERTC_INTERNAL_ASSERT(!llvm::verifyModule(m, &es), "generated module does not verify: " + err);
    out.header = headerText(g, out.plan, opts.name, opts.precision, opts.weightsFile);
    return out;
  });
}

std::unique_ptr<llvm::TargetMachine> makeTargetMachine(const Target& t) {
  return codegen::makeTargetMachine(t.cpu, t.features);
}

void optimizeModule(llvm::Module& m, llvm::TargetMachine& tm) {
  m.setDataLayout(tm.createDataLayout());
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(&tm);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2);
  mpm.run(m, mam);
}

Status compileToFiles(const ir::Graph& g, const std::string& file, const CompileOptions& opts,
                      const std::string& outPath, const std::string& headerPath, const std::string& weightsPath) {
  llvm::LLVMContext c;
  CompileOptions objectOpts = opts;
  objectOpts.profile = false;  // an artifact never calls back into bertc
  auto gen = buildModule(c, g, file, objectOpts);
  if (!gen) return gen.status();
  Stopwatch watch(opts);
  auto tm = makeTargetMachine(gen->target);
  optimizeModule(*gen->module, *tm);
  watch.lap("optimize");
  const auto kind = opts.emit == EmitKind::LlvmIr     ? codegen::FileKind::LlvmIr
                    : opts.emit == EmitKind::Assembly ? codegen::FileKind::Assembly
                                                      : codegen::FileKind::Object;
  if (Status st = codegen::writeModule(*gen->module, *tm, kind, outPath); !st.ok()) return st;
  watch.lap("codegen");
  if (!headerPath.empty()) {
    std::ofstream h(headerPath, std::ios::binary);
    h << gen->header;
    if (!h) return Status::error(fmt::format("{}: cannot write", headerPath));
  }
  if (!opts.weightsFile.empty()) {
    const std::string& path = weightsPath.empty() ? opts.weightsFile : weightsPath;
    const auto& w = gen->sideWeights;
    if (bertc_rt_weights_write(path.c_str(), opts.name.c_str(), w.data(), w.size()) != BERTC_OK)
      return Status::error(bertc_rt_last_error());
    watch.lap("weights file");
  }
  return Status();
}

}  // namespace bertc::cpu
