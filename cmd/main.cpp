// bertc: ahead-of-time compiler for BERT-family transformer encoders.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <map>

#include "cmd/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"bertc: ahead-of-time compiler for BERT-family transformer encoders (ONNX in, fused code out)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "bertc 0.1.0");
  std::map<CLI::App*, bertc::cli::Command> commands;
  auto add = [&](auto fn) {
    size_t before = app.get_subcommands({}).size();
    bertc::cli::Command c = fn(app);
    commands[app.get_subcommands({}).at(before)] = std::move(c);
  };
  add(bertc::cli::addInspect);
  add(bertc::cli::addRun);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto& [sub, run] : commands)
    if (sub->parsed()) return run();
  return 2;
}
