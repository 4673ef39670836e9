// Weights side files (bertc_rt.h): the checksum is XXH64, a written file
// opens and maps its payload, and every way a file can be wrong (missing,
// not one, truncated, trailing bytes, another model's, corrupt) is an error
// code with a one-line message naming the file, never a crash.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <string>
#include <vector>

#include "bertc_rt.h"

namespace {

namespace fs = std::filesystem;

/// A payload that is not all one byte, so a flipped byte changes the sum.
std::vector<unsigned char> payload(size_t n) {
  std::vector<unsigned char> p(n);
  uint32_t x = 12345;
  for (auto& b : p) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<unsigned char>(x >> 24);
  }
  return p;
}

/// A fresh path under the temp folder, removed at the end of the test.
struct TempFile {
  fs::path path;
  explicit TempFile(const std::string& name)
      : path(fs::temp_directory_path() / ("bertc_weights_test_" + std::to_string(::getpid()) + "_" + name)) {}
  ~TempFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
  const char* c_str() const { return path.c_str(); }
};

bool messageHas(const char* text) { return std::strstr(bertc_rt_last_error(), text) != nullptr; }

void patch(const fs::path& p, size_t at, unsigned char value) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(at));
  f.put(static_cast<char>(value));
}

}  // namespace

TEST_CASE("weights files: the checksum is XXH64 with seed 0", "[runtime]") {
  auto sum = [](const char* s) { return bertc_rt_checksum(s, std::strlen(s)); };
  // The reference implementation's published values.
  CHECK(sum("") == 0xEF46DB3751D8E999ull);
  CHECK(sum("a") == 0xD24EC4F1A98C6E5Bull);
  CHECK(sum("abc") == 0x44BC2CF5AD770999ull);
  CHECK(sum("Nobody inspects the spammish repetition") == 0xFBCEA83C8A378BF1ull);
  CHECK(bertc_rt_checksum(nullptr, 0) == 0xEF46DB3751D8E999ull);
}

TEST_CASE("weights files: written, opened and mapped", "[runtime]") {
  TempFile f("ok");
  for (size_t n : {size_t{0}, size_t{5}, size_t{64}, size_t{100003}}) {
    const auto data = payload(n);
    REQUIRE(bertc_rt_weights_write(f.c_str(), "bert", data.data(), n) == BERTC_OK);
    CHECK(fs::file_size(f.path) == BERTC_RT_WEIGHTS_HEADER_BYTES + n);
    bertc_rt_weights w;
    REQUIRE(bertc_rt_weights_open(&w, f.c_str(), "bert", n, bertc_rt_checksum(data.data(), n)) == BERTC_OK);
    CHECK(w.bytes == n);
    if (n > 0) CHECK(std::memcmp(w.data, data.data(), n) == 0);  // memcmp of no bytes may not take NULL
    // The payload starts page-aligned (the CPU target's kernels want 64).
    CHECK(reinterpret_cast<uintptr_t>(w.data) % 4096 == 0);
    CHECK(bertc_rt_weights_close(&w) == BERTC_OK);
    CHECK(w.data == nullptr);
    CHECK(bertc_rt_weights_close(&w) == BERTC_OK);  // closing twice is harmless
  }
  CHECK(bertc_rt_weights_close(nullptr) == BERTC_OK);
}

TEST_CASE("weights files: every wrong file is an error naming it", "[runtime]") {
  const auto data = payload(10000);
  const uint64_t sum = bertc_rt_checksum(data.data(), data.size());
  TempFile f("bad");
  bertc_rt_weights w;
  auto open = [&](size_t bytes = 10000, uint64_t checksum = 0) {
    return bertc_rt_weights_open(&w, f.c_str(), "bert", bytes, checksum ? checksum : sum);
  };
  auto rewrite = [&] { REQUIRE(bertc_rt_weights_write(f.c_str(), "bert", data.data(), data.size()) == BERTC_OK); };

  SECTION("missing") {
    CHECK(open() == BERTC_ERR_SYSTEM);
    CHECK(messageHas(f.c_str()));
    CHECK(messageHas("cannot open the weights file of model 'bert'"));
  }
  SECTION("a directory") {
    fs::create_directory(f.path);
    CHECK(open() == BERTC_ERR_INVALID);
    CHECK(messageHas("not a regular file"));
    fs::remove(f.path);
  }
  SECTION("shorter than the header") {
    std::ofstream(f.path) << "BERTCWT1";
    CHECK(open() == BERTC_ERR_INVALID);
    CHECK(messageHas("not a bertc weights file"));
  }
  SECTION("another format") {
    rewrite();
    patch(f.path, 0, 'X');
    CHECK(open() == BERTC_ERR_INVALID);
    CHECK(messageHas("no BERTCWT1 magic"));
    rewrite();
    patch(f.path, 9, 1);  // header bytes
    CHECK(open() == BERTC_ERR_INVALID);
    CHECK(messageHas("another format"));
  }
  SECTION("another model's") {
    rewrite();
    CHECK(open(10000, sum ^ 1) == BERTC_ERR_INVALID);
    CHECK(messageHas("holds the weights of model 'bert'"));
    CHECK(open(9999) == BERTC_ERR_INVALID);
  }
  SECTION("truncated") {
    rewrite();
    fs::resize_file(f.path, BERTC_RT_WEIGHTS_HEADER_BYTES + 5000);
    CHECK(open() == BERTC_ERR_INVALID);
    CHECK(messageHas("truncated: 5000 bytes of weights, the header says 10000"));
  }
  SECTION("trailing bytes") {
    rewrite();
    std::ofstream(f.path, std::ios::app | std::ios::binary) << "x";
    CHECK(open() == BERTC_ERR_INVALID);
    CHECK(messageHas("trailing bytes"));
  }
  SECTION("corrupt") {
    rewrite();
    patch(f.path, BERTC_RT_WEIGHTS_HEADER_BYTES + 1234, data[1234] ^ 0x40);
    CHECK(open() == BERTC_ERR_INVALID);
    CHECK(messageHas("corrupt"));
  }
  // A failed open leaves nothing mapped.
  CHECK(w.mapping == nullptr);
  CHECK(w.data == nullptr);
}

TEST_CASE("weights files: NULL arguments and bad names are refused", "[runtime]") {
  bertc_rt_weights w;
  CHECK(bertc_rt_weights_open(nullptr, "x", "m", 0, 0) == BERTC_ERR_NULL_ARG);
  CHECK(bertc_rt_weights_open(&w, nullptr, "m", 0, 0) == BERTC_ERR_NULL_ARG);
  CHECK(bertc_rt_weights_open(&w, "x", nullptr, 0, 0) == BERTC_ERR_NULL_ARG);
  CHECK(bertc_rt_weights_write(nullptr, "m", "", 0) == BERTC_ERR_NULL_ARG);
  CHECK(bertc_rt_weights_write("x", "m", nullptr, 3) == BERTC_ERR_NULL_ARG);
  TempFile f("name");
  CHECK(bertc_rt_weights_write(f.c_str(), std::string(128, 'm').c_str(), "", 0) == BERTC_ERR_INVALID);
  CHECK(messageHas("longer than 127 bytes"));
  CHECK(bertc_rt_weights_write("/nonexistent-dir/w.bin", "m", "", 0) == BERTC_ERR_SYSTEM);
  CHECK(messageHas("/nonexistent-dir/w.bin: cannot write"));
}
