// The order between runs of one CUDA context enqueued on different streams.
//
// A context owns one arena, one set of staging buffers, one cuBLASLt
// workspace and one bad-token flag. Two runs enqueued on two streams would
// share them with nothing ordering the GPU work: the second run's input
// copies could overwrite the staging buffers while the first run's graph
// still reads them. The context's mutex orders only the host-side enqueues.
//
// Why an event and not a host wait: run_device must stay asynchronous (a
// host wait per call would serialise the host with the GPU, which is what
// run_device exists to avoid). So each run records the context's event on
// its stream after its last use of the context's memory, and the next run
// makes its own stream wait on that event before its first use. That is one
// cudaEventRecord and one cudaStreamWaitEvent per run, both enqueue-only.
//
// The wait is made even when the stream is the same as last time: the same
// handle is not always the same stream (cudaStreamPerThread names a
// different stream on each thread), and a wait on an event recorded earlier
// on the same stream costs nothing on the GPU.
//
// Templated over the stream operations so the logic is tested without CUDA
// (test/test_cuda_runtime.cpp drives it with fake streams).
#pragma once

namespace bertc::cuda_rt {

/// Ops: a class with
///   using Stream = ...;
///   void record(Stream s);  // records the context's event on s
///   void wait(Stream s);    // s waits for the event's last record
///   void drain();           // the host waits for the event's last record
template <class Ops>
class RunOrder {
 public:
  using Stream = typename Ops::Stream;

  explicit RunOrder(Ops& ops) : ops_(ops) {}

  /// Before a run on `stream` first touches the context's memory: the
  /// stream waits for the previous run, whatever stream it was on.
  void begin(Stream stream) {
    if (recorded_) ops_.wait(stream);
  }

  /// After the run's last use of the context's memory (its output copies
  /// and the bad-token flag's copy) is enqueued on `stream`.
  void end(Stream stream) {
    ops_.record(stream);
    recorded_ = true;
  }

  /// Waits on the host until every run enqueued so far has finished (sync
  /// reads the bad-token flag the last run wrote; destroy frees memory a
  /// run may still use).
  void drain() {
    if (recorded_) ops_.drain();
  }

  bool anyRun() const { return recorded_; }

 private:
  Ops& ops_;
  bool recorded_ = false;
};

}  // namespace bertc::cuda_rt
