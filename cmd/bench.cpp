// `bertc bench`: compile a model in process (LLVM ORC JIT for the CPU, NVRTC
// and the CUDA runtime stub for the GPU), run it on random inputs, and report latency, throughput, compile time and memory; with
// --compare, the error against the reference interpreter on the original
// model.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <random>

#include "cmd/bench_runner.h"
#include "cmd/commands.h"
#include "cmd/json.h"
#include "cmd/model_loading.h"
#include "codegen_cpu/compile.h"
#include "ir/interp.h"
#include "ir/ops.h"
#include "passes/architecture.h"
#include "passes/pipeline.h"

namespace bertc::cli {
namespace {

using Clock = std::chrono::steady_clock;

/// The runtime's thread pool takes at most this many (BERTC_RT_MAX_THREADS).
constexpr int kMaxThreads = 1024;

struct BenchFlags {
  std::string model;
  std::string target = "cpu";
  int device = 0;
  int64_t batch = 1;
  int64_t seq = 0;  ///< 0: 128, or the model's position table if shorter
  int threads = 1;
  std::string lengths;
  int warmup = 3;
  int runs = 0;
  double minTime = 2.0;
  bool compare = false;
  bool profile = false;
  bool json = false;
  uint64_t seed = 1;
  std::string precision = "fp32";
  cpu::CompileOptions cpu;
};


double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

/// "uniform:16-128" -> {16, 128}.
std::optional<std::pair<int64_t, int64_t>> parseLengths(const std::string& s) {
  int64_t lo = 0, hi = 0;
  if (std::sscanf(s.c_str(), "uniform:%ld-%ld", &lo, &hi) != 2 || lo < 1 || hi < lo) return std::nullopt;
  return std::make_pair(lo, hi);
}

/// The graph input a value is computed from through Casts and Identities.
const ir::Value* sourceInput(const ir::Value* v) {
  v = ir::throughIdentityAndCast(v);
  return v && v->isInput ? v : nullptr;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

/// The CPU target through the ORC JIT.
class CpuRunner : public BenchRunner {
 public:
  CpuRunner(std::unique_ptr<cpu::JitModel> m, const ir::Graph& g, int threads, std::string isa,
            cpu::Precision precision)
      : m_(std::move(m)), threads_(threads), isa_(std::move(isa)), precision_(cpu::precisionName(precision)) {
    const cpu::Plan& p = m_->plan();
    const ir::Value* mask = p.mask ? sourceInput(p.mask) : nullptr;
    for (size_t i = 0; i < g.inputs().size(); ++i) {
      const ir::Value* in = g.inputs()[i];
      auto range = p.idLimits.find(in);
      idLimit.push_back(range == p.idLimits.end() ? 0 : range->second);
      if (in == mask) maskInput = static_cast<int>(i);
    }
    for (const ir::Value* o : g.outputs()) outputs_.push_back(o);
  }
  ~CpuRunner() override {
    if (ctx_) m_->destroyContext(ctx_);
  }

  std::string describe() const override {
    // The tier is the bf16 GEMM's; fp32 GEMMs run the object's ISA.
    if (precision_ == "fp32") return fmt::format("cpu ({}), fp32, {} thread(s)", isa_, threads_);
    return fmt::format("cpu ({}), {} GEMMs on {}, {} thread(s)", isa_, precision_, m_->cpuTier(), threads_);
  }

  std::vector<int64_t> outputShape(size_t o, int64_t batch, int64_t seq) const override {
    std::vector<int64_t> shape;
    for (const ir::SymExpr& d : outputs_.at(o)->type.shape)
      shape.push_back(d == m_->plan().batchDim ? batch : d == m_->plan().seqDim ? seq : d.constValue().value_or(1));
    return shape;
  }

  Status start(int64_t batch, int64_t seq, const std::vector<const void*>& in, const std::vector<void*>& out) override {
    batch_ = batch;
    seq_ = seq;
    in_ = in;
    out_ = out;
    if (m_->createContext(&ctx_, threads_) != 0) return Status::error(std::string("bench: ") + m_->lastError(nullptr));
    return Status();
  }

  Status run() override {
    if (m_->runV(ctx_, batch_, seq_, in_.data(), out_.data()) != 0)
      return Status::error(std::string("bench: run failed: ") + m_->lastError(ctx_));
    return Status();
  }

  Status finish() override {
    m_->destroyContext(ctx_);
    ctx_ = nullptr;
    return Status();
  }

  const cpu::JitModel& jit() const { return *m_; }

 private:
  std::unique_ptr<cpu::JitModel> m_;
  int threads_;
  std::string isa_;
  std::string precision_;
  std::vector<const ir::Value*> outputs_;
  void* ctx_ = nullptr;
  int64_t batch_ = 0, seq_ = 0;
  std::vector<const void*> in_;
  std::vector<void*> out_;
};

int runBench(BenchFlags& f) {
  const bool cuda = f.target == "cuda-fp16" || f.target == "cuda-fp32";
  if (!cuda && f.target != "cpu")
    return reportError(fmt::format("bench: --target={}: expected cpu, cuda-fp16 or cuda-fp32", f.target));
  if (cuda && f.profile) return reportError("bench: --profile is for --target=cpu (use nsys for the CUDA targets)");
  if (auto p = cpu::parsePrecision(f.precision)) f.cpu.precision = *p;
  else return reportError(fmt::format("bench: --precision={}: expected fp32 or bf16", f.precision));
  if (cuda && f.cpu.precision != cpu::Precision::Fp32)
    return reportError("bench: --precision applies to --target=cpu (the CUDA targets' precision is in their name)");
  if (f.batch < 1 || f.seq < 0) return reportError("bench: --batch and --seq must be at least 1");
  if (f.batch > plan::kMaxBatchBound)
    return reportError(fmt::format("bench: --batch {} is above the largest supported, {}", f.batch, plan::kMaxBatchBound));
  if (f.threads < 0 || f.threads > kMaxThreads)
    return reportError(fmt::format("bench: --threads {}: expected 0 (one per CPU) to {}", f.threads, kMaxThreads));
  // NaN compares false with everything: a NaN --min-time would never be reached.
  if (!(f.minTime >= 0 && f.minTime <= 86400))
    return reportError(fmt::format("bench: --min-time {}: expected seconds from 0 to 86400", f.minTime));
  if (f.runs < 0 || f.warmup < 0) return reportError("bench: --runs and --warmup must not be negative");
  std::optional<std::pair<int64_t, int64_t>> lengths;
  if (!f.lengths.empty() && !(lengths = parseLengths(f.lengths)))
    return reportError(fmt::format("bench: --lengths {}: expected uniform:MIN-MAX with 1 <= MIN <= MAX", f.lengths));
  std::optional<cpu::Target> target;
  if (!cuda) {
    auto t = cpu::resolveTarget(f.cpu.cpu);
    if (!t) return reportError("bench: " + t.message());
    target = *t;
  }
  f.cpu.profile = f.profile;

  const auto t0 = Clock::now();
  auto g = loadModelOrReport(f.model);
  if (!g) return 1;
  // The sequence length: --seq, or 128 capped at the position table. Past
  // the table the model cannot run: say so in terms of --seq.
  const int64_t positions = passes::detectArchitecture(*g).maxPositions;
  if (f.seq == 0) f.seq = positions > 0 ? std::min<int64_t>(128, positions) : 128;
  if (positions > 0 && f.seq > positions)
    return reportError(fmt::format("{}: --seq {} is longer than the model's {} positions", f.model, f.seq, positions));
  if (f.cpu.maxBatch == 0) f.cpu.maxBatch = f.batch;
  if (f.cpu.maxSeq == 0) f.cpu.maxSeq = f.seq;
  auto fused = passes::runPipeline(*g, passes::PipelineOptions{});
  if (!fused.ok()) return reportError(f.model + ": " + fused.message());
  std::unique_ptr<BenchRunner> runner;
  const CpuRunner* cpuRunner = nullptr;
  if (cuda) {
    CudaBenchOptions o;
    o.fp16 = f.target == "cuda-fp16";
    o.device = f.device;
    o.maxBatch = f.cpu.maxBatch;
    o.maxSeq = f.cpu.maxSeq;
    auto r = makeCudaRunner(*g, f.model, o);
    if (!r) return reportError(r.message());
    runner = std::move(*r);
  } else {
    auto jit = cpu::JitModel::create(*g, f.model, f.cpu);
    if (!jit) return reportError(jit.message());
    // "native" is named with what it resolved to, so a figure says which kernels made it.
    const std::string isa = f.cpu.cpu == "native"
                                ? fmt::format("native: {}, {}", target->cpu, cpu::isaName(target->isa))
                                : f.cpu.cpu;
    auto r = std::make_unique<CpuRunner>(std::move(*jit), *g, f.threads, isa, f.cpu.precision);
    cpuRunner = r.get();
    runner = std::move(r);
  }
  BenchRunner& m = *runner;
  const double compileSeconds = seconds(t0, Clock::now());

  // Inputs: ids uniform in their table, the mask by --lengths (right-padded), the rest 0.
  std::mt19937_64 rng(f.seed);
  std::vector<int64_t> lens(static_cast<size_t>(f.batch), f.seq);
  if (lengths)
    for (auto& l : lens) l = std::min(f.seq, std::uniform_int_distribution<int64_t>(lengths->first, lengths->second)(rng));
  std::vector<ir::Tensor> inputs;
  for (size_t k = 0; k < g->inputs().size(); ++k) {
    const ir::Value* in = g->inputs()[k];
    ir::Tensor t = ir::Tensor::allocate(in->type.dtype, {f.batch, f.seq});
    const int64_t limit = m.idLimit.at(k);
    for (int64_t b = 0; b < f.batch; ++b)
      for (int64_t s = 0; s < f.seq; ++s) {
        const size_t i = static_cast<size_t>(b * f.seq + s);
        const bool real = s < lens[static_cast<size_t>(b)];
        int64_t v = 0;
        if (static_cast<int>(k) == m.maskInput) v = real ? 1 : 0;
        else if (limit > 2 && real) v = std::uniform_int_distribution<int64_t>(1, limit - 1)(rng);
        t.setInt(i, v);
      }
    inputs.push_back(std::move(t));
  }
  std::vector<ir::Tensor> outputs;
  for (size_t o = 0; o < g->outputs().size(); ++o) {
    // The CUDA targets return float activations as float32.
    const ir::DType dt = cuda && ir::isFloat(g->outputs()[o]->type.dtype) ? ir::DType::F32 : g->outputs()[o]->type.dtype;
    outputs.push_back(ir::Tensor::allocate(dt, m.outputShape(o, f.batch, f.seq)));
  }
  std::vector<const void*> in;
  std::vector<void*> out;
  for (auto& t : inputs) in.push_back(t.data());
  for (auto& t : outputs) out.push_back(t.mutableData());

  if (Status st = m.start(f.batch, f.seq, in, out); !st.ok()) return reportError(st.message());
  std::vector<double> times;
  const auto runStart = Clock::now();
  int allRuns = 0;
  for (int i = 0;; ++i, ++allRuns) {
    const auto a = Clock::now();
    if (Status st = m.run(); !st.ok()) return reportError(st.message());
    const auto b = Clock::now();
    if (i >= f.warmup) times.push_back(seconds(a, b) * 1e3);
    const bool enough = f.runs > 0 ? static_cast<int>(times.size()) >= f.runs
                                   : (times.size() >= 10 && seconds(runStart, b) >= f.minTime);
    if (enough) {
      ++allRuns;
      break;
    }
  }
  if (Status st = m.finish(); !st.ok()) return reportError(st.message());

  const double median = percentile(times, 0.5), p90 = percentile(times, 0.9), p99 = percentile(times, 0.99);
  const double minimum = *std::min_element(times.begin(), times.end());
  int64_t realTokens = 0;
  for (int64_t l : lens) realTokens += l;

  // --compare: the reference interpreter on the original model, real tokens only.
  std::vector<double> errors, cosines;
  std::vector<bool> tokenOutput;
  if (f.compare) {
    auto original = loadModelOrReport(f.model);
    if (!original) return 1;
    auto ref = ir::interpret(*original, inputs);
    if (!ref.ok()) return reportError("bench: reference interpreter: " + ref.message());
    for (size_t o = 0; o < outputs.size(); ++o) {
      const ir::Tensor& a = outputs[o];
      const ir::Tensor& r = (*ref)[o];
      // Token rows: [batch, seq, ...] by the model's own dims (a pooled
      // [batch, hidden] whose hidden happens to equal --seq is not).
      const ir::Shape& dims = g->outputs()[o]->type.shape;
      const bool tokenRows = a.shape().size() >= 2 && a.shape()[1] == f.seq && a.shape()[0] == f.batch &&
                             (dims.size() >= 3 || !dims[1].isConst());
      const bool seqRows = !tokenRows && a.shape().size() >= 2 && a.shape()[0] == f.batch;
      // A row: one token's vector (token outputs), one sequence's (pooled).
      const int64_t rowElems = tokenRows ? a.numel() / (f.batch * f.seq) : seqRows ? a.numel() / f.batch : a.numel();
      double maxErr = 0, maxRef = 0, minCos = 1;
      for (int64_t row = 0; row * rowElems < a.numel(); ++row) {
        if (tokenRows && row % f.seq >= lens[static_cast<size_t>(row / f.seq)]) continue;
        double dot = 0, na = 0, nr = 0;
        for (int64_t i = row * rowElems; i < (row + 1) * rowElems; ++i) {
          const double x = a.getDouble(i), y = r.getDouble(i);
          maxErr = std::max(maxErr, std::fabs(x - y));
          maxRef = std::max(maxRef, std::fabs(y));
          dot += x * y;
          na += x * x;
          nr += y * y;
        }
        if (na > 0 && nr > 0) minCos = std::min(minCos, dot / std::sqrt(na * nr));
        else if (na != nr) minCos = 0;  // one all zero, the other not
      }
      errors.push_back(maxRef > 0 ? maxErr / maxRef : maxErr);
      cosines.push_back(minCos);
      tokenOutput.push_back(tokenRows);
    }
  }

  // --profile: milliseconds per run in each step, and per kind of step.
  struct ProfileRow {
    std::string what;
    double ms;
  };
  std::vector<ProfileRow> steps, kinds;
  if (f.profile) {
    const cpu::JitModel& jm = cpuRunner->jit();
    const std::vector<double> secs = jm.profile();
    std::map<std::string, double> byKind;
    for (size_t i = 0; i < secs.size(); ++i) {
      const cpu::Step& st = jm.plan().steps[i];
      const double ms = secs[i] * 1e3 / allRuns;
      std::string kind = st.node ? std::string(ir::opName(st.node->op)) : plan::kindName(st.kind);
      if (st.fused) kind += "+" + std::string(ir::opName(st.fused->op));
      steps.push_back({(st.node ? st.node->name : std::string("tokens")) + " (" + kind + ")", ms});
      byKind[kind] += ms;
    }
    for (const auto& [k, ms] : byKind) kinds.push_back({k, ms});
    std::sort(kinds.begin(), kinds.end(), [](const ProfileRow& a, const ProfileRow& b) { return a.ms > b.ms; });
  }

  if (f.json) {
    JsonWriter j;
    j.beginObject().field("model", f.model).field("target", f.target).field("engine", m.describe());
    if (!cuda) j.field("cpu", f.cpu.cpu).field("precision", f.precision);
    j.field("batch", f.batch).field("seq", f.seq).field("threads", static_cast<int64_t>(f.threads));
    j.field("real_tokens", realTokens).field("compile_seconds", compileSeconds);
    j.field("runs", static_cast<int64_t>(times.size())).field("median_ms", median).field("min_ms", minimum);
    j.field("p90_ms", p90).field("p99_ms", p99);
    j.field("sequences_per_second", static_cast<double>(f.batch) / (median / 1e3));
    j.field("peak_memory_bytes", static_cast<int64_t>(peakRssBytes()));
    j.beginArray("times_ms");
    for (double t : times) j.field(nullptr, t);
    j.endArray();
    if (f.compare) {
      j.beginObject("max_error");
      for (size_t o = 0; o < errors.size(); ++o) j.field(g->outputs()[o]->name.c_str(), errors[o]);
      j.endObject();
      j.beginObject("min_cosine");
      for (size_t o = 0; o < cosines.size(); ++o) j.field(g->outputs()[o]->name.c_str(), cosines[o]);
      j.endObject();
    }
    if (f.profile) {
      j.beginObject("profile_ms_by_op");
      for (const auto& r : kinds) j.field(r.what.c_str(), r.ms);
      j.endObject();
      j.beginArray("profile_ms_by_step");
      for (const auto& r : steps) j.beginObject().field("step", r.what).field("ms", r.ms).endObject();
      j.endArray();
    }
    j.endObject();
    fmt::print("{}\n", j.str());
    return 0;
  }
  fmt::print("model      {}\n", f.model);
  fmt::print("target     {}, batch {}, seq {}, {} real tokens\n", m.describe(), f.batch, f.seq, realTokens);
  fmt::print("compile    {:.2f} s (import, fuse, plan, {})\n", compileSeconds, cuda ? "NVRTC" : "LLVM, JIT");
  fmt::print("latency    median {:.3f} ms, min {:.3f}, p90 {:.3f}, p99 {:.3f} ({} runs)\n", median, minimum, p90, p99,
             times.size());
  fmt::print("throughput {:.1f} sequences/s, {:.0f} tokens/s\n", static_cast<double>(f.batch) / (median / 1e3),
             static_cast<double>(realTokens) / (median / 1e3));
  fmt::print("memory     peak {:.1f} MiB (host)\n", static_cast<double>(peakRssBytes()) / (1 << 20));
  if (f.profile) {
    double total = 0;
    for (const auto& r : kinds) total += r.ms;
    fmt::print("profile    per run, by op ({:.3f} ms in steps; runs include warmup):\n", total);
    for (const auto& r : kinds) fmt::print("  {:<32} {:9.3f} ms {:5.1f}%\n", r.what, r.ms, 100 * r.ms / total);
    fmt::print("profile    by step:\n");
    for (const auto& r : steps) fmt::print("  {:<70} {:9.3f} ms\n", r.what, r.ms);
  }
  // fp16 storage rounds every activation to 11 bits, bf16 weights to 8:
  // their bounds are looser.
  const bool reduced = f.target == "cuda-fp16" || f.cpu.precision != cpu::Precision::Fp32;
  const double tolerance = reduced ? 2e-2 : 1e-4;
  for (size_t o = 0; o < errors.size(); ++o)
    fmt::print("compare    {}: max |a-b|/max|b| {:.2e}, min cosine {:.6f} (per {}) vs the reference interpreter{}\n",
               g->outputs()[o]->name, errors[o], cosines[o],
               tokenOutput[o] ? "token" : "sequence",
               errors[o] <= tolerance ? "" : fmt::format("  ABOVE {:g}", tolerance));
  return 0;
}

}  // namespace

Command addBench(CLI::App& app) {
  auto f = std::make_shared<BenchFlags>();
  CLI::App* sub = app.add_subcommand("bench", "Compile a model in process and time it on random inputs");
  sub->add_option("model", f->model, "ONNX model file")->required();
  sub->add_option("--target", f->target, "cpu, cuda-fp16 or cuda-fp32 (the CUDA targets need a GPU)")
      ->capture_default_str();
  sub->add_option("--device", f->device, "CUDA targets: the GPU to run on")->check(exactInteger())->capture_default_str();
  // A benchmark measures this machine: its own ISA by default (compile keeps the portable x86-64-v3).
  f->cpu.cpu = "native";
  sub->add_option("--cpu", f->cpu.cpu, "x86-64-v3, x86-64-v4 or native (this machine's ISA)")->capture_default_str();
  sub->add_option("--batch", f->batch, "sequences per run")->check(exactInteger())->capture_default_str();
  sub->add_option("--seq", f->seq, "tokens per sequence, padded length (default: 128, or the model's positions if fewer)")
      ->check(exactInteger());
  sub->add_option("--threads", f->threads, "threads (0: one per CPU)")->check(exactInteger())->capture_default_str();
  sub->add_option("--lengths", f->lengths, "real lengths, e.g. uniform:16-128 (right-padded; default: all of --seq)");
  sub->add_option("--warmup", f->warmup, "untimed runs first")->check(exactInteger())->capture_default_str();
  sub->add_option("--runs", f->runs, "timed runs (default: at least 10 and --min-time seconds)")->check(exactInteger());
  sub->add_option("--min-time", f->minTime, "seconds of timed runs")->capture_default_str();
  sub->add_option("--seed", f->seed, "random seed of the inputs")->capture_default_str();
  sub->add_option("--precision", f->precision, "--target=cpu: fp32 or bf16 (GEMM weights in bfloat16)")
      ->capture_default_str();
  sub->add_flag("--compare", f->compare,
                "report the max error and the minimum cosine (per token, or per sequence for pooled outputs) "
                "against the reference interpreter on the original model");
  sub->add_flag("--profile", f->profile, "time every kernel step (adds a clock read per step)");
  sub->add_flag("--json", f->json, "print the results as JSON");
  return [f]() -> int { return runBench(*f); };
}

}  // namespace bertc::cli
