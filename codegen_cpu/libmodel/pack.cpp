// The model library's data movement and small integer ops: packing the real
// tokens of a [batch, seq] mask, gathering ids into packed order, scattering
// packed rows back to [batch, seq, N], and the elementwise and cumsum ops the
// exporters leave on position ids and masks. Cheap next to the GEMMs, so
// single-threaded and scalar.
#include <string.h>

#include <type_traits>

#include "internal.h"

using namespace bertc::cpu::libmodel;

extern "C" int64_t bertc_k_pack(const void* mask, int mask_dtype, int64_t batch, int64_t seq, int32_t* tok,
                                int32_t* row_of, int32_t* seq_start) {
  int32_t t = 0;
  for (int64_t b = 0; b < batch; ++b) {
    seq_start[b] = t;
    for (int64_t s = 0; s < seq; ++s) {
      const int64_t i = b * seq + s;
      if (mask && !loadTruth(mask, mask_dtype, i)) {
        row_of[i] = -1;
        continue;
      }
      row_of[i] = t;
      tok[t++] = static_cast<int32_t>(i);
    }
  }
  seq_start[batch] = t;
  return t;
}

extern "C" void bertc_k_gather_ids(const void* src, int src_dtype, const int32_t* tok, int64_t T, int64_t* dst) {
  for (int64_t t = 0; t < T; ++t) dst[t] = loadInt(src, src_dtype, tok[t]);
}

extern "C" void bertc_k_gather_ids_row(const void* src, int src_dtype, const int32_t* tok, int64_t T, int64_t seq,
                                       int64_t* dst) {
  for (int64_t t = 0; t < T; ++t) dst[t] = loadInt(src, src_dtype, tok[t] % seq);
}

extern "C" void bertc_k_positions(const int32_t* tok, int64_t T, int64_t seq, int64_t* dst) {
  for (int64_t t = 0; t < T; ++t) dst[t] = tok[t] % seq;
}

extern "C" void bertc_k_scatter_rows(const float* packed, const int32_t* row_of, int64_t batch, int64_t seq,
                                     int64_t N, float* out) {
  const size_t bytes = static_cast<size_t>(N) * sizeof(float);
  for (int64_t i = 0; i < batch * seq; ++i) {
    if (row_of[i] >= 0)
      memcpy(out + i * N, packed + row_of[i] * N, bytes);
    else
      memset(out + i * N, 0, bytes);
  }
}

extern "C" int bertc_k_check_token_index(const bertc_k_exec* exec, int64_t seq, int64_t index, const char* what) {
  if (seq > index) return BERTC_OK;
  return bertc_rt_error_set(exec->err, BERTC_ERR_SHAPE, "%s: reads token %lld of each sequence; seq %lld is too short",
                            what, static_cast<long long>(index), static_cast<long long>(seq));
}

extern "C" void bertc_k_gather_token(const float* packed, const int32_t* row_of, int64_t batch, int64_t seq,
                                     int64_t index, int64_t N, float* out) {
  const size_t bytes = static_cast<size_t>(N) * sizeof(float);
  for (int64_t b = 0; b < batch; ++b) {
    const int32_t row = row_of[b * seq + index];
    if (row >= 0)
      memcpy(out + b * N, packed + row * N, bytes);
    else
      memset(out + b * N, 0, bytes);
  }
}

extern "C" void bertc_k_mean_pool(const float* packed, const int32_t* seq_start, int64_t batch, int64_t N,
                                  float epsilon, float* out) {
  for (int64_t b = 0; b < batch; ++b) {
    float* o = out + b * N;
    memset(o, 0, static_cast<size_t>(N) * sizeof(float));
    for (int32_t r = seq_start[b]; r < seq_start[b + 1]; ++r)
      for (int64_t j = 0; j < N; ++j) o[j] += packed[r * N + j];
    const float count = static_cast<float>(seq_start[b + 1] - seq_start[b]);
    const float inv = 1.0f / (count > epsilon ? count : epsilon);
    for (int64_t j = 0; j < N; ++j) o[j] *= inv;
  }
}

// ---- Elementwise ops and cumsum on [batch, seq] tensors ----

namespace {

template <class T>
T load(const void* p, int dtype, int64_t i) {
  if constexpr (std::is_floating_point_v<T>)
    return loadDouble(p, dtype, i);
  else
    return loadInt(p, dtype, i);
}

/// Element i of an operand of n elements or of one (broadcast), as T.
template <class T>
T operand(const void* p, int dtype, int64_t n, int64_t i) {
  return load<T>(p, dtype, n == 1 ? 0 : i);
}

template <class T>
void store(void* dst, int dtype, int64_t i, T v) {
  switch (dtype) {
    case kFloat: static_cast<float*>(dst)[i] = static_cast<float>(v); break;
    case kDouble: static_cast<double*>(dst)[i] = static_cast<double>(v); break;
    case kBool: static_cast<uint8_t*>(dst)[i] = v != T(0); break;
    case kUint8: static_cast<uint8_t*>(dst)[i] = static_cast<uint8_t>(v); break;
    case kInt8: static_cast<int8_t*>(dst)[i] = static_cast<int8_t>(v); break;
    case kInt16: static_cast<int16_t*>(dst)[i] = static_cast<int16_t>(v); break;
    case kInt32: static_cast<int32_t*>(dst)[i] = static_cast<int32_t>(v); break;
    case kInt64: static_cast<int64_t*>(dst)[i] = static_cast<int64_t>(v); break;
    default: break;  // not emitted by the compiler (see loadInt)
  }
}

/// One elementwise op computed in T: int64_t when every value operand is an
/// integer or bool, double otherwise (ONNX has no mixed-type arithmetic, but
/// Cast and Where mix a bool with anything).
template <class T>
T apply(int op, T a, T b, bool cond) {
  switch (op) {
    case BERTC_K_EW_ADD: return a + b;
    case BERTC_K_EW_SUB: return a - b;
    case BERTC_K_EW_MUL: return a * b;
    // Integer division truncates, as ONNX Runtime's; by zero gives 0 rather
    // than a trap (ONNX leaves it undefined).
    case BERTC_K_EW_DIV:
      if constexpr (std::is_floating_point_v<T>)
        return a / b;
      else
        return b == 0 ? 0 : a / b;
    case BERTC_K_EW_EQUAL: return a == b;
    case BERTC_K_EW_LESS: return a < b;
    case BERTC_K_EW_GREATER: return a > b;
    case BERTC_K_EW_AND: return a != T(0) && b != T(0);
    case BERTC_K_EW_OR: return a != T(0) || b != T(0);
    case BERTC_K_EW_NOT: return a == T(0);
    case BERTC_K_EW_CAST: return a;
    case BERTC_K_EW_WHERE: return cond ? a : b;
    default: return 0;
  }
}

template <class T>
void elementwise(int op, void* dst, int dst_dtype, int64_t n, const void* a, int a_dtype, int64_t a_n,
                 const void* b, int b_dtype, int64_t b_n, const void* c, int c_dtype, int64_t c_n) {
  for (int64_t i = 0; i < n; ++i) {
    T r;
    if (op == BERTC_K_EW_WHERE)
      r = apply<T>(op, operand<T>(b, b_dtype, b_n, i), operand<T>(c, c_dtype, c_n, i),
                   loadTruth(a, a_dtype, a_n == 1 ? 0 : i));
    else
      r = apply<T>(op, operand<T>(a, a_dtype, a_n, i), b ? operand<T>(b, b_dtype, b_n, i) : T(0), false);
    store<T>(dst, dst_dtype, i, r);
  }
}

template <class T>
void cumsum(void* dst, const void* src, int dtype, int64_t rows, int64_t cols, int exclusive, int reverse) {
  for (int64_t r = 0; r < rows; ++r) {
    T sum = 0;
    for (int64_t k = 0; k < cols; ++k) {
      const int64_t i = r * cols + (reverse ? cols - 1 - k : k);
      const T x = load<T>(src, dtype, i);  // read before dst (which may be src) is written
      if (!exclusive) sum += x;
      store<T>(dst, dtype, i, sum);
      if (exclusive) sum += x;
    }
  }
}

}  // namespace

extern "C" void bertc_k_elementwise(int op, void* dst, int dst_dtype, int64_t n, const void* a, int a_dtype,
                                    int64_t a_n, const void* b, int b_dtype, int64_t b_n, const void* c, int c_dtype,
                                    int64_t c_n) {
  // Where's condition is not a value: its dtype does not choose the domain.
  const bool real = op == BERTC_K_EW_WHERE ? isFloatDtype(b_dtype) || isFloatDtype(c_dtype)
                                           : isFloatDtype(a_dtype) || (b && isFloatDtype(b_dtype));
  if (real)
    elementwise<double>(op, dst, dst_dtype, n, a, a_dtype, a_n, b, b_dtype, b_n, c, c_dtype, c_n);
  else
    elementwise<int64_t>(op, dst, dst_dtype, n, a, a_dtype, a_n, b, b_dtype, b_n, c, c_dtype, c_n);
}

extern "C" void bertc_k_cumsum(void* dst, const void* src, int dtype, int64_t rows, int64_t cols, int exclusive,
                               int reverse) {
  if (isFloatDtype(dtype))
    cumsum<double>(dst, src, dtype, rows, cols, exclusive, reverse);
  else
    cumsum<int64_t>(dst, src, dtype, rows, cols, exclusive, reverse);
}
