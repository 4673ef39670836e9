#pragma once
/// The bertc subcommands. Each registers its flags on the CLI11 app and
/// returns the process exit code when run.
#include <CLI/CLI.hpp>
#include <functional>

namespace bertc::cli {

using Command = std::function<int()>;

Command addInspect(CLI::App& app);
Command addRun(CLI::App& app);
Command addOptimize(CLI::App& app);
Command addCompile(CLI::App& app);
Command addBench(CLI::App& app);

}  // namespace bertc::cli
