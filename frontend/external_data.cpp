#include "frontend/external_data.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <optional>

#include "frontend/import_context.h"
#include "ir/status.h"

namespace bertc::frontend {

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path, std::string* error) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then
  // refuses it. It changes nothing for the regular file that is mapped.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    *error = errno == ENOENT ? "not found" : std::string("cannot be opened: ") + std::strerror(errno);
    return nullptr;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *error = S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file";
    ::close(fd);
    return nullptr;
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ > 0) {
    void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      *error = std::string("cannot be mapped: ") + std::strerror(errno);
      ::close(fd);
      return nullptr;
    }
    f->data_ = static_cast<const std::byte*>(p);
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  return f;
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

namespace {

/// A non-negative decimal number, as the offset and length keys hold them.
std::optional<uint64_t> parseSize(const std::string& s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

bool ExternalData::insideRoots(const std::filesystem::path& real) const {
  for (const std::string& root : {baseDir_.empty() ? std::string(".") : baseDir_, extraRoot_}) {
    if (root.empty()) continue;
    std::error_code ec;
    const std::filesystem::path dir = std::filesystem::canonical(root, ec);
    if (ec) continue;
    const auto rel = real.lexically_relative(dir);
    if (!rel.empty() && *rel.begin() != ".." && rel != ".") return true;
  }
  return false;
}

ir::Tensor ExternalData::view(const onnx::TensorProto& t, ir::DType dtype, std::vector<int64_t> shape,
                              size_t nbytes, const std::string& prefix) {
  auto fail = [&](const std::string& what) -> void { throw UserError(prefix + what); };
  std::optional<std::string> location;
  uint64_t offset = 0;
  std::optional<uint64_t> length;
  for (const auto& kv : t.external_data()) {
    if (kv.key() == "location") {
      location = kv.value();
    } else if (kv.key() == "offset" || kv.key() == "length") {
      auto v = parseSize(kv.value());
      if (!v) fail("external data " + kv.key() + " " + detail::quote(kv.value()) + " is not a number");
      if (kv.key() == "offset") offset = *v;
      else length = *v;
    }
    // "checksum" and unknown keys are ignored.
  }
  if (!location || location->empty()) fail("external data has no location");
  const std::string where = detail::quote(*location);

  // The location must stay inside the model's directory: lexically (no
  // `../` or absolute path written into the model), and once symlinks are
  // resolved (no link out of it, unless into where the model file itself
  // resolves: a Hugging Face cache snapshot links both into ../../blobs).
  if (location->find('\0') != std::string::npos) fail("external data location " + where + " is not a valid path");
  std::filesystem::path rel = std::filesystem::path(*location).lexically_normal();
  if (rel.has_root_path() || rel.empty() || *rel.begin() == ".." || rel == ".")
    fail("external data location " + where + " escapes the model directory");

  std::string key = rel.string();
  auto it = files_.find(key);
  if (it == files_.end()) {
    std::filesystem::path full = std::filesystem::path(baseDir_.empty() ? "." : baseDir_) / rel;
    std::error_code ec;
    const std::filesystem::path real = std::filesystem::canonical(full, ec);
    if (!ec && !insideRoots(real))
      fail("external data file " + where + " is a link to " + detail::quote(real.string()) +
           ", outside the model directory");
    std::string error;
    auto f = MappedFile::open(full.string(), &error);
    if (!f) fail("external data file " + where + " " + error + " (looked for " + detail::quote(full.string()) + ")");
    it = files_.emplace(key, std::move(f)).first;
  }
  const std::shared_ptr<MappedFile>& file = it->second;

  if (length && *length != nbytes)
    fail("external data length " + std::to_string(*length) + " does not match the tensor's " +
         std::to_string(nbytes) + " bytes");
  if (offset > file->size() || nbytes > file->size() - offset)
    fail("external data at offset " + std::to_string(offset) + ", " + std::to_string(nbytes) +
         " bytes, lies past the end of " + where + " (" + std::to_string(file->size()) + " bytes)");
  // An empty tensor in an empty file has no address in it; any non-null
  // pointer will do (memcpy of 0 bytes from null is still undefined).
  static const std::byte kNothing{};
  const std::byte* p = file->data() ? file->data() + offset : &kNothing;
  return ir::Tensor(dtype, std::move(shape), file, p, nbytes);
}

}  // namespace bertc::frontend
