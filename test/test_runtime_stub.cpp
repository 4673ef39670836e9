// libbertc_rt: errors, thread pool / parallel_for, host schedulers, arena.
// Every test is deterministic (coverage and counts, not timings) and the
// whole file runs in well under a second.
#include <catch2/catch.hpp>

#include "bertc_rt.h"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

/// Records how often each index was visited and which workers ran.
struct Coverage {
  explicit Coverage(size_t n, int workers) : hits(n), workerUsed(static_cast<size_t>(workers)) {}
  std::vector<std::atomic<int>> hits;
  std::vector<std::atomic<int>> workerUsed;  // chunks run per worker index
  std::atomic<int> badWorker{0};
  std::atomic<int> emptyChunks{0};
};

void visit(void* ctx, size_t begin, size_t end, int worker) {
  auto* c = static_cast<Coverage*>(ctx);
  if (worker < 0 || static_cast<size_t>(worker) >= c->workerUsed.size()) {
    ++c->badWorker;
    return;
  }
  if (begin >= end) ++c->emptyChunks;
  c->workerUsed[static_cast<size_t>(worker)]++;
  for (size_t i = begin; i < end; ++i) c->hits[i]++;
}

/// Every index of [0, n) visited exactly once.
bool exactlyOnce(const Coverage& c) {
  for (const auto& h : c.hits)
    if (h.load() != 1) return false;
  return true;
}

bool lastErrorMentions(const char* text) { return std::strstr(bertc_rt_last_error(), text) != nullptr; }

}  // namespace

TEST_CASE("runtime: status strings name every code", "[runtime]") {
  CHECK(std::string(bertc_rt_status_string(BERTC_OK)) == "BERTC_OK");
  CHECK(std::string(bertc_rt_status_string(BERTC_ERR_NULL_ARG)) == "BERTC_ERR_NULL_ARG");
  CHECK(std::string(bertc_rt_status_string(BERTC_ERR_OUT_OF_RANGE)) == "BERTC_ERR_OUT_OF_RANGE");
  CHECK(std::string(bertc_rt_status_string(BERTC_ERR_NO_MEMORY)) == "BERTC_ERR_NO_MEMORY");
  CHECK(std::string(bertc_rt_status_string(BERTC_ERR_INVALID)) == "BERTC_ERR_INVALID");
  CHECK(std::string(bertc_rt_status_string(BERTC_ERR_SHAPE)) == "BERTC_ERR_SHAPE");
  CHECK(std::string(bertc_rt_status_string(BERTC_ERR_BUSY)) == "BERTC_ERR_BUSY");
  CHECK(std::string(bertc_rt_status_string(BERTC_ERR_DEVICE)) == "BERTC_ERR_DEVICE");
  CHECK(std::string(bertc_rt_status_string(BERTC_ERR_SYSTEM)) == "BERTC_ERR_SYSTEM");
  CHECK(std::string(bertc_rt_status_string(-1)) == "BERTC_ERR_UNKNOWN");
  CHECK(std::string(bertc_rt_status_string(BERTC_RT_STATUS_COUNT)) == "BERTC_ERR_UNKNOWN");
}

TEST_CASE("runtime: error messages are formatted, bounded and per thread", "[runtime]") {
  bertc_rt_clear_error();
  CHECK(bertc_rt_last_status() == BERTC_OK);
  CHECK(std::string(bertc_rt_last_error()).empty());

  bertc_rt_error ctx{};
  CHECK(bertc_rt_error_set(&ctx, BERTC_ERR_OUT_OF_RANGE, "token id %d at [%d, %d] is outside [0, %d)", 31000, 0, 5,
                           30522) == BERTC_ERR_OUT_OF_RANGE);
  CHECK(ctx.status == BERTC_ERR_OUT_OF_RANGE);
  CHECK(std::string(ctx.message) == "token id 31000 at [0, 5] is outside [0, 30522)");
  CHECK(bertc_rt_last_status() == BERTC_ERR_OUT_OF_RANGE);
  CHECK(std::string(bertc_rt_last_error()) == ctx.message);

  SECTION("a long message is cut, never overflowed") {
    std::string longText(4 * BERTC_RT_MESSAGE_MAX, 'x');
    bertc_rt_error_set(&ctx, BERTC_ERR_INVALID, "%s", longText.c_str());
    CHECK(std::strlen(ctx.message) == BERTC_RT_MESSAGE_MAX - 1);
    CHECK(std::strlen(bertc_rt_last_error()) == BERTC_RT_MESSAGE_MAX - 1);
  }
  SECTION("another thread has its own record") {
    int otherStatus = -1;
    std::string otherMessage = "unset";
    std::thread([&] {
      otherStatus = bertc_rt_last_status();
      otherMessage = bertc_rt_last_error();
      bertc_rt_error_set(nullptr, BERTC_ERR_SYSTEM, "from the other thread");
    }).join();
    CHECK(otherStatus == BERTC_OK);
    CHECK(otherMessage.empty());
    CHECK(bertc_rt_last_status() == BERTC_ERR_OUT_OF_RANGE);
  }
  SECTION("BERTC_OK with no format clears") {
    CHECK(bertc_rt_error_set(&ctx, BERTC_OK, nullptr) == BERTC_OK);
    CHECK(ctx.status == BERTC_OK);
    CHECK(ctx.message[0] == '\0');
    CHECK(bertc_rt_last_status() == BERTC_OK);
  }
  bertc_rt_clear_error();
}

TEST_CASE("runtime: parallel_for covers every index exactly once", "[runtime]") {
  for (int threads = 1; threads <= 4; ++threads) {
    bertc_rt_pool* pool = bertc_rt_pool_create(threads);
    REQUIRE(pool != nullptr);
    REQUIRE(bertc_rt_pool_num_workers(pool) == threads);
    for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{7}, size_t{1000}, size_t{100003}}) {
      INFO("threads " << threads << ", n " << n);
      Coverage c(n, threads);
      REQUIRE(bertc_rt_parallel_for(pool, n, visit, &c) == BERTC_OK);
      CHECK(exactlyOnce(c));
      CHECK(c.badWorker == 0);
      CHECK(c.emptyChunks == 0);
      // Chunks are min(threads, n), one per worker index.
      int chunks = 0;
      for (auto& w : c.workerUsed) {
        CHECK(w.load() <= 1);
        chunks += w.load();
      }
      CHECK(static_cast<size_t>(chunks) == std::min(static_cast<size_t>(threads), n));
    }
    // The same pool serves many calls in a row.
    for (int rep = 0; rep < 50; ++rep) {
      Coverage c(37, threads);
      REQUIRE(bertc_rt_parallel_for(pool, 37, visit, &c) == BERTC_OK);
      CHECK(exactlyOnce(c));
    }
    CHECK(bertc_rt_pool_destroy(pool) == BERTC_OK);
  }
}

TEST_CASE("runtime: chunks are contiguous and near-equal", "[runtime]") {
  struct Ranges {
    size_t begin[4] = {};
    size_t end[4] = {};
  } r;
  bertc_rt_pool* pool = bertc_rt_pool_create(4);
  REQUIRE(pool != nullptr);
  auto record = [](void* ctx, size_t begin, size_t end, int worker) {
    auto* rr = static_cast<Ranges*>(ctx);
    rr->begin[worker] = begin;
    rr->end[worker] = end;
  };
  REQUIRE(bertc_rt_parallel_for(pool, 10, record, &r) == BERTC_OK);
  // 10 over 4: 3, 3, 2, 2, in worker order.
  CHECK(r.begin[0] == 0);
  CHECK(r.end[0] == 3);
  CHECK(r.begin[1] == 3);
  CHECK(r.end[1] == 6);
  CHECK(r.begin[2] == 6);
  CHECK(r.end[2] == 8);
  CHECK(r.begin[3] == 8);
  CHECK(r.end[3] == 10);
  bertc_rt_pool_destroy(pool);
}

TEST_CASE("runtime: a NULL pool runs inline on the calling thread", "[runtime]") {
  CHECK(bertc_rt_pool_num_workers(nullptr) == 1);
  struct Seen {
    std::thread::id thread;
    size_t begin = 99, end = 99;
    int worker = -1, calls = 0;
  } seen;
  auto record = [](void* ctx, size_t begin, size_t end, int worker) {
    auto* s = static_cast<Seen*>(ctx);
    s->thread = std::this_thread::get_id();
    s->begin = begin;
    s->end = end;
    s->worker = worker;
    ++s->calls;
  };
  REQUIRE(bertc_rt_parallel_for(nullptr, 12345, record, &seen) == BERTC_OK);
  CHECK(seen.calls == 1);
  CHECK(seen.thread == std::this_thread::get_id());
  CHECK(seen.begin == 0);
  CHECK(seen.end == 12345);
  CHECK(seen.worker == 0);
}

TEST_CASE("runtime: threads <= 0 means one per online CPU", "[runtime]") {
  unsigned cpus = std::thread::hardware_concurrency();
  for (int threads : {0, -3}) {
    bertc_rt_pool* pool = bertc_rt_pool_create(threads);
    REQUIRE(pool != nullptr);
    if (cpus != 0) CHECK(bertc_rt_pool_num_workers(pool) == static_cast<int>(cpus));
    Coverage c(1000, bertc_rt_pool_num_workers(pool));
    REQUIRE(bertc_rt_parallel_for(pool, 1000, visit, &c) == BERTC_OK);
    CHECK(exactlyOnce(c));
    bertc_rt_pool_destroy(pool);
  }
  bertc_rt_clear_error();
  CHECK(bertc_rt_pool_create(BERTC_RT_MAX_THREADS + 1) == nullptr);
  CHECK(bertc_rt_last_status() == BERTC_ERR_OUT_OF_RANGE);
  CHECK(lastErrorMentions("at most"));
}

namespace {

/// A host scheduler: runs the work itself in reversed chunks of 3, counting
/// its calls, so the test can tell it was used and not the runtime's threads.
struct HostScheduler {
  int calls = 0;
  size_t lastN = 0;
};

void hostParallelFor(void* user, size_t n, bertc_rt_task_fn fn, void* ctx) {
  auto* host = static_cast<HostScheduler*>(user);
  ++host->calls;
  host->lastN = n;
  size_t chunks = (n + 2) / 3;
  for (size_t c = chunks; c-- > 0;) {
    size_t begin = c * 3, end = std::min(n, begin + 3);
    fn(ctx, begin, end, static_cast<int>(c % 2));
  }
}

}  // namespace

TEST_CASE("runtime: a host scheduler is used wherever a pool is", "[runtime]") {
  HostScheduler host;
  bertc_rt_scheduler sched{&host, hostParallelFor, 2};
  bertc_rt_pool* pool = bertc_rt_pool_from_scheduler(&sched);
  REQUIRE(pool != nullptr);
  CHECK(bertc_rt_pool_num_workers(pool) == 2);
  Coverage c(1000, 2);
  REQUIRE(bertc_rt_parallel_for(pool, 1000, visit, &c) == BERTC_OK);
  CHECK(host.calls == 1);
  CHECK(host.lastN == 1000);
  CHECK(exactlyOnce(c));
  CHECK(c.badWorker == 0);
  CHECK(c.workerUsed[0] + c.workerUsed[1] == 334);

  // n == 0 never reaches the host.
  REQUIRE(bertc_rt_parallel_for(pool, 0, visit, &c) == BERTC_OK);
  CHECK(host.calls == 1);
  CHECK(bertc_rt_pool_destroy(pool) == BERTC_OK);

  SECTION("a malformed scheduler is refused") {
    bertc_rt_clear_error();
    bertc_rt_scheduler noFn{&host, nullptr, 2};
    CHECK(bertc_rt_pool_from_scheduler(&noFn) == nullptr);
    CHECK(bertc_rt_last_status() == BERTC_ERR_NULL_ARG);
    CHECK(lastErrorMentions("parallel_for is NULL"));
    bertc_rt_scheduler noWorkers{&host, hostParallelFor, 0};
    CHECK(bertc_rt_pool_from_scheduler(&noWorkers) == nullptr);
    CHECK(bertc_rt_last_status() == BERTC_ERR_OUT_OF_RANGE);
  }
}

namespace {

struct Nested {
  bertc_rt_pool* pool;
  std::atomic<int> innerStatus{-1};
};

void doNothing(void*, size_t, size_t, int) {}

void callAgain(void* ctx, size_t, size_t, int worker) {
  auto* nested = static_cast<Nested*>(ctx);
  if (worker == 0) nested->innerStatus = bertc_rt_parallel_for(nested->pool, 10, doNothing, nullptr);
}

}  // namespace

TEST_CASE("runtime: a nested parallel_for on the same pool is refused, not deadlocked", "[runtime]") {
  for (int threads : {1, 3}) {
    Nested nested;
    nested.pool = bertc_rt_pool_create(threads);
    REQUIRE(nested.pool != nullptr);
    REQUIRE(bertc_rt_parallel_for(nested.pool, 8, callAgain, &nested) == BERTC_OK);
    CHECK(nested.innerStatus == BERTC_ERR_BUSY);
    // The pool is usable again afterwards.
    Coverage c(100, threads);
    CHECK(bertc_rt_parallel_for(nested.pool, 100, visit, &c) == BERTC_OK);
    CHECK(exactlyOnce(c));
    bertc_rt_pool_destroy(nested.pool);
  }
}

TEST_CASE("runtime: two callers racing for one pool get BERTC_ERR_BUSY, never a mixed job", "[runtime]") {
  // Misuse of the contract (one caller at a time): every call either runs
  // completely and alone or is refused, whatever the interleaving.
  bertc_rt_pool* pool = bertc_rt_pool_create(3);
  REQUIRE(pool != nullptr);
  std::atomic<int> ran{0}, busy{0}, wrong{0};
  auto caller = [&] {
    for (int rep = 0; rep < 200; ++rep) {
      Coverage c(500, 3);
      int status = bertc_rt_parallel_for(pool, 500, visit, &c);
      if (status == BERTC_OK) {
        ++ran;
        if (!exactlyOnce(c) || c.badWorker != 0) ++wrong;
      } else if (status == BERTC_ERR_BUSY) {
        ++busy;
        for (const auto& h : c.hits)
          if (h.load() != 0) ++wrong;
      } else {
        ++wrong;
      }
    }
  };
  std::thread a(caller), b(caller);
  a.join();
  b.join();
  bertc_rt_pool_destroy(pool);
  CHECK(wrong == 0);
  CHECK(ran + busy == 400);
  CHECK(ran > 0);
}

TEST_CASE("runtime: independent pools on independent threads", "[runtime]") {
  constexpr int kHosts = 4;
  std::vector<int> failures(kHosts, 0);
  std::vector<std::thread> hosts;
  for (int h = 0; h < kHosts; ++h) {
    hosts.emplace_back([h, &failures] {
      bertc_rt_pool* pool = bertc_rt_pool_create(1 + h % 3);
      if (pool == nullptr) {
        failures[h] = 1000;
        return;
      }
      for (int rep = 0; rep < 40; ++rep) {
        size_t n = 1000 + static_cast<size_t>(rep * 37 + h);
        Coverage c(n, bertc_rt_pool_num_workers(pool));
        if (bertc_rt_parallel_for(pool, n, visit, &c) != BERTC_OK || !exactlyOnce(c) || c.badWorker != 0)
          ++failures[h];
      }
      bertc_rt_pool_destroy(pool);
    });
  }
  for (auto& t : hosts) t.join();
  for (int h = 0; h < kHosts; ++h) CHECK(failures[h] == 0);
}

TEST_CASE("runtime: arena over a caller-owned buffer", "[runtime]") {
  alignas(64) unsigned char buffer[1024];
  bertc_rt_arena arena;
  REQUIRE(bertc_rt_arena_init(&arena, buffer, sizeof buffer) == BERTC_OK);
  CHECK(bertc_rt_arena_used(&arena) == 0);

  void* a = bertc_rt_arena_alloc(&arena, 10, 1);
  CHECK(a == buffer);
  void* b = bertc_rt_arena_alloc(&arena, 100, 64);
  REQUIRE(b != nullptr);
  CHECK(reinterpret_cast<uintptr_t>(b) % 64 == 0);
  CHECK(b == buffer + 64);
  void* c = bertc_rt_arena_alloc(&arena, 8, 0);  // 0: the default, 64
  CHECK(reinterpret_cast<uintptr_t>(c) % BERTC_RT_ARENA_ALIGN == 0);
  for (size_t align : {1u, 2u, 4u, 8u, 16u, 32u, 128u, 256u}) {
    void* p = bertc_rt_arena_alloc(&arena, 3, align);
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<uintptr_t>(p) % align == 0);
    CHECK(static_cast<unsigned char*>(p) + 3 <= buffer + sizeof buffer);
  }
  size_t used = bertc_rt_arena_used(&arena);

  SECTION("exhaustion returns NULL and changes nothing") {
    bertc_rt_clear_error();
    CHECK(bertc_rt_arena_alloc(&arena, sizeof buffer, 1) == nullptr);
    CHECK(bertc_rt_last_status() == BERTC_ERR_NO_MEMORY);
    CHECK(lastErrorMentions("exhausted"));
    CHECK(bertc_rt_arena_used(&arena) == used);
    // A size so large that size + padding would wrap around.
    CHECK(bertc_rt_arena_alloc(&arena, SIZE_MAX, 64) == nullptr);
    CHECK(bertc_rt_arena_alloc(&arena, SIZE_MAX - 10, 1) == nullptr);
    CHECK(bertc_rt_arena_used(&arena) == used);
    // What is left can still be had, to the last byte.
    size_t left = sizeof buffer - used;
    CHECK(bertc_rt_arena_alloc(&arena, left, 1) != nullptr);
    CHECK(bertc_rt_arena_alloc(&arena, 1, 1) == nullptr);
    CHECK(bertc_rt_arena_alloc(&arena, 0, 1) != nullptr);  // zero bytes at the very end
  }
  SECTION("a bad alignment is refused") {
    CHECK(bertc_rt_arena_alloc(&arena, 8, 3) == nullptr);
    CHECK(bertc_rt_last_status() == BERTC_ERR_INVALID);
    CHECK(lastErrorMentions("power of two"));
    CHECK(bertc_rt_arena_used(&arena) == used);
  }
  SECTION("reset hands the same memory out again; peak remembers") {
    CHECK(bertc_rt_arena_reset(&arena) == BERTC_OK);
    CHECK(bertc_rt_arena_used(&arena) == 0);
    CHECK(bertc_rt_arena_peak(&arena) == used);
    CHECK(bertc_rt_arena_alloc(&arena, 10, 1) == buffer);
  }
  SECTION("destroy leaves the caller's buffer alone") {
    buffer[0] = 42;
    CHECK(bertc_rt_arena_destroy(&arena) == BERTC_OK);
    CHECK(buffer[0] == 42);
    CHECK(bertc_rt_arena_alloc(&arena, 1, 1) == nullptr);
  }
}

TEST_CASE("runtime: arena alignment does not depend on the buffer's", "[runtime]") {
  alignas(64) unsigned char storage[512];
  bertc_rt_arena arena;
  REQUIRE(bertc_rt_arena_init(&arena, storage + 3, sizeof storage - 3) == BERTC_OK);
  void* p = bertc_rt_arena_alloc(&arena, 16, 64);
  REQUIRE(p != nullptr);
  CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
  CHECK(p == storage + 64);
}

TEST_CASE("runtime: an owned arena is 64-byte aligned and frees itself", "[runtime]") {
  bertc_rt_arena* arena = bertc_rt_arena_create(1000);
  REQUIRE(arena != nullptr);
  void* first = bertc_rt_arena_alloc(arena, 1, 1);
  REQUIRE(first != nullptr);
  CHECK(reinterpret_cast<uintptr_t>(first) % BERTC_RT_ARENA_ALIGN == 0);
  std::memset(first, 0xab, 1);
  CHECK(bertc_rt_arena_alloc(arena, 999, 1) != nullptr);  // 1000 rounded up to 1024
  CHECK(bertc_rt_arena_alloc(arena, 24, 1) != nullptr);
  CHECK(bertc_rt_arena_alloc(arena, 1, 1) == nullptr);
  CHECK(bertc_rt_arena_destroy(arena) == BERTC_OK);

  bertc_rt_arena* empty = bertc_rt_arena_create(0);
  REQUIRE(empty != nullptr);
  CHECK(bertc_rt_arena_alloc(empty, 1, 1) == nullptr);
  CHECK(bertc_rt_arena_destroy(empty) == BERTC_OK);

  bertc_rt_clear_error();
  CHECK(bertc_rt_arena_create(SIZE_MAX) == nullptr);
  CHECK(bertc_rt_last_status() == BERTC_ERR_NO_MEMORY);
}

TEST_CASE("runtime: every API given NULL says so", "[runtime]") {
  // Each call must fail with BERTC_ERR_NULL_ARG and leave a message naming
  // the function, without touching anything.
  auto expectNullArg = [](const char* function) {
    CHECK(bertc_rt_last_status() == BERTC_ERR_NULL_ARG);
    CHECK(lastErrorMentions(function));
    CHECK(lastErrorMentions("NULL"));
    bertc_rt_clear_error();
  };
  bertc_rt_clear_error();

  CHECK(bertc_rt_arena_init(nullptr, nullptr, 0) == BERTC_ERR_NULL_ARG);
  expectNullArg("bertc_rt_arena_init");
  bertc_rt_arena arena;
  CHECK(bertc_rt_arena_init(&arena, nullptr, 16) == BERTC_ERR_NULL_ARG);
  expectNullArg("bertc_rt_arena_init");
  CHECK(bertc_rt_arena_alloc(nullptr, 8, 8) == nullptr);
  expectNullArg("bertc_rt_arena_alloc");
  CHECK(bertc_rt_arena_reset(nullptr) == BERTC_ERR_NULL_ARG);
  expectNullArg("bertc_rt_arena_reset");
  CHECK(bertc_rt_pool_from_scheduler(nullptr) == nullptr);
  expectNullArg("bertc_rt_pool_from_scheduler");
  CHECK(bertc_rt_parallel_for(nullptr, 10, nullptr, nullptr) == BERTC_ERR_NULL_ARG);
  expectNullArg("bertc_rt_parallel_for");
  bertc_rt_pool* pool = bertc_rt_pool_create(2);
  REQUIRE(pool != nullptr);
  CHECK(bertc_rt_parallel_for(pool, 10, nullptr, nullptr) == BERTC_ERR_NULL_ARG);
  expectNullArg("bertc_rt_parallel_for");
  bertc_rt_pool_destroy(pool);

  // An empty caller-owned arena is allowed (a model may need no scratch).
  CHECK(bertc_rt_arena_init(&arena, nullptr, 0) == BERTC_OK);
  CHECK(bertc_rt_arena_alloc(&arena, 1, 1) == nullptr);

  // Queries and destructors take NULL like free() does: no error, no effect,
  // so cleanup code need not test each handle first.
  CHECK(bertc_rt_arena_used(nullptr) == 0);
  CHECK(bertc_rt_arena_peak(nullptr) == 0);
  CHECK(bertc_rt_pool_num_workers(nullptr) == 1);
  CHECK(bertc_rt_arena_destroy(nullptr) == BERTC_OK);
  CHECK(bertc_rt_pool_destroy(nullptr) == BERTC_OK);
  // A NULL context to error_set records the thread's error only.
  CHECK(bertc_rt_error_set(nullptr, BERTC_ERR_INVALID, "x") == BERTC_ERR_INVALID);
  CHECK(bertc_rt_last_status() == BERTC_ERR_INVALID);
  bertc_rt_clear_error();
}
