#pragma once
/// The bertc subcommands. Each registers its flags on the CLI11 app and
/// returns the process exit code when run.
#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdint>
#include <functional>
#include <string>

namespace bertc::cli {

using Command = std::function<int()>;

/// CLI11 clamps an integer past 64 bits to the limit (a --max-batch of
/// 99999999999999999999 became 2^63-1); this check refuses it instead. Add it
/// to every integer option.
inline CLI::Validator exactInteger() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        int64_t v = 0;
        const char* end = text.data() + text.size();
        auto [p, ec] = std::from_chars(text.data() + (!text.empty() && text[0] == '+'), end, v);
        if (ec == std::errc::result_out_of_range) return "value " + text + " does not fit in 64 bits";
        return "";
      },
      "", "");
}

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
