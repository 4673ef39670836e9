#pragma once
// Golden IR text tests (STYLE.md §13): build an input graph, run a pass,
// compare ir::printGraph with test/golden/<name>.ir. BERTC_UPDATE_GOLDEN=1
// rewrites the expected files (review the diff before committing).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "ir/printer.h"
#include "ir/status.h"

namespace bertc::test {

inline void checkGolden(const ir::Graph& g, const std::string& name) {
  std::string path = std::string(BERTC_SOURCE_DIR) + "/test/golden/" + name + ".ir";
  std::string got = ir::printGraph(g);
  if (const char* u = std::getenv("BERTC_UPDATE_GOLDEN"); u && std::string(u) == "1") {
    std::ofstream(path) << got;
    WARN("updated " << path);
    return;
  }
  std::ifstream f(path);
  INFO("golden file " << path << " (run with BERTC_UPDATE_GOLDEN=1 to create or update it)");
  REQUIRE(f.good());
  std::stringstream want;
  want << f.rdbuf();
  CHECK(got == want.str());
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
