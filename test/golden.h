#pragma once
// Golden IR text tests (STYLE.md §13): an input graph (test/golden/<name>.in.ir,
// or built in C++), a pass, and ir::printGraph compared with
// test/golden/<name>.ir. BERTC_UPDATE_GOLDEN=1 rewrites the expected files
// (review the diff before committing); the inputs are written by hand.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/status.h"
#include "ir/verify.h"
#include "passes/pass.h"

namespace bertc::test {

/// test/golden/<file>.
inline std::string goldenPath(const std::string& file) { return std::string(BERTC_SOURCE_DIR) + "/test/golden/" + file; }

/// The whole file, or "" (and a failed check) when it cannot be read.
inline std::string readText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  INFO("reading " << path);
  CHECK(f.good());
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

inline void checkGolden(const ir::Graph& g, const std::string& name) {
  std::string path = goldenPath(name + ".ir");
  std::string got = ir::printGraph(g);
  if (const char* u = std::getenv("BERTC_UPDATE_GOLDEN"); u && std::string(u) == "1") {
    std::ofstream(path) << got;
    WARN("updated " << path);
    return;
  }
  INFO("golden file " << path << " (run with BERTC_UPDATE_GOLDEN=1 to create or update it)");
  CHECK(got == readText(path));
}

/// The graph in an IR text file (test/golden/<file>), which must parse.
inline std::unique_ptr<ir::Graph> parseGolden(const std::string& file) {
  auto g = ir::parseGraphFile(goldenPath(file));
  INFO((g.ok() ? std::string() : g.message()));
  REQUIRE(g.ok());
  return std::move(*g);
}

/// What checkPassGolden ran, for checks of its own (counts, numerics, notes).
struct PassGoldenRun {
  std::unique_ptr<ir::Graph> before;  ///< the parsed input, untouched
  std::unique_ptr<ir::Graph> after;   ///< the input after the pass
  size_t changes = 0;                 ///< what the pass returned
  passes::PassContext ctx;            ///< with explain on: why patterns missed
};

/// A golden pass test from text: parses test/golden/<name>.in.ir, runs
/// `pass` on it, checks that the result verifies, matches
/// test/golden/<name>.ir (checkGolden) and has no node of the `gone` ops.
inline PassGoldenRun checkPassGolden(const std::string& name, passes::PassFn pass, const std::vector<ir::OpKind>& gone) {
  PassGoldenRun run;
  run.before = parseGolden(name + ".in.ir");
  run.after = parseGolden(name + ".in.ir");
  run.ctx.explain = true;
  run.changes = pass(*run.after, run.ctx);
  for (const auto& note : run.ctx.notes) UNSCOPED_INFO("explain: " << note);
  auto st = ir::verify(*run.after);
  INFO(st.message());
  REQUIRE(st.ok());
  checkGolden(*run.after, name);
  for (ir::OpKind op : gone) {
    int left = 0;
    for (const auto& n : run.after->nodes()) left += n->op == op;
    INFO(name << ": " << ir::opName(op) << " left after the pass");
    CHECK(left == 0);
  }
  return run;
}

/// The only node of op `op` in g (fails the test if there is none or more than one).
inline const ir::Node& onlyNode(const ir::Graph& g, ir::OpKind op) {
  const ir::Node* found = nullptr;
  for (const auto& n : g.nodes())
    if (n->op == op) {
      REQUIRE(found == nullptr);
      found = n.get();
    }
  REQUIRE(found != nullptr);
  return *found;
}

/// The value of a Result that must be ok (its message shown when it is not).
template <class T>
T requireOk(Result<T> r) {
  INFO((r.ok() ? std::string() : r.message()));
  REQUIRE(r.ok());
  return std::move(r.value());
}

/// The message of a Result that must be an error, checked to be one line.
template <class T>
std::string requireOneLineError(const Result<T>& r) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.message().find('\n') == std::string::npos);
  return r.message();
}

/// Number of nodes of op `op` in g.
inline int countOps(const ir::Graph& g, ir::OpKind op) {
  int n = 0;
  for (const auto& node : g.nodes()) n += node->op == op;
  return n;
}

}  // namespace bertc::test
