// Emitter: weights, addresses, kernel calls, and the body's skeleton
// (padded-layout steps, packing, token steps, outputs).
#include "codegen_cpu/emitter.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstring>

#include "codegen_cpu/libmodel/bertc_k.h"
#include "ir/ops.h"

namespace bertc::cpu {

using ir::DType;

Emitter::Emitter(llvm::Module& m, const ir::Graph& g, const Plan& plan, Isa isa, std::string file, bool profile)
    : m_(m), g_(g), plan_(plan), isa_(isa), file_(std::move(file)), profile_(profile), b_(m.getContext()) {
  // Every weight address is an offset from this; emit_model.cpp replaces it
  // with the real constant once the blob is complete.
  weights_ = new llvm::GlobalVariable(m_, llvm::ArrayType::get(b_.getInt8Ty(), 0), true,
                                      llvm::GlobalValue::ExternalLinkage, nullptr, "__bertc_weights_placeholder");
}

int64_t Emitter::appendBlob(const void* data, size_t bytes) {
  const size_t at = (blob_.size() + 63) / 64 * 64;
  blob_.resize(at + bytes);
  if (bytes) std::memcpy(blob_.data() + at, data, bytes);
  return static_cast<int64_t>(at);
}

llvm::Value* Emitter::blobAddr(int64_t offset) {
  return llvm::ConstantExpr::getInBoundsGetElementPtr(b_.getInt8Ty(), weights_, b_.getInt64(offset));
}

llvm::Value* Emitter::weight(const ir::Value* v) {
  BERTC_INTERNAL_ASSERT(v->isConstant(), "weight() of an activation: " + v->name);
  auto [it, fresh] = rawOffsets_.try_emplace(v, 0);
  if (fresh) it->second = appendBlob(v->constant->data(), v->constant->nbytes());
  return blobAddr(it->second);
}

llvm::Value* Emitter::packedWeight(const ir::Value* w) {
  auto [it, fresh] = packedOffsets_.try_emplace(w, 0);
  if (fresh) {
    if (w->type.dtype != DType::F32 || w->type.rank() != 2)
      throw UserError(fmt::format("{}: weight '{}' must be a 2-D f32 constant", file_, w->name));
    const auto shape = w->constant->shape();
    std::vector<float> rowMajor(static_cast<size_t>(w->constant->numel()));
    std::memcpy(rowMajor.data(), w->constant->data(), rowMajor.size() * sizeof(float));
    const int K = static_cast<int>(shape[0]), N = static_cast<int>(shape[1]);
    if (plan_.precision.at(w) == DType::BF16) {
      PackedB16 p = packB16(rowMajor.data(), K, N, panelWidth(isa_));
      it->second = appendBlob(p.data.get(), sizeof(uint16_t) * p.count());
    } else {
      PackedB p = packB(rowMajor.data(), K, N, isa_);
      it->second = appendBlob(p.data.get(), sizeof(float) * static_cast<size_t>(p.panels()) * p.K * p.nr);
    }
  }
  return blobAddr(it->second);
}

const char* Emitter::linearFunction(const ir::Value* w) const {
  return plan_.precision.at(w) == DType::BF16 ? "bertc_k_linear_bf16" : "bertc_k_linear";
}

llvm::Value* Emitter::zeros(int64_t n) {
  auto [it, fresh] = zeroOffsets_.try_emplace(n, 0);
  if (fresh) {
    std::vector<float> z(static_cast<size_t>(n), 0.0f);
    it->second = appendBlob(z.data(), z.size() * sizeof(float));
  }
  return blobAddr(it->second);
}

llvm::Value* Emitter::addr(const ir::Value* v) {
  v = plan_.resolve(v);
  if (v->isConstant()) return weight(v);
  if (v->isInput) {
    const auto& ins = g_.inputs();
    const size_t i = static_cast<size_t>(std::find(ins.begin(), ins.end(), v) - ins.begin());
    llvm::Value* slot = b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), in_, i);
    return b_.CreateLoad(b_.getPtrTy(), slot, v->name);
  }
  const Buffer& buf = plan_.buffers.at(v);
  return b_.CreateInBoundsGEP(b_.getInt8Ty(), arena_, b_.CreateMul(slots_, i64(buf.offsetPerSlot)), v->name);
}

llvm::Value* Emitter::temp(const Step& s, size_t i, int64_t extraBytesPerSlot) {
  return b_.CreateInBoundsGEP(b_.getInt8Ty(), arena_, b_.CreateMul(slots_, i64(s.temps.at(i).offsetPerSlot + extraBytesPerSlot)));
}

llvm::Value* Emitter::rows(const ir::Value* v) {
  switch (plan_.layoutOf(v)) {
    case Layout::Token: return tokens_;
    case Layout::Batch: return batch_;
    case Layout::Padded: return slots_;
  }
  return slots_;
}

llvm::Value* Emitter::call(const char* name, std::vector<llvm::Value*> args) {
  llvm::Function* f = m_.getFunction(name);
  BERTC_INTERNAL_ASSERT(f != nullptr, std::string("the model library has no ") + name);
  return b_.CreateCall(f, args);
}

void Emitter::callChecked(const char* name, std::vector<llvm::Value*> args) {
  llvm::Value* st = call(name, std::move(args));
  llvm::BasicBlock* fail = llvm::BasicBlock::Create(m_.getContext(), "fail", fn_);
  llvm::BasicBlock* next = llvm::BasicBlock::Create(m_.getContext(), "ok", fn_);
  b_.CreateCondBr(b_.CreateICmpNE(st, b_.getInt32(0)), fail, next);
  b_.SetInsertPoint(fail);
  b_.CreateRet(st);
  b_.SetInsertPoint(next);
}

void Emitter::emitStep(const Step& s) {
  using K = Step::Kind;
  switch (s.kind) {
    case K::Elementwise: return emitElementwise(*this, s);
    case K::CumSum: return emitCumSum(*this, s);
    case K::Pack: return emitPack();
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

/// Packing: which tokens are real, from the attention mask (bertc_k_pack).
void Emitter::emitPack() {
  llvm::Value* mask = plan_.mask ? addr(plan_.mask) : null();
  const int dtype = plan_.mask ? dtypeCode(plan_.mask) : 0;
  tokens_ = call("bertc_k_pack", {mask, i32(dtype), batch_, seq_, tok_, rowOf_, seqStart_});
  tokens_->setName("tokens");
}

/// Copies every output to the caller, scattering token rows back to
/// [batch, seq, N] with zeros at padded positions.
void Emitter::emitOutputs() {
  const auto& outs = g_.outputs();
  for (size_t i = 0; i < outs.size(); ++i) {
    const ir::Value* o = outs[i];
    llvm::Value* dst = b_.CreateLoad(b_.getPtrTy(), b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), out_, i), o->name);
    const ir::Value* src = plan_.resolve(o);
    const Layout l = plan_.layouts.at(src);
    const int64_t elem = static_cast<int64_t>(ir::dtypeSize(o->type.dtype));
    if (l == Layout::Token) {
      call("bertc_k_scatter_rows", {addr(src), rowOf_, batch_, seq_, i64(plan_.buffers.at(src).width), dst});
    } else {
      const int64_t width = l == Layout::Batch ? plan_.buffers.at(src).width : 1;
      llvm::Value* count = l == Layout::Batch ? batch_ : slots_;
      b_.CreateMemCpy(dst, llvm::MaybeAlign(4), addr(src), llvm::MaybeAlign(4), b_.CreateMul(count, i64(width * elem)));
    }
  }
}

/// bertc_profile_mark(i): step i starts (i == steps: the last one ended).
/// Only the JIT defines it (jit.cpp).
void Emitter::emitProfileMark(size_t step) {
  if (!profile_) return;
  llvm::FunctionCallee mark =
      m_.getOrInsertFunction("bertc_profile_mark", llvm::FunctionType::get(b_.getVoidTy(), {b_.getInt32Ty()}, false));
  b_.CreateCall(mark, {i32(static_cast<int64_t>(step))});
}

llvm::Function* Emitter::emitBody(const std::string& name) {
  llvm::LLVMContext& c = m_.getContext();
  llvm::Type* ptr = b_.getPtrTy();
  auto* type = llvm::FunctionType::get(b_.getInt32Ty(), {ptr, b_.getInt64Ty(), b_.getInt64Ty(), ptr, ptr, ptr}, false);
  fn_ = llvm::Function::Create(type, llvm::GlobalValue::InternalLinkage, name, m_);
  auto arg = fn_->arg_begin();
  exec_ = &*arg++;
  batch_ = &*arg++;
  seq_ = &*arg++;
  in_ = &*arg++;
  out_ = &*arg++;
  arena_ = &*arg++;
  b_.SetInsertPoint(llvm::BasicBlock::Create(c, "entry", fn_));
  slots_ = b_.CreateMul(batch_, seq_, "slots");
  tok_ = b_.CreateInBoundsGEP(b_.getInt8Ty(), arena_, b_.CreateMul(slots_, i64(plan_.tokOffset)), "tok");
  rowOf_ = b_.CreateInBoundsGEP(b_.getInt8Ty(), arena_, b_.CreateMul(slots_, i64(plan_.rowOfOffset)), "row_of");
  seqStart_ = b_.CreateInBoundsGEP(b_.getInt8Ty(), arena_, b_.CreateMul(slots_, i64(plan_.seqStartOffset)), "seq_start");
  // The plan put the [batch, seq] arithmetic first, then the packing: the
  // mask is known before packing, and packing before any token-layout step.
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    emitProfileMark(i);
    emitStep(plan_.steps[i]);
  }
  emitProfileMark(plan_.steps.size());
  emitOutputs();
  b_.CreateRet(b_.getInt32(0));
  return fn_;
}

}  // namespace bertc::cpu
