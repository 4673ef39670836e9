// Tests of the model library's C API (libmodel/api.cpp) on a model built by
// hand: a body that writes 2 * input_ids + 0.5 (as float) to its output,
// through the arena, after checking what the API promises it (arena and
// worker scratch 64-byte aligned, the exec's worker count).
#include <atomic>
#include <cstring>
#include <string>
#include <thread>

#include "libmodel_test.h"

using namespace libmodel_test;

namespace {

constexpr int64_t kMaxBatch = 8, kMaxSeq = 16;

size_t tinyScratch(int64_t batch, int64_t seq) { return static_cast<size_t>(batch * seq) * sizeof(int64_t); }

int tinyBody(const bertc_k_exec* exec, int64_t batch, int64_t seq, const void* const* in, void* const* out,
             unsigned char* arena) {
  if (reinterpret_cast<uintptr_t>(arena) % 64 != 0 || reinterpret_cast<uintptr_t>(exec->worker_scratch) % 64 != 0 ||
      exec->worker_scratch_floats % 16 != 0 || exec->num_workers != bertc_rt_pool_num_workers(exec->pool))
    return bertc_rt_error_set(exec->err, BERTC_ERR_INVALID, "tiny body: the API broke a promise");
  const int64_t n = batch * seq;
  // Touch every arena byte and every worker's scratch: ASan sees an overrun.
  int64_t* ids = reinterpret_cast<int64_t*>(arena);
  std::memset(exec->worker_scratch, 0, exec->worker_scratch_floats * exec->num_workers * sizeof(float));
  std::vector<int32_t> tok(n);
  for (int64_t i = 0; i < n; ++i) tok[i] = static_cast<int32_t>(i);
  bertc_k_gather_ids(in[0], 7, tok.data(), n, ids);
  float* y = static_cast<float*>(out[0]);
  for (int64_t i = 0; i < n; ++i) y[i] = 2.0f * static_cast<float>(ids[i]) + 0.5f;
  return BERTC_OK;
}

const bertc_k_tensor kInputs[] = {
    {"input_ids", 7, 2, {BERTC_K_DIM_BATCH, BERTC_K_DIM_SEQ}, {0, 0}, 0, 100},
    {"attention_mask", 6, 2, {BERTC_K_DIM_BATCH, BERTC_K_DIM_SEQ}, {0, 0}, 0, 0},
};
const bertc_k_tensor kOutputs[] = {
    {"doubled", 1, 3, {BERTC_K_DIM_BATCH, BERTC_K_DIM_SEQ, BERTC_K_DIM_FIXED}, {0, 0, 1}, 0, 0},
};
const bertc_k_model kTiny = {"tiny", 2, 1, kInputs, kOutputs, kMaxBatch, kMaxSeq, 100, tinyScratch, tinyBody, 0, 0, nullptr};

/// A context, destroyed at the end of the scope.
struct Ctx {
  void* p = nullptr;
  explicit Ctx(int threads) { REQUIRE(bertc_k_api_create(&kTiny, &p, threads) == BERTC_OK); }
  ~Ctx() { bertc_k_api_destroy(p); }
  Ctx(const Ctx&) = delete;
  Ctx& operator=(const Ctx&) = delete;
};

/// Inputs and outputs of one run at (batch, seq).
struct Io {
  std::vector<int64_t> ids;
  std::vector<int32_t> mask;
  std::vector<float> out;
  const void* in[2];
  void* outs[1];

  Io(int64_t batch, int64_t seq, int64_t seed = 0) : ids(batch * seq), mask(batch * seq, 1), out(batch * seq, -1) {
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>((i * 7 + seed) % 100);
    in[0] = ids.data();
    in[1] = mask.data();
    outs[0] = out.data();
  }
  bool correct() const {
    for (size_t i = 0; i < ids.size(); ++i)
      if (out[i] != 2.0f * static_cast<float>(ids[i]) + 0.5f) return false;
    return true;
  }
};

}  // namespace

TEST_CASE("libmodel API: create, run and destroy", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  for (int threads : {1, 2, 0}) {
    INFO("threads " << threads);
    Ctx ctx(threads);
    for (auto [batch, seq] : {std::pair<int64_t, int64_t>{1, 1}, {3, 5}, {kMaxBatch, kMaxSeq}, {2, 3}}) {
      Io io(batch, seq);
      REQUIRE(bertc_k_api_run(&kTiny, ctx.p, batch, seq, io.in, io.outs) == BERTC_OK);
      CHECK(io.correct());
    }
    CHECK(std::string(bertc_k_api_last_error(ctx.p)).empty());
  }
  CHECK(std::string(bertc_k_api_last_error(nullptr)) == "no context");

  SECTION("on a caller's pool") {
    Pool pool(2);
    void* ctx = nullptr;
    REQUIRE(bertc_k_api_create_with_pool(&kTiny, &ctx, pool.p) == BERTC_OK);
    Io io(2, 7);
    CHECK(bertc_k_api_run(&kTiny, ctx, 2, 7, io.in, io.outs) == BERTC_OK);
    CHECK(io.correct());
    bertc_k_api_destroy(ctx);
    CHECK(bertc_k_api_create_with_pool(&kTiny, &ctx, nullptr) == BERTC_ERR_NULL_ARG);
  }
  SECTION("bad create arguments") {
    void* ctx = &ctx;
    CHECK(bertc_k_api_create(&kTiny, nullptr, 1) == BERTC_ERR_NULL_ARG);
    CHECK(bertc_k_api_create(&kTiny, &ctx, -1) == BERTC_ERR_OUT_OF_RANGE);
    CHECK(ctx == nullptr);
    CHECK(std::string(bertc_rt_last_error()) == "tiny_create: threads -1 < 0");
    CHECK(bertc_k_api_create(&kTiny, &ctx, BERTC_RT_MAX_THREADS + 1) == BERTC_ERR_OUT_OF_RANGE);
    bertc_k_api_destroy(nullptr);  // a no-op, like free
  }
}

TEST_CASE("libmodel API: run_scratch in caller-owned memory", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  Ctx ctx(2);
  const int64_t batch = 3, seq = 9;
  const size_t need = bertc_k_api_scratch_bytes(&kTiny, batch, seq);
  CHECK(need == tinyScratch(batch, seq) + 64);
  std::vector<unsigned char> buffer(need + 64);
  // Every alignment of the buffer works: the arena starts at its first 64-byte boundary.
  for (size_t offset = 0; offset < 64; offset += 7) {
    Io io(batch, seq, offset);
    REQUIRE(bertc_k_api_run_scratch(&kTiny, ctx.p, batch, seq, io.in, io.outs, buffer.data() + offset, need) ==
            BERTC_OK);
    CHECK(io.correct());
  }
  Io io(batch, seq);
  CHECK(bertc_k_api_run_scratch(&kTiny, ctx.p, batch, seq, io.in, io.outs, buffer.data(), need - 1) ==
        BERTC_ERR_NO_MEMORY);
  CHECK(std::string(bertc_k_api_last_error(ctx.p)) ==
        "tiny_run_scratch: scratch of " + std::to_string(need - 1) + " bytes, batch 3 x sequence 9 needs " +
            std::to_string(need));
  CHECK(bertc_k_api_run_scratch(&kTiny, ctx.p, batch, seq, io.in, io.outs, nullptr, need) == BERTC_ERR_NULL_ARG);
  CHECK(bertc_k_api_scratch_bytes(&kTiny, 0, seq) == 0);
  CHECK(bertc_k_api_scratch_bytes(&kTiny, batch, kMaxSeq + 1) == 0);
}

TEST_CASE("libmodel API: every bad run argument is an error with a one-line message", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  Ctx ctx(1);
  Io io(2, 4);
  auto fails = [&](int status, const std::string& message, int64_t batch, int64_t seq, const void* const* in,
                   void* const* out, void* context) {
    CHECK(bertc_k_api_run(&kTiny, context, batch, seq, in, out) == status);
    CHECK(std::string(bertc_rt_last_error()) == message);
    if (context) CHECK(std::string(bertc_k_api_last_error(context)) == message);
  };
  fails(BERTC_ERR_NULL_ARG, "tiny_run: NULL context", 2, 4, io.in, io.outs, nullptr);
  fails(BERTC_ERR_NULL_ARG, "tiny_run: the input array is NULL", 2, 4, nullptr, io.outs, ctx.p);
  fails(BERTC_ERR_NULL_ARG, "tiny_run: the output array is NULL", 2, 4, io.in, nullptr, ctx.p);
  const void* noMask[] = {io.ids.data(), nullptr};
  fails(BERTC_ERR_NULL_ARG, "tiny_run: input 1 (attention_mask) is NULL", 2, 4, noMask, io.outs, ctx.p);
  void* noOut[] = {nullptr};
  fails(BERTC_ERR_NULL_ARG, "tiny_run: output 0 (doubled) is NULL", 2, 4, io.in, noOut, ctx.p);
  for (int64_t batch : {int64_t(0), int64_t(-1), kMaxBatch + 1})
    fails(BERTC_ERR_SHAPE, "tiny_run: batch " + std::to_string(batch) + " outside [1, 8]", batch, 4, io.in, io.outs,
          ctx.p);
  for (int64_t seq : {int64_t(0), int64_t(-3), kMaxSeq + 1})
    fails(BERTC_ERR_SHAPE, "tiny_run: sequence length " + std::to_string(seq) + " outside [1, 16]", 2, seq, io.in,
          io.outs, ctx.p);

  SECTION("an id outside [lo, hi) in any element names the input, batch row and position") {
    for (int64_t i = 0; i < 8; ++i)
      for (int64_t bad : {int64_t(-1), int64_t(100)}) {
        Io wrong(2, 4);
        wrong.ids[i] = bad;
        fails(BERTC_ERR_OUT_OF_RANGE,
              "tiny_run: input_ids value " + std::to_string(bad) + " outside [0, 100) at batch row " +
                  std::to_string(i / 4) + ", position " + std::to_string(i % 4),
              2, 4, wrong.in, wrong.outs, ctx.p);
        CHECK(wrong.out == std::vector<float>(8, -1.0f));  // the body did not run
      }
  }
}

TEST_CASE("libmodel API: tensor and shape queries", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  CHECK(bertc_k_api_tensor(&kTiny, 0, 0) == &kInputs[0]);
  CHECK(bertc_k_api_tensor(&kTiny, 0, 1) == &kInputs[1]);
  CHECK(bertc_k_api_tensor(&kTiny, 1, 0) == &kOutputs[0]);
  CHECK(bertc_k_api_tensor(&kTiny, 0, 2) == nullptr);
  CHECK(bertc_k_api_tensor(&kTiny, 1, 1) == nullptr);
  CHECK(bertc_k_api_tensor(&kTiny, 1, -1) == nullptr);
  int64_t dims[4] = {-5, -5, -5, -5};
  REQUIRE(bertc_k_api_shape(&kTiny, 1, 0, 3, 11, dims) == 3);
  CHECK((dims[0] == 3 && dims[1] == 11 && dims[2] == 1 && dims[3] == -5));
  REQUIRE(bertc_k_api_shape(&kTiny, 0, 1, 2, 5, dims) == 2);
  CHECK((dims[0] == 2 && dims[1] == 5));
  CHECK(bertc_k_api_shape(&kTiny, 0, 2, 2, 5, dims) == -1);
  CHECK(bertc_k_api_shape(&kTiny, 0, 0, 2, 5, nullptr) == -1);
  CHECK(bertc_k_api_shape(&kTiny, 0, 0, 9, 5, dims) == -1);
  CHECK(bertc_k_api_shape(&kTiny, 0, 0, 2, 0, dims) == -1);
}

TEST_CASE("libmodel API: two contexts run at once on two threads", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  Ctx a(2), b(2);
  bool okA = true, okB = true;
  auto loop = [](void* ctx, bool* ok, int64_t seed) {
    for (int i = 0; i < 200; ++i) {
      const int64_t batch = 1 + (i + seed) % kMaxBatch, seq = 1 + (i * 3 + seed) % kMaxSeq;
      Io io(batch, seq, i + seed);
      *ok = *ok && bertc_k_api_run(&kTiny, ctx, batch, seq, io.in, io.outs) == BERTC_OK && io.correct();
    }
  };
  std::thread ta(loop, a.p, &okA, 0), tb(loop, b.p, &okB, 5);
  ta.join();
  tb.join();
  CHECK(okA);
  CHECK(okB);
}

namespace {

/// A body that waits inside the run until the test opens the gate, so a
/// second call on the same context meets a run in progress for certain.
std::atomic<bool> gateEntered{false}, gateOpen{false};

int gatedBody(const bertc_k_exec* exec, int64_t batch, int64_t seq, const void* const* in, void* const* out,
              unsigned char* arena) {
  gateEntered = true;
  while (!gateOpen) std::this_thread::yield();
  return tinyBody(exec, batch, seq, in, out, arena);
}

const bertc_k_model kGated = {"gated", 2, 1, kInputs, kOutputs, kMaxBatch, kMaxSeq, 100, tinyScratch, gatedBody, 0, 0, nullptr};

}  // namespace

TEST_CASE("libmodel API: a second run on a busy context is BERTC_ERR_BUSY", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  void* ctx = nullptr;
  REQUIRE(bertc_k_api_create(&kGated, &ctx, 1) == BERTC_OK);
  gateEntered = false;
  gateOpen = false;
  Io first(2, 5);
  int firstStatus = -1;
  std::thread running([&] { firstStatus = bertc_k_api_run(&kGated, ctx, 2, 5, first.in, first.outs); });
  while (!gateEntered) std::this_thread::yield();

  Io second(3, 4);
  std::vector<unsigned char> scratch(bertc_k_api_scratch_bytes(&kGated, 3, 4));
  CHECK(bertc_k_api_run(&kGated, ctx, 3, 4, second.in, second.outs) == BERTC_ERR_BUSY);
  CHECK(std::string(bertc_rt_last_error()) ==
        "gated_run: the context is busy: a run on it is in progress (on another thread, or this call is nested in "
        "it); a context runs one call at a time, use one per thread");
  CHECK(bertc_k_api_run_scratch(&kGated, ctx, 3, 4, second.in, second.outs, scratch.data(), scratch.size()) ==
        BERTC_ERR_BUSY);
  // Refused before any check: even a bad shape is BUSY, and nothing was written.
  CHECK(bertc_k_api_run(&kGated, ctx, 0, 4, second.in, second.outs) == BERTC_ERR_BUSY);
  CHECK(second.out == std::vector<float>(12, -1.0f));
  // The context's record belongs to the run in progress: BUSY does not write it.
  CHECK(std::string(bertc_k_api_last_error(ctx)).empty());

  gateOpen = true;
  running.join();
  CHECK(firstStatus == BERTC_OK);
  CHECK(first.correct());
  // Released on success and on every error path.
  CHECK(bertc_k_api_run(&kGated, ctx, 0, 4, second.in, second.outs) == BERTC_ERR_SHAPE);
  CHECK(bertc_k_api_run_scratch(&kGated, ctx, 3, 4, second.in, second.outs, scratch.data(), 1) == BERTC_ERR_NO_MEMORY);
  CHECK(bertc_k_api_run(&kGated, ctx, 3, 4, second.in, second.outs) == BERTC_OK);
  CHECK(bertc_k_api_run_scratch(&kGated, ctx, 3, 4, second.in, second.outs, scratch.data(), scratch.size()) ==
        BERTC_OK);
  CHECK(second.correct());
  bertc_k_api_destroy(ctx);
}

#ifdef BERTC_LIBMODEL_BITCODE_FILE
#include <fstream>
#include <iterator>

#include "libmodel_bitcode.h"

TEST_CASE("libmodel: the embedded bitcode is the built file", "[libmodel]") {
  std::ifstream file(BERTC_LIBMODEL_BITCODE_FILE, std::ios::binary);
  REQUIRE(file);
  const std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const std::string_view embedded = bertc::cpu::libmodelBitcode(kIsa);
  CHECK(embedded.substr(0, 4) == "BC\xC0\xDE");
  CHECK(embedded.size() == bytes.size());
  CHECK(embedded == bytes);
}
#endif
