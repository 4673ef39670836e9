#pragma once
/// What the fuzz targets share: the oracle for error messages (DESIGN.md,
/// Errors: one line, naming the file) and a scratch directory that lives as
/// long as the process, for external data and for what the CLI writes.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace bertc::fuzz {

/// A finding: prints it where libFuzzer's report goes and aborts, so the
/// input is saved as a crash.
[[noreturn]] inline void bug(const std::string& what, const std::string& detail) {
  std::fprintf(stderr, "fuzz: %s: %s\n", what.c_str(), detail.c_str());
  std::abort();
}

/// Every failure is one line that starts with the name the input was given.
inline void checkMessage(const std::string& stage, const std::string& msg, const std::string& prefix) {
  if (msg.empty() || msg.find('\n') != std::string::npos || msg.rfind(prefix, 0) != 0)
    bug(stage + ": bad error message", msg);
}

/// A directory under $TMPDIR removed at exit. A crash leaves it behind, which
/// is what one wants when reading the crash.
class ScratchDir {
 public:
  explicit ScratchDir(const char* tag) {
    std::string tmpl = (std::filesystem::temp_directory_path() / (std::string("bertc-") + tag + "-XXXXXX")).string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) bug("set-up", "mkdtemp " + tmpl + " failed");
    path_ = buf.data();
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Writes `floats` floats of a fixed pattern to dir/name, so that an
/// input's external-data references (location, offset, length) can resolve
/// and the same input always reads the same bytes.
inline void writeDataFile(const std::filesystem::path& dir, const char* name, size_t floats) {
  std::vector<float> v(floats);
  for (size_t i = 0; i < floats; ++i) v[i] = static_cast<float>(static_cast<int64_t>(i % 97) - 48) / 64.0f;
  std::ofstream f(dir / name, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  if (!f) bug("set-up", "cannot write " + (dir / name).string());
}

/// The files the ONNX mutator moves initializers to (onnx_mutator.cpp) and
/// that mutated external-data references name, so that they resolve and the
/// mapping code runs.
inline void writeExternalData(const std::filesystem::path& dir) {
  writeDataFile(dir, "w.bin", 1024);             // 4 KiB
  writeDataFile(dir, "weights.data", 1 << 17);  // 512 KiB
}

/// A scratch directory holding those files, made once per process: the
/// ONNX targets resolve external data against it.
inline const ScratchDir& externalDataDir(const char* tag) {
  static ScratchDir dir(tag);
  static const bool written = (writeExternalData(dir.path()), true);
  (void)written;
  return dir;
}

}  // namespace bertc::fuzz
