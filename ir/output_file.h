#pragma once
/// Output files that never destroy what they were not asked to write.
///
/// Every file bertc writes (objects, headers, ONNX models and their data,
/// .npy outputs) goes to a fresh temporary file beside its target and is
/// renamed over the target only when the whole command succeeded. So a failed
/// or killed command leaves the target as it was, and a path bertc did not
/// create is never removed. The target must be absent, a regular file, or a
/// symlink to one (written through: the link stays, its file is replaced);
/// a directory, device, FIFO or dangling link is refused.
#include <memory>
#include <string>
#include <vector>

#include "ir/status.h"

namespace bertc::ir {

class OutputFile {
 public:
  /// Checks `path` and creates the temporary file beside its target. Errors
  /// name `path` and say what it is.
  static Result<std::unique_ptr<OutputFile>> create(const std::string& path);
  ~OutputFile();  ///< removes the temporary file unless committed
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  /// Where to write: a file that exists, empty, until commit() or destruction.
  const std::string& tempPath() const { return temp_; }
  /// The path as given, for messages.
  const std::string& path() const { return path_; }
  /// Renames the temporary file over the target (with the target's mode if
  /// it existed, else 0666 less the umask).
  Status commit();

 private:
  OutputFile() = default;
  std::string path_, target_, temp_;
  bool committed_ = false;
};

/// Commits every file, in order: after the first failure the rest stay
/// uncommitted (and are removed). For a command whose outputs belong together.
Status commitAll(const std::vector<OutputFile*>& files);

/// An error when two of `paths` name the same file (after symlinks), such
/// as `-o m.o --header m.o`.
Status checkDistinctOutputs(const std::vector<std::pair<std::string, std::string>>& flagsAndPaths);

}  // namespace bertc::ir
