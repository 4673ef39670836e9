#pragma once
/// What every subcommand shares: loading a model with the one-line error on
/// failure, reporting an error, the process's peak memory.
#include <memory>
#include <string>

#include "ir/graph.h"

namespace bertc::cli {

/// Imports `path`; on failure prints `bertc: error: <message>` to stderr and returns null.
std::unique_ptr<ir::Graph> loadModelOrReport(const std::string& path);

/// Prints `bertc: error: <message>` to stderr; returns the exit code 1.
int reportError(const std::string& message);

/// Peak resident memory of this process in bytes (VmHWM), or -1.
long long peakRssBytes();

}  // namespace bertc::cli
