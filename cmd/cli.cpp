// The bertc command line as a function: main() calls it, and so can a fuzzer.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <exception>
#include <map>
#include <new>
#include <string>

#include "cmd/commands.h"
#include "cmd/model_loading.h"

namespace bertc::cli {
namespace {

int dispatch(int argc, char** argv) {
  auto start = std::chrono::steady_clock::now();
  CLI::App app{"bertc: ahead-of-time compiler for BERT-family transformer encoders (ONNX in, fused code out)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "bertc 0.1.0");
  bool stats = false;
  app.add_flag("--stats", stats, "print wall time and peak memory to stderr when done");
  std::map<CLI::App*, Command> commands;
  auto add = [&](auto fn) {
    size_t before = app.get_subcommands({}).size();
    Command c = fn(app);
    commands[app.get_subcommands({}).at(before)] = std::move(c);
  };
  add(addInspect);
  add(addRun);
  add(addOptimize);
  add(addCompile);
  add(addBench);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version print what they print; a bad flag is one line
    // and exit 1, like every other error.
    if (e.get_exit_code() == 0) return app.exit(e);
    return reportError(fmt::format("{} (bertc {}--help lists the flags)", e.what(),
                                   app.get_subcommands().empty() ? "" : app.get_subcommands().front()->get_name() + " "));
  }
  int rc = 2;
  for (auto& [sub, run] : commands)
    if (sub->parsed()) rc = run();
  if (stats) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print(stderr, "bertc: stats: wall {:.3f} s, peak memory {:.1f} MiB\n", secs,
               static_cast<double>(peakRssBytes()) / (1 << 20));
  }
  return rc;
}

}  // namespace

int runCli(int argc, char** argv) {
  // The last resort: a user's input must never abort the process. Anything a
  // command did not turn into a one-line error itself is one here.
  try {
    return dispatch(argc, argv);
  } catch (const std::bad_alloc&) {
    return reportError("out of memory (the sizes asked for are too large for this machine)");
  } catch (const std::exception& e) {
    return reportError(e.what());
  }
}

}  // namespace bertc::cli
