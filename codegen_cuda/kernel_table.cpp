#include "codegen_cuda/kernel_table.h"

namespace bertc::cuda {
namespace {

constexpr ParamType P = ParamType::Pointer, I = ParamType::Int, L = ParamType::I64;

/// A compile-time constant of a call.
CallItem constant(const char* key) { return {nullptr, key, P}; }

}  // namespace

const std::map<std::string, KernelFamily>& kernelFamilies() {
  static const std::map<std::string, KernelFamily> table = [] {
    const std::vector<KernelFamily> families = {
        {"pack",
         {{"const void*", "mask", P}, {"int", "mask_dt", I}, {"int", "batch", I}, {"int", "seq", I},
          {"int*", "tok", P}, {"int*", "row_of", P}, {"int*", "seq_start", P}}},
        {"gather_ids",
         {{"const void*", "src", P}, {"int", "src_dt", I}, {"int", "mode", I}, {"const int*", "tok", P},
          {"const int*", "num_rows", P}, {"int", "seq", I}, {"i64*", "dst", P}}},
        {"elementwise",
         {{"int", "op", I}, {"void*", "dst", P}, {"int", "dst_dt", I}, {"i64", "n", L}, {"const void*", "a", P},
          {"int", "a_dt", I}, {"i64", "a_n", L}, {"const void*", "b", P}, {"int", "b_dt", I}, {"i64", "b_n", L},
          {"const void*", "c", P}, {"int", "c_dt", I}, {"i64", "c_n", L}}},
        {"cumsum",
         {{"void*", "dst", P}, {"const void*", "src", P}, {"int", "dt", I}, {"i64", "rows", L}, {"i64", "cols", L},
          {"int", "exclusive", I}, {"int", "reverse", I}}},
        {"embed_layernorm",
         {{"const i64*", "ids", P}, {"const i64*", "seg", P}, {"const i64*", "pos", P},
          {"const store_t*", "word", P}, {"i64", "vocab", L}, {"const store_t*", "pos_table", P},
          {"i64", "positions", L}, {"const store_t*", "seg_table", P}, {"i64", "types", L},
          {"const store_t*", "gamma", P}, {"const store_t*", "beta", P}, {"store_t*", "y", P},
          {"const int*", "num_rows", P}, constant("eps"), {"int*", "bad_token", P}}},
        {"layernorm",
         {{"const store_t*", "x", P}, {"i64", "ldx", L}, {"const store_t*", "skip", P}, {"i64", "ldskip", L},
          {"const store_t*", "bias", P}, {"const store_t*", "gamma", P}, {"const store_t*", "beta", P},
          {"store_t*", "y", P}, {"i64", "ldy", L}, {"const int*", "num_rows", P}, constant("eps")}},
        {"bias_act",
         {{"const store_t*", "x", P}, {"i64", "ldx", L}, {"const store_t*", "bias", P}, {"store_t*", "y", P},
          {"i64", "ldy", L}, {"const int*", "num_rows", P}}},
        {"add_rows",
         {{"const store_t*", "x", P}, {"i64", "ldx", L}, {"const store_t*", "z", P}, {"i64", "ldz", L},
          {"store_t*", "y", P}, {"i64", "ldy", L}, {"const int*", "num_rows", P}}},
        {"attention",
         {{"const store_t*", "qkv", P}, {"i64", "ldqkv", L}, {"store_t*", "context", P}, {"i64", "ldctx", L},
          {"const int*", "seq_start", P}, constant("scale")}},
        {"mean_pool",
         {{"const store_t*", "packed", P}, {"const int*", "seq_start", P}, constant("eps"), {"store_t*", "out", P}}},
        {"gather_token",
         {{"const store_t*", "packed", P}, {"const int*", "row_of", P}, {"int", "seq", I}, {"int", "index", I},
          {"store_t*", "out", P}}},
        {"scatter_rows", {{"const store_t*", "packed", P}, {"const int*", "row_of", P}, {"float*", "out", P}}},
        {"to_float", {{"const store_t*", "x", P}, {"float*", "out", P}}},
    };
    std::map<std::string, KernelFamily> m;
    for (const KernelFamily& f : families) m.emplace(f.name, f);
    return m;
  }();
  return table;
}

std::vector<ParamType> paramTypes(const KernelFamily& f) {
  std::vector<ParamType> types;
  for (const CallItem& item : f.call)
    if (item.ctype) types.push_back(item.type);
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

}  // namespace bertc::cuda
