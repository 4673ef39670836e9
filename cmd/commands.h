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

/// The whole command line: parses argv, runs the subcommand, returns the exit
/// code. Never throws: an exception that escapes a command is a one-line
/// error and exit code 1.
int runCli(int argc, char** argv);

}  // namespace bertc::cli
