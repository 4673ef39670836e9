#pragma once
/// Private to frontend/: read-only memory maps of the model file and of its
/// external data files, so weights are viewed in place, never copied.
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/tensor.h"
#include "onnx/onnx_pb.h"

namespace bertc::frontend {

/// A whole file mapped read-only. The mapping lives as long as the object;
/// ir::Tensors viewing into it hold a shared_ptr to it.
class MappedFile {
 public:
  /// Maps `path`; on failure returns null and sets `error` to one phrase
  /// ("not found", "is a directory", "cannot be read: <strerror>").
  static std::shared_ptr<MappedFile> open(const std::string& path, std::string* error);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  MappedFile() = default;
  const std::byte* data_ = nullptr;  ///< null for an empty file
  size_t size_ = 0;
};

/// The external data files of one model, each mapped once and shared by all
/// the initializers that live in it.
class ExternalData {
 public:
  explicit ExternalData(std::string baseDir) : baseDir_(std::move(baseDir)) {}

  /// A second folder a data file may resolve into: the one the model file
  /// itself resolves into. A Hugging Face cache snapshot links both the
  /// model and its data into ../../blobs; that is allowed, and a link to
  /// /etc/passwd is not.
  void alsoAllow(std::string dir) { extraRoot_ = std::move(dir); }

  /// A view of the `nbytes` that tensor `t` (data_location EXTERNAL, keys
  /// location / offset / length) keeps in its file. Throws a UserError that
  /// starts with `prefix` if the location escapes the model directory (as
  /// written, or through a symlink), the file is missing or not a regular
  /// file, or the bytes lie past its end.
  ir::Tensor view(const onnx::TensorProto& t, ir::DType dtype, std::vector<int64_t> shape, size_t nbytes,
                  const std::string& prefix);

 private:
  /// True if the resolved path `real` lies inside baseDir_ or extraRoot_ (resolved too).
  bool insideRoots(const std::filesystem::path& real) const;

  std::string baseDir_;
  std::string extraRoot_;
  std::map<std::string, std::shared_ptr<MappedFile>> files_;  ///< by normalised location
};

}  // namespace bertc::frontend
