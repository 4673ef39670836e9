// The parts of libbertc_rt_cuda that need no GPU: the order between runs on
// different streams (run_order.h), driven by fake streams that follow
// CUDA's rules (work on one stream runs in order; a wait holds a stream
// until the event's last record has completed), and the alignment of what
// the runtime hands to cuBLASLt (alignment.h).
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "alignment.h"
#include "run_order.h"

namespace {

using bertc::cuda_rt::RunOrder;

/// Streams as a log of operations and the happens-before edges CUDA gives
/// them: each op after the op before it on its stream, and a wait after
/// the record it waits for.
class FakeStreams {
 public:
  using Stream = int;

  /// Work a run enqueues; returns its index in the log.
  size_t work(Stream s, std::string what) {
    ops_.push_back({s, std::move(what), kNone});
    return ops_.size() - 1;
  }

  // RunOrder's operations.
  void record(Stream s) {
    ops_.push_back({s, "record", kNone});
    event_ = ops_.size() - 1;
  }
  void wait(Stream s) { ops_.push_back({s, "wait", event_}); }
  void drain() { ++drains; }

  /// Whether op a completes before op b starts under these rules.
  bool happensBefore(size_t a, size_t b) const {
    std::vector<bool> reached(ops_.size(), false);
    reached[a] = true;
    // Edges only go forward in the log, so one pass in order suffices.
    for (size_t i = a + 1; i < ops_.size(); ++i) {
      for (size_t j = i; j-- > a;)
        if (reached[j] && ops_[j].stream == ops_[i].stream) {
          reached[i] = true;
          break;
        }
      if (ops_[i].waitsFor != kNone && reached[ops_[i].waitsFor]) reached[i] = true;
    }
    return reached[b];
  }

  size_t count(const std::string& what) const {
    size_t n = 0;
    for (const Op& op : ops_) n += op.what == what;
    return n;
  }

  int drains = 0;

 private:
  static constexpr size_t kNone = SIZE_MAX;
  struct Op {
    Stream stream;
    std::string what;
    size_t waitsFor;  ///< the record a wait waits for
  };
  std::vector<Op> ops_;
  size_t event_ = kNone;
};

/// One run as the runtime enqueues it: copies in, the graph, copies out.
struct Run {
  size_t first, last;
};

Run enqueueRun(FakeStreams& s, RunOrder<FakeStreams>* order, int stream, const std::string& name) {
  if (order) order->begin(stream);
  Run r{s.work(stream, name + " copy in"), 0};
  s.work(stream, name + " graph");
  r.last = s.work(stream, name + " copy out");
  if (order) order->end(stream);
  return r;
}

}  // namespace

TEST_CASE("cuda runtime: a run on another stream starts after the run before it", "[runtime]") {
  FakeStreams s;
  RunOrder<FakeStreams> order(s);
  const Run a = enqueueRun(s, &order, 1, "A");
  const Run b = enqueueRun(s, &order, 2, "B");
  const Run c = enqueueRun(s, &order, 1, "C");
  const Run d = enqueueRun(s, &order, 3, "D");
  CHECK(s.happensBefore(a.last, b.first));
  CHECK(s.happensBefore(b.last, c.first));
  CHECK(s.happensBefore(c.last, d.first));
  CHECK(s.happensBefore(a.last, d.first));
  // The order is one way: a later run never comes before an earlier one.
  CHECK_FALSE(s.happensBefore(b.first, a.last));
  // The first run waits for nothing; every later one once.
  CHECK(s.count("wait") == 3);
  CHECK(s.count("record") == 4);
}

TEST_CASE("cuda runtime: without the order, runs on two streams overlap (the race the order fixes)", "[runtime]") {
  FakeStreams s;
  const Run a = enqueueRun(s, nullptr, 1, "A");
  const Run b = enqueueRun(s, nullptr, 2, "B");
  CHECK_FALSE(s.happensBefore(a.last, b.first));
}

TEST_CASE("cuda runtime: runs on one stream handle still wait (cudaStreamPerThread is a stream per thread)",
          "[runtime]") {
  FakeStreams s;
  RunOrder<FakeStreams> order(s);
  const Run a = enqueueRun(s, &order, 7, "A");
  const Run b = enqueueRun(s, &order, 7, "B");
  CHECK(s.happensBefore(a.last, b.first));
  CHECK(s.count("wait") == 1);
}

TEST_CASE("cuda runtime: sync and destroy wait on the host only once a run was enqueued", "[runtime]") {
  FakeStreams s;
  RunOrder<FakeStreams> order(s);
  order.drain();
  CHECK(s.drains == 0);
  CHECK_FALSE(order.anyRun());
  enqueueRun(s, &order, 1, "A");
  order.drain();
  CHECK(s.drains == 1);
  CHECK(order.anyRun());
}

TEST_CASE("cuda runtime: pointer alignment as cuBLASLt's MIN_ALIGNMENT preferences take it", "[runtime]") {
  using bertc::cuda_rt::pointerAlignment;
  CHECK(pointerAlignment(0) == 256);
  CHECK(pointerAlignment(0x7f0000001000) == 256);
  CHECK(pointerAlignment(0x7f0000001100) == 256);
  CHECK(pointerAlignment(0x7f0000001080) == 128);
  CHECK(pointerAlignment(0x7f0000001010) == 16);
  CHECK(pointerAlignment(0x7f0000001002) == 2);
  CHECK(pointerAlignment(0x7f0000001001) == 1);
  CHECK(pointerAlignment(0x1000, 16) == 16);
}

TEST_CASE("cuda runtime: device allocations are aligned by hand to 256 bytes", "[runtime]") {
  using namespace bertc::cuda_rt;
  for (uintptr_t raw : {uintptr_t{0x10000}, uintptr_t{0x10010}, uintptr_t{0x100ff}, uintptr_t{0x10101}}) {
    const uintptr_t p = alignAddress(raw);
    CHECK(p % 256 == 0);
    CHECK(p >= raw);
    // The requested bytes still fit in what was allocated.
    for (size_t bytes : {size_t{0}, size_t{1}, size_t{4096}})
      CHECK(p + (bytes ? bytes : 1) <= raw + alignedSize(bytes));
  }
}

TEST_CASE("cuda runtime: the slot stride puts every 16-byte per-slot offset on a 256-byte boundary", "[runtime]") {
  using namespace bertc::cuda_rt;
  // Shapes like the fixtures' (4 x 32), BERT-base's (8 x 128) and odd ones.
  for (int64_t maxBatch : {1, 3, 4, 7, 8}) {
    for (int64_t maxSeq : {1, 7, 13, 32, 128, 509}) {
      const int64_t slots = maxBatch * maxSeq, stride = slotStride(slots);
      INFO("max_batch " << maxBatch << " max_seq " << maxSeq);
      CHECK(stride >= slots);
      CHECK(stride < slots + 16);
      for (int64_t offset = 0; offset <= 4096; offset += kSlotOffsetAlignment)
        CHECK((offset * stride) % kGemmAlignment == 0);
      // A buffer of b bytes per slot ends before the next offset's buffer.
      for (int64_t b : {1, 16, 96, 1536})
        CHECK(b * slots <= b * stride);
    }
  }
}
