// The CPU emitter's shared state: one LLVM module that starts as the model
// library's bitcode (libmodel/, for the chosen ISA) and gains the model's
// weights, descriptor, body and exported C API. The op families are emitted
// by their own files (emit_gemm.cpp, emit_norm.cpp, emit_padded.cpp), each a
// function over a Step that calls model-library kernels through `call`.
#pragma once

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "codegen_cpu/target.h"
#include "kernels/gemm.h"

namespace bertc::cpu {

class Emitter {
 public:
  Emitter(llvm::Module& m, const ir::Graph& g, const Plan& plan, Isa isa, std::string file, bool profile = false);

  /// Emits the body function (`<prefix>body`) and returns it.
  llvm::Function* emitBody(const std::string& name);
  /// The weight blob's bytes, and the placeholder every weight address is
  /// relative to; emit_model.cpp turns them into one constant global.
  std::vector<char>& blob() { return blob_; }
  llvm::GlobalVariable* weightsPlaceholder() const { return weights_; }

  // ---- for the op-family emitters ----
  llvm::IRBuilder<>& b() { return b_; }
  const ir::Graph& graph() const { return g_; }
  const Plan& plan() const { return plan_; }
  Isa isa() const { return isa_; }

  llvm::Value* i32(int64_t v) { return b_.getInt32(static_cast<int32_t>(v)); }
  llvm::Value* i64(int64_t v) { return b_.getInt64(v); }
  llvm::Value* f32(double v) { return llvm::ConstantFP::get(b_.getFloatTy(), v); }
  llvm::Value* null() { return llvm::ConstantPointerNull::get(b_.getPtrTy()); }

  /// Where a non-constant value's data is: the caller's input, or its buffer.
  llvm::Value* addr(const ir::Value* v);
  /// A constant's bytes in the weight blob, as they are (f32 rows, ids, scalars).
  llvm::Value* weight(const ir::Value* v);
  /// A constant weight [K, N] prepacked for this ISA's GEMM microkernel, in
  /// the precision the plan gives it (fp32 panels, or bf16 k-pairs).
  llvm::Value* packedWeight(const ir::Value* w);
  /// The model library's GEMM for weight w: bertc_k_linear or _linear_bf16.
  const char* linearFunction(const ir::Value* w) const;
  /// n zero floats in the blob (a bias the op does not have).
  llvm::Value* zeros(int64_t n);
  /// addr(v), or null for an absent optional operand.
  llvm::Value* addrOrNull(const ir::Value* v) { return v ? (v->isConstant() ? weight(v) : addr(v)) : null(); }
  /// Rows of a token- or batch-layout value at run time: T or batch.
  llvm::Value* rows(const ir::Value* v);
  /// A temp of step s (plus an offset in bytes per slot into it).
  llvm::Value* temp(const Step& s, size_t i, int64_t extraBytesPerSlot = 0);

  /// Calls the model-library function `name`.
  llvm::Value* call(const char* name, std::vector<llvm::Value*> args);
  /// Calls a kernel that returns a status; returns from the body if it fails.
  void callChecked(const char* name, std::vector<llvm::Value*> args);

  llvm::Value* exec() const { return exec_; }
  llvm::Value* batch() const { return batch_; }
  llvm::Value* seq() const { return seq_; }
  llvm::Value* tokens() const { return tokens_; }
  llvm::Value* slots() const { return slots_; }
  llvm::Value* tok() const { return tok_; }
  llvm::Value* rowOf() const { return rowOf_; }
  llvm::Value* seqStart() const { return seqStart_; }

 private:
  int64_t appendBlob(const void* data, size_t bytes);
  llvm::Value* blobAddr(int64_t offset);
  void emitStep(const Step& s);
  void emitPack();
  void emitOutputs();
  void emitProfileMark(size_t step);

  llvm::Module& m_;
  const ir::Graph& g_;
  const Plan& plan_;
  Isa isa_;
  std::string file_;
  bool profile_;
  llvm::IRBuilder<> b_;
  llvm::GlobalVariable* weights_ = nullptr;
  std::vector<char> blob_;
  std::map<const ir::Value*, int64_t> rawOffsets_, packedOffsets_;
  std::map<int64_t, int64_t> zeroOffsets_;

  llvm::Function* fn_ = nullptr;
  llvm::Value *exec_ = nullptr, *batch_ = nullptr, *seq_ = nullptr, *in_ = nullptr, *out_ = nullptr,
              *arena_ = nullptr;
  llvm::Value *slots_ = nullptr, *tokens_ = nullptr, *tok_ = nullptr, *rowOf_ = nullptr, *seqStart_ = nullptr;
};

// The op families (one file each).
void emitLinear(Emitter& e, const Step& s);       // emit_gemm.cpp
void emitAttention(Emitter& e, const Step& s);    // emit_gemm.cpp
void emitLayerNorm(Emitter& e, const Step& s);    // emit_norm.cpp
void emitBiasAct(Emitter& e, const Step& s);      // emit_norm.cpp
void emitAdd(Emitter& e, const Step& s);          // emit_norm.cpp
void emitEmbedLayerNorm(Emitter& e, const Step& s);  // emit_norm.cpp
void emitElementwise(Emitter& e, const Step& s);  // emit_padded.cpp
void emitCumSum(Emitter& e, const Step& s);       // emit_padded.cpp
void emitGatherToken(Emitter& e, const Step& s);  // emit_padded.cpp
void emitMeanPool(Emitter& e, const Step& s);     // emit_padded.cpp

/// The ONNX dtype code of a value, as the library's kernels take it.
inline int dtypeCode(const ir::Value* v) { return static_cast<int>(v->type.dtype); }

}  // namespace bertc::cpu
