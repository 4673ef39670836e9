#pragma once
/// Loading a model for a subcommand, with the one-line error on failure.
#include <memory>
#include <string>

#include "ir/graph.h"

namespace bertc::cli {

/// Imports `path`; on failure prints `bertc: error: <message>` to stderr and returns null.
std::unique_ptr<ir::Graph> loadModelOrReport(const std::string& path);

/// Prints `bertc: error: <message>` to stderr; returns the exit code 1.
int reportError(const std::string& message);

}  // namespace bertc::cli
