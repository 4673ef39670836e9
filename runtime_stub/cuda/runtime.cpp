// libbertc_rt_cuda: runs a model compiled for a CUDA target (bertc_cuda.h).
//
// The plan is tables (codegen_cuda/generate.cpp writes them): kernel
// launches whose arguments are resolved here from the run's shape, and
// GEMMs run by cuBLASLt. A run's shape is (batch, seq, rows), rows being the
// packed token rows the GEMMs cover: the real token count rounded up (host
// inputs, where the mask can be counted) or batch * seq (device inputs). The
// first run of a shape captures the launches on the context's own stream
// into a CUDA graph; every run replays it on the caller's stream. Every
// address a graph holds is the context's (arena, weights, staging buffers),
// so a graph stays valid whatever the caller passes: inputs are copied into
// staging before the replay and outputs out of it after.
//
// Runs on different streams share those addresses, so each run waits for the
// one before it (run_order.h); every buffer handed to cuBLASLt is 256-byte
// aligned or its GEMM is told otherwise (alignment.h).
#include "bertc_cuda.h"

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <list>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "alignment.h"
#include "run_order.h"

namespace {

using bertc::cuda_rt::pointerAlignment;

/// Rows the GEMMs of a host run cover: the token count rounded up to this,
/// so nearby counts share a graph.
constexpr int64_t kRowGranule = 16;
/// Graphs a context keeps (least recently used ones go first).
constexpr size_t kMaxGraphs = 64;
/// cuBLASLt's workspace: what its heuristics may ask for.
constexpr size_t kWorkspaceBytes = 32u << 20;
/// Queries per block of the attention kernel (ATTN_QTILE of kernels/attention.cuh).
constexpr int kAttentionQueryTile = 16;
/// bad_token is reset to 0x7f7f7f7f (a byte pattern cudaMemset can write);
/// the kernel lowers it to the first bad row.
constexpr int kNoBadToken = 0x7f7f7f7f;

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  return buf;
}

/// A failure with its status, thrown inside and turned into a return code
/// at the API boundary.
struct Failure {
  int status;
  std::string message;
};

[[noreturn]] void fail(int status, std::string message) { throw Failure{status, std::move(message)}; }

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail(BERTC_ERR_DEVICE, format("%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e)));
}

void checkLt(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) fail(BERTC_ERR_DEVICE, format("cuBLASLt %s failed: status %d", what, static_cast<int>(s)));
}

/// Element i of a host tensor as a double (integers exactly up to 2^53).
double loadHost(const void* p, int dtype, int64_t i) {
  switch (dtype) {
    case 1: return static_cast<const float*>(p)[i];
    case 11: return static_cast<const double*>(p)[i];
    case 2: case 9: return static_cast<const uint8_t*>(p)[i];
    case 3: return static_cast<const int8_t*>(p)[i];
    case 5: return static_cast<const int16_t*>(p)[i];
    case 6: return static_cast<const int32_t*>(p)[i];
    case 7: return static_cast<double>(static_cast<const int64_t*>(p)[i]);
    default: return 0.0;
  }
}

/// Restores the caller's current device when it goes out of scope.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    if (previous_ != device) check(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceGuard() {
    int now = -1;
    if (previous_ >= 0 && cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

/// The cuBLASLt objects of one GEMM in one graph; the graph's kernels keep
/// running with the algorithm chosen at capture, these live as long.
struct LtGemm {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  ~LtGemm() {
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};

struct Graph {
  int64_t batch = 0, seq = 0, rows = 0;
  cudaGraphExec_t exec = nullptr;
  std::list<LtGemm> gemms;
  ~Graph() {
    if (exec) cudaGraphExecDestroy(exec);
  }
};

/// RunOrder's operations on CUDA streams: one event, recorded at the end of
/// every run.
struct StreamOps {
  using Stream = cudaStream_t;
  cudaEvent_t lastRun = nullptr;
  void record(cudaStream_t s) { check(cudaEventRecord(lastRun, s), "cudaEventRecord"); }
  void wait(cudaStream_t s) { check(cudaStreamWaitEvent(s, lastRun, 0), "cudaStreamWaitEvent"); }
  void drain() { check(cudaEventSynchronize(lastRun), "waiting for the last run"); }
};

/// A weights side file, open while create uploads it.
struct WeightsFile {
  bertc_rt_weights w{};
  ~WeightsFile() { bertc_rt_weights_close(&w); }
};

}  // namespace

struct bertc_cuda_context {
  const bertc_cuda_model* m = nullptr;
  int device = 0;
  int64_t maxSlots = 0;
  int64_t slotStride = 0;  // buffer(offset) = arena + offset * slotStride (alignment.h)
  cudaLibrary_t library = nullptr;
  std::vector<cudaKernel_t> kernels;
  cudaStream_t captureStream = nullptr;
  cudaEvent_t ordered = nullptr;  // orders the capture stream's warm-up run with the caller's stream
  StreamOps streamOps;
  bertc::cuda_rt::RunOrder<StreamOps> order{streamOps};  // orders runs on different streams
  cublasLtHandle_t lt = nullptr;
  void* workspace = nullptr;
  char* weights = nullptr;
  char* arena = nullptr;
  int* tok = nullptr;
  int* rowOf = nullptr;
  int* seqStart = nullptr;  // batch + 2 entries
  int* badToken = nullptr;
  int* hostBadToken = nullptr;  // pinned: the device run's flag
  std::vector<char*> inputs, outputs;  // staging, each for max_batch * max_seq
  std::vector<void*> allocations;      // what cudaMalloc returned, for cudaFree
  std::list<Graph> graphs;             // most recently used first
  std::mutex mutex;                    // one call at a time (the GPU work: `order`)
  std::string error;

  ~bertc_cuda_context();
  void create(const bertc_cuda_model* model, int dev, const char* weightsPath);
  void run(bertc_cuda_stream stream, int64_t batch, int64_t seq, const void* const* in, void* const* out, bool onDevice);
  void sync(bertc_cuda_stream stream);

 private:
  template <class T>
  void deviceAlloc(T** p, size_t bytes, const char* what);
  void openWeights(WeightsFile& file, const char* path) const;
  void enqueueRun(bertc_cuda_stream stream, int64_t batch, int64_t seq, int64_t rows, const void* const* in,
                  void* const* out, bool onDevice);
  void checkShape(int64_t batch, int64_t seq) const;
  int64_t checkHostInputs(int64_t batch, int64_t seq, const void* const* in) const;
  Graph& graphFor(bertc_cuda_stream stream, int64_t batch, int64_t seq, int64_t rows);
  void enqueue(Graph& g);
  void capture(Graph& g);
  void launchKernel(const bertc_cuda_step& s, const Graph& g);
  void gemm(const bertc_cuda_step& s, Graph& g);
  void reportBadToken(int row, int64_t seq);
  char* buffer(int64_t offset) const { return arena + offset * slotStride; }
};

/// `bytes` of device memory starting on a 256-byte boundary (alignment.h).
template <class T>
void bertc_cuda_context::deviceAlloc(T** p, size_t bytes, const char* what) {
  void* v = nullptr;
  check(cudaMalloc(&v, bertc::cuda_rt::alignedSize(bytes)), what);
  allocations.push_back(v);
  *p = reinterpret_cast<T*>(bertc::cuda_rt::alignAddress(reinterpret_cast<uintptr_t>(v)));
}

/// Opens the model's weights side file (`path`, or the one recorded at
/// compile time), checked against the size and checksum the model records.
void bertc_cuda_context::openWeights(WeightsFile& file, const char* path) const {
  if (!m->weights_file) {
    if (path)
      fail(BERTC_ERR_INVALID, format("model '%s' has its weights embedded; create it without a weights file (%s)",
                                     m->name, path));
    return;
  }
  const char* p = path ? path : m->weights_file;
  const int status = bertc_rt_weights_open(&file.w, p, m->name, m->weights_bytes, m->weights_checksum);
  if (status != BERTC_OK) fail(status, bertc_rt_last_error());
}

namespace {

/// The image of `m` for compute capability cc (86 for sm_86): the cubin of
/// the same major version with the highest minor not above cc's, else PTX
/// for an architecture not above cc.
const bertc_cuda_image* pickImage(const bertc_cuda_model* m, int cc) {
  const bertc_cuda_image* best = nullptr;
  for (int i = 0; i < m->num_images; ++i) {
    const bertc_cuda_image& im = m->images[i];
    if (!im.is_ptx && im.arch / 10 == cc / 10 && im.arch <= cc && (!best || im.arch > best->arch)) best = &im;
  }
  if (best) return best;
  for (int i = 0; i < m->num_images; ++i) {
    const bertc_cuda_image& im = m->images[i];
    if (im.is_ptx && im.arch <= cc && (!best || im.arch > best->arch)) best = &im;
  }
  return best;
}

std::string imageList(const bertc_cuda_model* m) {
  std::string s;
  for (int i = 0; i < m->num_images; ++i)
    s += format("%s%s_%d", i ? ", " : "", m->images[i].is_ptx ? "compute" : "sm", m->images[i].arch);
  return s;
}

}  // namespace

void bertc_cuda_context::create(const bertc_cuda_model* model, int dev, const char* weightsPath) {
  m = model;
  device = dev;
  if (m->abi_version != BERTC_CUDA_ABI_VERSION)
    fail(BERTC_ERR_INVALID, format("model '%s' was compiled for CUDA runtime ABI %u; this runtime is ABI %d: "
                                   "recompile it with this bertc",
                                   m->name, m->abi_version, BERTC_CUDA_ABI_VERSION));
  // The side file first: a wrong one is the user's to fix, GPU or not.
  WeightsFile file;
  openWeights(file, weightsPath);
  const void* hostWeights = m->weights_file ? file.w.data : m->weights;
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0)
    fail(BERTC_ERR_DEVICE, format("no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "none found"));
  if (device < 0 || device >= count)
    fail(BERTC_ERR_OUT_OF_RANGE, format("device %d: there are %d CUDA devices", device, count));
  DeviceGuard guard(device);
  int major = 0, minor = 0;
  check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), "cudaDeviceGetAttribute");
  check(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device), "cudaDeviceGetAttribute");
  const bertc_cuda_image* image = pickImage(m, major * 10 + minor);
  if (!image)
    fail(BERTC_ERR_DEVICE, format("model '%s' has no image for this GPU (sm_%d%d); it has %s: recompile with "
                                  "--arch=sm_%d%d",
                                  m->name, major, minor, imageList(m).c_str(), major, minor));
  check(cudaLibraryLoadData(&library, image->data, nullptr, nullptr, 0, nullptr, nullptr, 0), "loading the kernels");
  kernels.resize(static_cast<size_t>(m->num_kernels));
  for (int k = 0; k < m->num_kernels; ++k)
    check(cudaLibraryGetKernel(&kernels[k], library, m->kernels[k]), "finding a kernel");

  maxSlots = m->max_batch * m->max_seq;
  slotStride = bertc::cuda_rt::slotStride(maxSlots);
  check(cudaStreamCreateWithFlags(&captureStream, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cudaEventCreateWithFlags(&ordered, cudaEventDisableTiming), "cudaEventCreate");
  check(cudaEventCreateWithFlags(&streamOps.lastRun, cudaEventDisableTiming), "cudaEventCreate");
  checkLt(cublasLtCreate(&lt), "create");
  deviceAlloc(&workspace, kWorkspaceBytes, "the cuBLASLt workspace");
  deviceAlloc(&weights, m->weights_bytes, "the weights");
  if (m->weights_bytes && !hostWeights) fail(BERTC_ERR_INVALID, format("model '%s' has no weights", m->name));
  check(cudaMemcpy(weights, hostWeights, m->weights_bytes, cudaMemcpyHostToDevice), "copying the weights");
  const size_t arenaBytes = m->arena_bytes_per_slot * static_cast<size_t>(slotStride);
  deviceAlloc(&arena, arenaBytes, "the activation arena");
  // Rows past the real tokens are read by GEMMs but never used: zeros keep
  // them finite (and compute-sanitizer's initcheck quiet).
  check(cudaMemset(arena, 0, arenaBytes), "clearing the arena");
  deviceAlloc(&tok, sizeof(int) * maxSlots, "the packing");
  deviceAlloc(&rowOf, sizeof(int) * maxSlots, "the packing");
  deviceAlloc(&seqStart, sizeof(int) * (m->max_batch + 2), "the packing");
  deviceAlloc(&badToken, sizeof(int), "the id check");
  check(cudaMallocHost(&hostBadToken, sizeof(int)), "cudaMallocHost");
  *hostBadToken = kNoBadToken;
  for (int i = 0; i < m->num_inputs; ++i) {
    inputs.push_back(nullptr);
    deviceAlloc(&inputs.back(), 8 * static_cast<size_t>(maxSlots), "an input buffer");
    // A new shape's warm-up run reads them before the caller's data is in.
    check(cudaMemset(inputs.back(), 0, 8 * static_cast<size_t>(maxSlots)), "clearing an input buffer");
  }
  for (int o = 0; o < m->num_outputs; ++o) {
    outputs.push_back(nullptr);
    deviceAlloc(&outputs.back(), bertc_cuda_output_bytes(m, o, m->max_batch, m->max_seq), "an output buffer");
  }
}

bertc_cuda_context::~bertc_cuda_context() {
  if (!m) return;
  int previous = -1;
  cudaGetDevice(&previous);
  cudaSetDevice(device);
  // A run may still be in flight on some stream: it uses what is freed below.
  if (order.anyRun()) cudaEventSynchronize(streamOps.lastRun);
  graphs.clear();
  for (void* p : allocations) cudaFree(p);
  cudaFreeHost(hostBadToken);
  if (lt) cublasLtDestroy(lt);
  if (streamOps.lastRun) cudaEventDestroy(streamOps.lastRun);
  if (ordered) cudaEventDestroy(ordered);
  if (captureStream) cudaStreamDestroy(captureStream);
  if (library) cudaLibraryUnload(library);
  if (previous >= 0) cudaSetDevice(previous);
}

void bertc_cuda_context::checkShape(int64_t batch, int64_t seq) const {
  if (batch < 1 || batch > m->max_batch)
    fail(BERTC_ERR_SHAPE, format("%s: batch %lld is outside 1..%lld (the model was compiled with --max-batch %lld)",
                                 m->name, static_cast<long long>(batch), static_cast<long long>(m->max_batch),
                                 static_cast<long long>(m->max_batch)));
  if (seq < m->min_seq || seq > m->max_seq)
    fail(BERTC_ERR_SHAPE, format("%s: sequence length %lld is outside %lld..%lld", m->name,
                                 static_cast<long long>(seq), static_cast<long long>(m->min_seq),
                                 static_cast<long long>(m->max_seq)));
}

/// Checks the ids and the mask on the host; the rows the GEMMs need.
int64_t bertc_cuda_context::checkHostInputs(int64_t batch, int64_t seq, const void* const* in) const {
  const int64_t slots = batch * seq;
  int64_t tokens = slots;
  for (int i = 0; i < m->num_inputs; ++i) {
    const bertc_cuda_input& d = m->inputs[i];
    if (!in[i]) fail(BERTC_ERR_NULL_ARG, format("%s: input '%s' is NULL", m->name, d.name));
    if (d.id_limit > 0)
      for (int64_t j = 0; j < slots; ++j) {
        const double v = loadHost(in[i], d.dtype, j);
        if (!(v >= 0 && v < static_cast<double>(d.id_limit)))
          fail(BERTC_ERR_OUT_OF_RANGE, format("%s: input '%s' [%lld, %lld] = %.17g is outside [0, %lld)", m->name,
                                              d.name, static_cast<long long>(j / seq), static_cast<long long>(j % seq),
                                              v, static_cast<long long>(d.id_limit)));
      }
    if (d.is_mask) {
      tokens = 0;
      for (int64_t j = 0; j < slots; ++j) tokens += loadHost(in[i], d.dtype, j) != 0.0;
    }
  }
  const int64_t rows = (tokens + kRowGranule - 1) / kRowGranule * kRowGranule;
  return rows < 1 ? 1 : rows > slots ? slots : rows;
}

/// The graph of a shape, captured on first use. Before the capture the
/// launches run once, eagerly: modules load lazily and cuBLASLt initialises
/// on first use, which must not happen inside a capture. That run is ordered
/// after the caller's stream (a previous run may still use the arena) and
/// before what the caller enqueues next.
Graph& bertc_cuda_context::graphFor(bertc_cuda_stream stream, int64_t batch, int64_t seq, int64_t rows) {
  for (auto it = graphs.begin(); it != graphs.end(); ++it)
    if (it->batch == batch && it->seq == seq && it->rows == rows) {
      graphs.splice(graphs.begin(), graphs, it);
      return graphs.front();
    }
  if (graphs.size() >= kMaxGraphs) graphs.pop_back();
  graphs.emplace_front();
  Graph& g = graphs.front();
  g.batch = batch;
  g.seq = seq;
  g.rows = rows;
  try {
    check(cudaEventRecord(ordered, stream), "cudaEventRecord");
    check(cudaStreamWaitEvent(captureStream, ordered, 0), "cudaStreamWaitEvent");
    enqueue(g);
    check(cudaEventRecord(ordered, captureStream), "cudaEventRecord");
    check(cudaStreamWaitEvent(stream, ordered, 0), "cudaStreamWaitEvent");
    capture(g);
  } catch (...) {
    graphs.pop_front();
    throw;
  }
  return g;
}

/// Enqueues every step of the plan for g's shape on the capture stream.
void bertc_cuda_context::enqueue(Graph& g) {
  check(cudaMemsetAsync(badToken, 0x7f, sizeof(int), captureStream), "cudaMemsetAsync");
  for (int i = 0; i < m->num_steps; ++i) {
    const bertc_cuda_step& s = m->steps[i];
    if (s.kind == BERTC_CUDA_STEP_GEMM) gemm(s, g);
    else launchKernel(s, g);
  }
}

void bertc_cuda_context::capture(Graph& g) {
  check(cudaStreamBeginCapture(captureStream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  cudaGraph_t graph = nullptr;
  try {
    enqueue(g);
  } catch (...) {
    cudaStreamEndCapture(captureStream, &graph);
    if (graph) cudaGraphDestroy(graph);
    throw;
  }
  check(cudaStreamEndCapture(captureStream, &graph), "cudaStreamEndCapture");
  const cudaError_t e = cudaGraphInstantiate(&g.exec, graph, 0);
  cudaGraphDestroy(graph);
  check(e, "cudaGraphInstantiate");
}

void bertc_cuda_context::launchKernel(const bertc_cuda_step& s, const Graph& g) {
  if (s.kernel < 0 || s.kernel >= m->num_kernels || s.first_arg < 0 || s.num_args < 0 ||
      s.first_arg + s.num_args > m->num_args)
    fail(BERTC_ERR_INVALID, format("%s: a kernel step of the plan is out of range", m->name));
  const int64_t slots = g.batch * g.seq;
  std::vector<uint64_t> values(static_cast<size_t>(s.num_args));
  std::vector<void*> args(static_cast<size_t>(s.num_args));
  for (int i = 0; i < s.num_args; ++i) {
    const bertc_cuda_arg& a = m->args[s.first_arg + i];
    uint64_t& v = values[i];
    auto ptr = [&v](const void* p) { v = reinterpret_cast<uintptr_t>(p); };
    auto i32 = [&v](int64_t x) { v = static_cast<uint32_t>(static_cast<int32_t>(x)); };
    switch (a.kind) {
      case BERTC_CUDA_ARG_NULL: v = 0; break;
      case BERTC_CUDA_ARG_I32: i32(a.value); break;
      case BERTC_CUDA_ARG_I64: v = static_cast<uint64_t>(a.value); break;
      case BERTC_CUDA_ARG_BATCH: i32(g.batch); break;
      case BERTC_CUDA_ARG_SEQ: i32(g.seq); break;
      case BERTC_CUDA_ARG_SLOTS: v = static_cast<uint64_t>(slots); break;
      case BERTC_CUDA_ARG_BATCH_I64: v = static_cast<uint64_t>(g.batch); break;
      case BERTC_CUDA_ARG_SEQ_I64: v = static_cast<uint64_t>(g.seq); break;
      case BERTC_CUDA_ARG_BUFFER: ptr(buffer(a.value)); break;
      case BERTC_CUDA_ARG_WEIGHT: ptr(weights + a.value); break;
      case BERTC_CUDA_ARG_INPUT:
        if (a.value < 0 || a.value >= m->num_inputs) fail(BERTC_ERR_INVALID, "a plan argument names no input");
        ptr(inputs[a.value]);
        break;
      case BERTC_CUDA_ARG_OUTPUT:
        if (a.value < 0 || a.value >= m->num_outputs) fail(BERTC_ERR_INVALID, "a plan argument names no output");
        ptr(outputs[a.value]);
        break;
      case BERTC_CUDA_ARG_TOK: ptr(tok); break;
      case BERTC_CUDA_ARG_ROW_OF: ptr(rowOf); break;
      case BERTC_CUDA_ARG_SEQ_START: ptr(seqStart); break;
      case BERTC_CUDA_ARG_NUM_ROWS: ptr(seqStart + g.batch); break;
      case BERTC_CUDA_ARG_BATCH_ROWS: ptr(seqStart + g.batch + 1); break;
      case BERTC_CUDA_ARG_BAD_TOKEN: ptr(badToken); break;
      default: fail(BERTC_ERR_INVALID, format("%s: unknown plan argument kind %d", m->name, a.kind));
    }
    // cudaLaunchKernel copies each parameter's size from its address: an
    // int's 4 bytes are the low half of the slot on a little-endian host.
    args[i] = &v;
  }
  const auto blocks = [](int64_t n) { return static_cast<unsigned>(n < 1 ? 1 : n); };
  const auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  dim3 grid(1);
  switch (s.grid) {
    case BERTC_CUDA_GRID_ONE: break;
    case BERTC_CUDA_GRID_ROWS: grid.x = blocks(g.rows); break;
    case BERTC_CUDA_GRID_SLOTS: grid.x = blocks(slots); break;
    case BERTC_CUDA_GRID_BATCH: grid.x = blocks(g.batch); break;
    case BERTC_CUDA_GRID_ATTENTION:
      grid = dim3(blocks(ceilDiv(g.seq, kAttentionQueryTile)), blocks(s.grid_arg), blocks(g.batch));
      break;
    case BERTC_CUDA_GRID_COLUMNS: grid = dim3(blocks(g.batch), blocks(ceilDiv(s.grid_arg, s.threads))); break;
    case BERTC_CUDA_GRID_ELEMENTS: grid.x = blocks(ceilDiv(slots, s.threads)); break;
    default: fail(BERTC_ERR_INVALID, format("%s: unknown grid kind %d", m->name, s.grid));
  }
  check(cudaLaunchKernel(reinterpret_cast<const void*>(kernels[s.kernel]), grid, dim3(static_cast<unsigned>(s.threads)),
                         args.data(), 0, captureStream),
        m->kernels[s.kernel]);
}

/// D[rows, n] = A[rows, k] W[k, n] (+ bias) (ReLU), row-major. In
/// cuBLASLt's column-major terms: D^T (n x rows) = W^T (n x k) A^T (k x rows),
/// where the stored [n, k] transposed weight is a k x n column-major matrix
/// taken transposed (TN, the layout cuBLASLt's kernels favour).
void bertc_cuda_context::gemm(const bertc_cuda_step& s, Graph& g) {
  const int64_t rows = s.grid == BERTC_CUDA_GRID_BATCH ? g.batch : g.rows;
  const cudaDataType_t type = m->precision == BERTC_CUDA_FP16 ? CUDA_R_16F : CUDA_R_32F;
  LtGemm& lg = g.gemms.emplace_back();
  checkLt(cublasLtMatmulDescCreate(&lg.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "matmul descriptor");
  const cublasOperation_t transA = CUBLAS_OP_T, transB = CUBLAS_OP_N;
  checkLt(cublasLtMatmulDescSetAttribute(lg.desc, CUBLASLT_MATMUL_DESC_TRANSA, &transA, sizeof transA), "TRANSA");
  checkLt(cublasLtMatmulDescSetAttribute(lg.desc, CUBLASLT_MATMUL_DESC_TRANSB, &transB, sizeof transB), "TRANSB");
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  switch (s.epilogue) {
    case BERTC_CUDA_EPI_NONE: break;
    case BERTC_CUDA_EPI_BIAS: epilogue = CUBLASLT_EPILOGUE_BIAS; break;
    case BERTC_CUDA_EPI_RELU_BIAS: epilogue = CUBLASLT_EPILOGUE_RELU_BIAS; break;
    case BERTC_CUDA_EPI_RELU: epilogue = CUBLASLT_EPILOGUE_RELU; break;
    default: fail(BERTC_ERR_INVALID, format("%s: unknown GEMM epilogue %d", m->name, s.epilogue));
  }
  checkLt(cublasLtMatmulDescSetAttribute(lg.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue), "epilogue");
  if (s.bias >= 0) {
    const void* bias = weights + s.bias;
    checkLt(cublasLtMatmulDescSetAttribute(lg.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias), "bias");
  }
  checkLt(cublasLtMatrixLayoutCreate(&lg.a, type, static_cast<uint64_t>(s.k), static_cast<uint64_t>(s.n), s.k), "A layout");
  checkLt(cublasLtMatrixLayoutCreate(&lg.b, type, static_cast<uint64_t>(s.k), static_cast<uint64_t>(rows), s.lda), "B layout");
  checkLt(cublasLtMatrixLayoutCreate(&lg.d, type, static_cast<uint64_t>(s.n), static_cast<uint64_t>(rows), s.ldd), "D layout");

  const char* wPtr = weights + s.w;
  const char* aPtr = buffer(s.a);
  char* d = buffer(s.d);
  cublasLtMatmulPreference_t pref = nullptr;
  checkLt(cublasLtMatmulPreferenceCreate(&pref), "preference");
  const size_t ws = kWorkspaceBytes;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
  // The heuristic assumes 256-byte alignment unless told: tell it what the
  // pointers have (cuBLASLt's A is the weights, B the activations).
  const uint32_t alignW = pointerAlignment(reinterpret_cast<uintptr_t>(wPtr));
  const uint32_t alignA = pointerAlignment(reinterpret_cast<uintptr_t>(aPtr));
  const uint32_t alignD = pointerAlignment(reinterpret_cast<uintptr_t>(d));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &alignW, sizeof alignW);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &alignA, sizeof alignA);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &alignD, sizeof alignD);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &alignD, sizeof alignD);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t hs =
      cublasLtMatmulAlgoGetHeuristic(lt, lg.desc, lg.a, lg.b, lg.d, lg.d, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (hs != CUBLAS_STATUS_SUCCESS || found == 0)
    fail(BERTC_ERR_DEVICE, format("%s: cuBLASLt has no algorithm for a %lld x %lld x %lld GEMM", m->name,
                                  static_cast<long long>(rows), static_cast<long long>(s.n), static_cast<long long>(s.k)));
  const float alpha = 1.f, beta = 0.f;
  checkLt(cublasLtMatmul(lt, lg.desc, &alpha, wPtr, lg.a, aPtr, lg.b, &beta, d, lg.d, d, lg.d,
                         &result.algo, workspace, kWorkspaceBytes, captureStream),
          "matmul");
}

void bertc_cuda_context::run(bertc_cuda_stream stream, int64_t batch, int64_t seq, const void* const* in,
                             void* const* out, bool onDevice) {
  checkShape(batch, seq);
  if (m->num_inputs > 0 && !in) fail(BERTC_ERR_NULL_ARG, format("%s: the inputs array is NULL", m->name));
  if (!out) fail(BERTC_ERR_NULL_ARG, format("%s: the outputs array is NULL", m->name));
  for (int o = 0; o < m->num_outputs; ++o)
    if (!out[o]) fail(BERTC_ERR_NULL_ARG, format("%s: output '%s' is NULL", m->name, m->outputs[o].name));
  const int64_t slots = batch * seq;
  int64_t rows = slots;
  if (!onDevice) rows = checkHostInputs(batch, seq, in);
  else
    for (int i = 0; i < m->num_inputs; ++i)
      if (!in[i]) fail(BERTC_ERR_NULL_ARG, format("%s: input '%s' is NULL", m->name, m->inputs[i].name));

  DeviceGuard guard(device);
  order.begin(stream);
  try {
    enqueueRun(stream, batch, seq, rows, in, out, onDevice);
  } catch (...) {
    try {
      order.end(stream);  // what did get enqueued still comes before the next run
    } catch (const Failure&) {
    }
    throw;
  }
  order.end(stream);
  if (onDevice) return;
  check(cudaStreamSynchronize(stream), "running the model");
  reportBadToken(*hostBadToken, seq);
}

/// The run's work on `stream`, after the previous run: its graph (captured
/// on first use), the copies in and out and the id check's flag.
void bertc_cuda_context::enqueueRun(bertc_cuda_stream stream, int64_t batch, int64_t seq, int64_t rows,
                                    const void* const* in, void* const* out, bool onDevice) {
  Graph& g = graphFor(stream, batch, seq, rows);
  const cudaMemcpyKind into = onDevice ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice;
  const cudaMemcpyKind outOf = onDevice ? cudaMemcpyDeviceToDevice : cudaMemcpyDeviceToHost;
  for (int i = 0; i < m->num_inputs; ++i)
    check(cudaMemcpyAsync(inputs[i], in[i], bertc_cuda_input_bytes(m, i, batch, seq), into, stream), "copying an input");
  check(cudaGraphLaunch(g.exec, stream), "cudaGraphLaunch");
  for (int o = 0; o < m->num_outputs; ++o) {
    check(cudaMemcpyAsync(out[o], outputs[o], bertc_cuda_output_bytes(m, o, batch, seq), outOf, stream),
          "copying an output");
  }
  check(cudaMemcpyAsync(hostBadToken, badToken, sizeof(int), cudaMemcpyDeviceToHost, stream), "copying the id check");
}

void bertc_cuda_context::sync(bertc_cuda_stream stream) {
  DeviceGuard guard(device);
  check(cudaStreamSynchronize(stream), "running the model");
  order.drain();  // the last run may be on another stream; its flag is the one read below
  // The graph's last run left its shape's seq in the most recent graph.
  const int64_t seq = graphs.empty() ? 1 : graphs.front().seq;
  reportBadToken(*hostBadToken, seq);
}

void bertc_cuda_context::reportBadToken(int row, int64_t seq) {
  if (row == kNoBadToken) return;
  *hostBadToken = kNoBadToken;
  int slot = -1;
  if (row >= 0 && row < maxSlots) cudaMemcpy(&slot, tok + row, sizeof slot, cudaMemcpyDeviceToHost);
  fail(BERTC_ERR_OUT_OF_RANGE,
       format("%s: a token id, segment id or position at [%lld, %lld] is outside its embedding table", m->name,
              static_cast<long long>(slot < 0 ? -1 : slot / seq), static_cast<long long>(slot < 0 ? -1 : slot % seq)));
}

// ---------------------------------------------------------------- the C API

namespace {

/// Runs f, turning a Failure into its status with the message kept in ctx
/// (and the thread's record).
template <class F>
int guarded(bertc_cuda_context* ctx, F&& f) {
  try {
    f();
    if (ctx) ctx->error.clear();
    return BERTC_OK;
  } catch (const Failure& e) {
    if (ctx) ctx->error = e.message;
    return bertc_rt_error_set(nullptr, e.status, "%s", e.message.c_str());
  } catch (const std::bad_alloc&) {
    if (ctx) ctx->error = "out of host memory";
    return bertc_rt_error_set(nullptr, BERTC_ERR_NO_MEMORY, "out of host memory");
  }
}

}  // namespace

extern "C" {

int bertc_cuda_create(const bertc_cuda_model* model, int device, bertc_cuda_context** out) {
  return bertc_cuda_create_with_weights(model, device, nullptr, out);
}

int bertc_cuda_create_with_weights(const bertc_cuda_model* model, int device, const char* weights_path,
                                   bertc_cuda_context** out) {
  if (!out) return bertc_rt_error_set(nullptr, BERTC_ERR_NULL_ARG, "bertc_cuda_create: ctx is NULL");
  *out = nullptr;
  if (!model) return bertc_rt_error_set(nullptr, BERTC_ERR_NULL_ARG, "bertc_cuda_create: model is NULL");
  auto* ctx = new (std::nothrow) bertc_cuda_context;
  if (!ctx) return bertc_rt_error_set(nullptr, BERTC_ERR_NO_MEMORY, "bertc_cuda_create: out of host memory");
  const int status = guarded(nullptr, [&] { ctx->create(model, device, weights_path); });
  if (status != BERTC_OK) {
    delete ctx;
    return status;
  }
  *out = ctx;
  return BERTC_OK;
}

void bertc_cuda_destroy(bertc_cuda_context* ctx) { delete ctx; }

int bertc_cuda_run(bertc_cuda_context* ctx, bertc_cuda_stream stream, int64_t batch, int64_t seq,
                   const void* const* inputs, void* const* outputs) {
  if (!ctx) return bertc_rt_error_set(nullptr, BERTC_ERR_NULL_ARG, "bertc_cuda_run: ctx is NULL");
  std::lock_guard<std::mutex> lock(ctx->mutex);
  return guarded(ctx, [&] { ctx->run(stream, batch, seq, inputs, outputs, false); });
}

int bertc_cuda_run_device(bertc_cuda_context* ctx, bertc_cuda_stream stream, int64_t batch, int64_t seq,
                          const void* const* inputs, void* const* outputs) {
  if (!ctx) return bertc_rt_error_set(nullptr, BERTC_ERR_NULL_ARG, "bertc_cuda_run_device: ctx is NULL");
  std::lock_guard<std::mutex> lock(ctx->mutex);
  return guarded(ctx, [&] { ctx->run(stream, batch, seq, inputs, outputs, true); });
}

int bertc_cuda_sync(bertc_cuda_context* ctx, bertc_cuda_stream stream) {
  if (!ctx) return bertc_rt_error_set(nullptr, BERTC_ERR_NULL_ARG, "bertc_cuda_sync: ctx is NULL");
  std::lock_guard<std::mutex> lock(ctx->mutex);
  return guarded(ctx, [&] { ctx->sync(stream); });
}

const char* bertc_cuda_last_error(const bertc_cuda_context* ctx) {
  return ctx ? ctx->error.c_str() : bertc_rt_last_error();
}

size_t bertc_cuda_dtype_size(int dtype) {
  switch (dtype) {
    case 1: case 6: return 4;            // float, int32
    case 2: case 3: case 9: return 1;    // uint8, int8, bool
    case 5: return 2;                    // int16
    case 7: case 11: return 8;           // int64, double
    default: return 0;                   // what the kernels' load_int cannot read
  }
}

size_t bertc_cuda_input_bytes(const bertc_cuda_model* m, int i, int64_t batch, int64_t seq) {
  if (!m || i < 0 || i >= m->num_inputs || batch < 0 || seq < 0) return 0;
  return static_cast<size_t>(batch * seq) * bertc_cuda_dtype_size(m->inputs[i].dtype);
}

size_t bertc_cuda_output_bytes(const bertc_cuda_model* m, int o, int64_t batch, int64_t seq) {
  if (!m || o < 0 || o >= m->num_outputs || batch < 0 || seq < 0) return 0;
  const bertc_cuda_output& out = m->outputs[o];
  const size_t width = static_cast<size_t>(out.width);
  switch (out.layout) {
    case BERTC_CUDA_OUT_TOKENS: return static_cast<size_t>(batch * seq) * width * sizeof(float);
    case BERTC_CUDA_OUT_SEQUENCES: return static_cast<size_t>(batch) * width * sizeof(float);
    default: return static_cast<size_t>(batch * seq) * bertc_cuda_dtype_size(out.dtype);
  }
}

int bertc_cuda_num_graphs(const bertc_cuda_context* ctx) { return ctx ? static_cast<int>(ctx->graphs.size()) : 0; }

}  // extern "C"
