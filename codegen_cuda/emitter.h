// The CUDA emitter's shared state: it walks the lowering plan's steps
// (passes/plan.h) and, for each, registers the specialised kernels it needs
// and appends launches and cuBLASLt GEMMs to the launch plan, with arena
// offsets from the plan's memory plan and weights in the storage precision.
// The op families are emitted by their own files (emit_gemm.cpp,
// emit_rows.cpp, emit_padded.cpp), each a function over a plan Step.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "codegen_cuda/generate.h"
#include "codegen_cuda/kernel_table.h"
#include "passes/plan.h"

namespace bertc::cuda {

using plan::Layout;
using plan::Step;

/// How a constant goes into the weights: Raw bytes (integer scalars and
/// ids), Store (the storage precision), StoreTransposed (a [K, N] GEMM
/// weight as [N, K], as cuBLASLt reads it).
enum class Form { Raw, Store, StoreTransposed };

class Emitter {
 public:
  Emitter(const ir::Graph& g, const plan::Plan& plan, KernelSet& set);

  /// Every step, then the outputs' copies.
  void emitAll();

  // ---- for the op-family emitters ----
  const ir::Graph& graph() const { return g_; }
  const plan::Plan& plan() const { return plan_; }
  LaunchPlan& launchPlan() { return set_.plan; }
  int64_t storeSize() const { return set_.precision == Precision::Fp16 ? 2 : 4; }

  /// Where a non-constant value is at run time: an input or an arena buffer.
  bertc_cuda_arg at(const ir::Value* v) const;
  /// The arena buffer of an activation (its offset per slot as the value).
  bertc_cuda_arg buffer(const ir::Value* v) const;
  /// Temp i of step s, `extraBytesPerSlot` into it.
  static bertc_cuda_arg temp(const Step& s, size_t i, int64_t extraBytesPerSlot = 0);
  /// A constant in the weights (once per form); NULL for an absent one.
  bertc_cuda_arg weight(const ir::Value* v, Form form);

  /// Registers the entry `entry` = fn<targs...>(family's call) unless an
  /// identical one exists (the same name with other constants gets _2,
  /// _3...); its index in KernelSet::kernels.
  int add(const std::string& family, std::string entry, const std::vector<int64_t>& targs, int threads,
          const ir::Node* node, const std::map<std::string, std::string>& consts = {});
  /// A row kernel of `family` over rows of `width`: template arguments
  /// <width, extra..., threads>.
  int rowKernel(const std::string& family, const std::string& entry, const ir::Node& n, int64_t width,
                const std::map<std::string, std::string>& consts = {}, const std::vector<int64_t>& extra = {});
  /// A launch of kernel k; its arguments are checked against the family's parameter types.
  void launch(int k, int grid, int gridArg, std::vector<bertc_cuda_arg> args);
  /// D = A W (+ bias) (ReLU) over the rows of layout l (A, D: arena buffers).
  void gemm(const ir::Node& n, Layout l, bertc_cuda_arg a, int64_t k, const ir::Value* w, const ir::Value* bias,
            bool relu, bertc_cuda_arg d);
  /// y = act(x + bias) on rows of width w (bias may be null; y may be x).
  void biasAct(const ir::Node& n, Layout l, bertc_cuda_arg x, const ir::Value* bias, bertc_cuda_arg y, int64_t w,
               const char* act, int code);

  /// The whole CUDA C program: the kernel library and the entry points.
  std::string program() const;

 private:
  void emitStep(const Step& s);

  const ir::Graph& g_;
  const plan::Plan& plan_;
  KernelSet& set_;
  std::map<std::pair<const ir::Value*, Form>, int64_t> weightAt_;
};

// ---- helpers the families share ----

bertc_cuda_arg arg(int kind, int64_t value = 0);
inline bertc_cuda_arg i32(int64_t v) { return arg(BERTC_CUDA_ARG_I32, v); }
inline bertc_cuda_arg i64(int64_t v) { return arg(BERTC_CUDA_ARG_I64, v); }
inline bertc_cuda_arg nullArg() { return arg(BERTC_CUDA_ARG_NULL); }
/// Where row kernels on layout l read their row count, and their grid.
bertc_cuda_arg rowsOf(Layout l);
int gridOf(Layout l);
/// Threads for a kernel along a row of n elements: one warp at least, 256 at most.
int rowThreads(int64_t n);
/// A float constant as the shortest C literal that reads back to the same float.
std::string floatLiteral(double v);
/// The last dim of an activation (the plan checked it is constant).
int64_t widthOf(const ir::Value* v);
/// kernels/padded.cuh's EW_* code of a [batch, seq] op.
int elementwiseCode(ir::OpKind op);

// ---- the op families ----
void emitPack(Emitter& e, const Step& s);            // emit_padded.cpp
void emitElementwise(Emitter& e, const Step& s);     // emit_padded.cpp
void emitCumSum(Emitter& e, const Step& s);          // emit_padded.cpp
void emitGatherToken(Emitter& e, const Step& s);     // emit_padded.cpp
void emitMeanPool(Emitter& e, const Step& s);        // emit_padded.cpp
void emitOutput(Emitter& e, size_t o);               // emit_padded.cpp
void emitEmbedLayerNorm(Emitter& e, const Step& s);  // emit_rows.cpp
void emitLayerNorm(Emitter& e, const Step& s);       // emit_rows.cpp
void emitBiasAct(Emitter& e, const Step& s);         // emit_rows.cpp
void emitAdd(Emitter& e, const Step& s);             // emit_rows.cpp
void emitLinear(Emitter& e, const Step& s);          // emit_gemm.cpp
void emitAttention(Emitter& e, const Step& s);       // emit_gemm.cpp

}  // namespace bertc::cuda
