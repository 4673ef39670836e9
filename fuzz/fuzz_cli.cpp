/// libFuzzer target: the `bertc` command line (cli::runCli), in a scratch
/// directory holding a fixture model and its inputs.
///
/// The input is the argument list, one argument per line (or NUL-separated),
/// e.g. "run\nmodel.onnx\n--batch\n2\n--save-outputs\nout" (fuzz/seeds/cli/).
/// The working directory is scratch/work, which holds model.onnx (the
/// bert_ts17_eager fixture), its three inputs as NAME.npy and again under
/// inputs/; it is restored before every run, so whatever a run writes or
/// overwrites there is gone for the next one. To keep every write inside it
/// and every run short, the arguments are rewritten first:
///  * '/' becomes '_' and a leading ".." becomes "__": no path leaves the
///    directory;
///  * a run of more than two digits keeps its first two: `run --batch 99
///    --seq 99` is the largest model run (huge sizes would only measure
///    the allocator, and ASan reports an allocation it cannot satisfy
///    instead of throwing std::bad_alloc, which the CLI would report);
///  * `--help` is inserted after the first `compile` or `bench` argument:
///    their flags are parsed, converted and validated (CLI11 runs those
///    callbacks before it acts on --help), but neither compiles, since
///    LLVM's code emission takes a second per run and is not what this
///    target is for (fuzz_pipeline covers the plan they start from).
/// So `inspect`, `run` and `optimize` run for real with fuzzed flags; for
/// `compile` and `bench` only the flag handling does.
///
/// The finding is any crash, sanitizer report, internal assert or escaped
/// exception (runCli promises to turn every exception into exit code 1).
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cmd/commands.h"
#include "fuzz/fuzz_support.h"

#ifndef BERTC_SOURCE_DIR
#error "BERTC_SOURCE_DIR must be defined (fuzz/CMakeLists.txt)"
#endif

namespace {

namespace fs = std::filesystem;

struct Workspace {
  bertc::fuzz::ScratchDir root{"fuzz-cli"};
  fs::path fixture = root.path() / "fixture";
  fs::path work = root.path() / "work";

  Workspace() {
    const fs::path model = fs::path(BERTC_SOURCE_DIR) / "test/models/bert_ts17_eager";
    fs::create_directories(fixture / "inputs");
    fs::copy_file(model / "model.onnx", fixture / "model.onnx");
    for (const char* in : {"input_ids", "attention_mask", "token_type_ids"}) {
      fs::copy_file(model / "inputs" / (std::string(in) + ".npy"), fixture / (std::string(in) + ".npy"));
      fs::copy_file(model / "inputs" / (std::string(in) + ".npy"), fixture / "inputs" / (std::string(in) + ".npy"));
    }
    fs::create_directories(work);
    if (chdir(work.c_str()) != 0) bertc::fuzz::bug("set-up", "cannot enter " + work.string());
  }

  /// The work directory as the fixture has it, whatever the last run did.
  void reset() {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(work, ec)) fs::remove_all(e.path(), ec);
    fs::copy(fixture, work, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
    if (ec) bertc::fuzz::bug("set-up", "cannot restore " + work.string() + ": " + ec.message());
  }
};

Workspace& workspace() {
  static Workspace w;
  return w;
}

/// The rewriting the header comment describes, for one argument.
std::string tame(std::string arg) {
  for (char& c : arg)
    if (c == '/') c = '_';
  if (arg.rfind("..", 0) == 0) arg.replace(0, 2, "__");
  std::string out;
  size_t digits = 0;
  for (char c : arg) {
    digits = (c >= '0' && c <= '9') ? digits + 1 : 0;
    if (digits <= 2) out += c;
  }
  return out;
}

std::vector<std::string> splitArgs(const uint8_t* data, size_t size) {
  std::vector<std::string> args;
  std::string cur;
  for (size_t i = 0; i < size; ++i) {
    char c = static_cast<char>(data[i]);
    if (c == '\n' || c == '\0') {
      args.push_back(tame(std::move(cur)));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) args.push_back(tame(std::move(cur)));
  return args;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  workspace();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;  // a command line, not a file
  std::vector<std::string> args = splitArgs(data, size);
  for (size_t i = 0; i < args.size(); ++i)
    if (args[i] == "compile" || args[i] == "bench") {
      args.insert(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, "--help");
      break;
    }
  args.insert(args.begin(), "bertc");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  workspace().reset();
  (void)bertc::cli::runCli(static_cast<int>(args.size()), argv.data());
  return 0;
}
