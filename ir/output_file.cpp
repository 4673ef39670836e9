#include "ir/output_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>

namespace bertc::ir {
namespace {

namespace fs = std::filesystem;

/// The temporary files alive now, for the signal handler: fixed storage,
/// since a handler may not allocate. A slot is claimed with a compare-
/// exchange on `used`, filled, then published with `ready`; the handler
/// reads only ready slots, so it never sees a half-copied path (which could
/// name some other file). Released after the file is renamed or removed.
struct TempSlot {
  std::atomic<bool> used{false};
  std::atomic<bool> ready{false};
  char path[4096];
};
std::array<TempSlot, 16> gTemps;
std::once_flag gHandlersInstalled;

/// SIGINT/SIGTERM/SIGHUP: remove the temporary files, then die of the signal
/// as if we had no handler. unlink and raise are async-signal-safe.
void onSignal(int sig) {
  for (TempSlot& s : gTemps)
    if (s.ready.load()) ::unlink(s.path);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void installHandlers() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    ::sigaction(sig, nullptr, &old);
    if (old.sa_handler != SIG_DFL) continue;  // the host or the shell chose: leave it
    struct sigaction sa {};
    sa.sa_handler = onSignal;
    ::sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, nullptr);
  }
}

void track(const std::string& path) {
  std::call_once(gHandlersInstalled, installHandlers);
  if (path.size() >= sizeof(TempSlot::path)) return;
  for (TempSlot& s : gTemps) {
    bool expected = false;
    if (s.used.compare_exchange_strong(expected, true)) {
      std::memcpy(s.path, path.c_str(), path.size() + 1);
      s.ready.store(true);
      return;
    }
  }
  // More than 16 at once: still safe, only not cleaned up on a signal.
}

void untrack(const std::string& path) {
  for (TempSlot& s : gTemps)
    if (s.ready.load() && path == s.path) {
      s.ready.store(false);
      s.used.store(false);
    }
}

std::string describe(const fs::file_status& st) {
  switch (st.type()) {
    case fs::file_type::directory: return "a directory";
    case fs::file_type::block:
    case fs::file_type::character: return "a device";
    case fs::file_type::fifo: return "a FIFO";
    case fs::file_type::socket: return "a socket";
    default: return "not a regular file";
  }
}

/// The file `path` names once symlinks are followed (the path itself when
/// it does not exist), or an error for what may not be written.
Result<std::string> resolveTarget(const std::string& path) {
  auto fail = [&](const std::string& what) { return Status::error(path + ": " + what); };
  if (path.empty()) return Status::error("an output path is empty");
  std::error_code ec;
  const fs::file_status link = fs::symlink_status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) return fail("cannot check the output: " + ec.message());
  if (!fs::exists(link)) return path;
  const fs::file_status st = fs::status(path, ec);
  if (fs::is_symlink(link) && !fs::exists(st)) return fail("is a symlink to a file that does not exist; not written");
  if (!fs::is_regular_file(st)) return fail("is " + describe(st) + "; bertc writes only regular files");
  if (!fs::is_symlink(link)) return path;
  fs::path real = fs::canonical(path, ec);
  if (ec) return fail("cannot resolve the symlink: " + ec.message());
  return real.string();
}

}  // namespace

Result<std::unique_ptr<OutputFile>> OutputFile::create(const std::string& path) {
  auto target = resolveTarget(path);
  if (!target) return target.status();
  fs::path t(*target);
  fs::path dir = t.parent_path();
  std::string pattern = ((dir.empty() ? fs::path(".") : dir) / ("." + t.filename().string() + ".bertc-XXXXXX")).string();
  int fd = ::mkstemp(pattern.data());
  if (fd < 0) return Status::error(path + ": cannot write: " + std::strerror(errno));
  ::close(fd);
  std::unique_ptr<OutputFile> f(new OutputFile());
  f->path_ = path;
  f->target_ = *target;
  f->temp_ = pattern;
  track(f->temp_);
  return f;
}

OutputFile::~OutputFile() {
  if (committed_) return;
  ::unlink(temp_.c_str());
  untrack(temp_);
}

Status OutputFile::commit() {
  if (committed_) return Status();
  struct stat st {};
  mode_t mode;
  if (::stat(target_.c_str(), &st) == 0) {
    mode = st.st_mode & 07777;
  } else {
    mode_t mask = ::umask(0);
    ::umask(mask);
    mode = 0666 & ~mask;
  }
  ::chmod(temp_.c_str(), mode);
  // The target may have changed since create(): check it again.
  auto target = resolveTarget(path_);
  if (!target) return target.status();
  target_ = *target;
  if (::rename(temp_.c_str(), target_.c_str()) != 0) return Status::error(path_ + ": cannot write: " + std::strerror(errno));
  committed_ = true;
  untrack(temp_);
  return Status();
}

Status commitAll(const std::vector<OutputFile*>& files) {
  for (OutputFile* f : files)
    if (Status s = f->commit(); !s.ok()) return s;
  return Status();
}

Status checkDistinctOutputs(const std::vector<std::pair<std::string, std::string>>& flagsAndPaths) {
  std::vector<fs::path> seen;
  for (size_t i = 0; i < flagsAndPaths.size(); ++i) {
    std::error_code ec;
    fs::path p = fs::weakly_canonical(flagsAndPaths[i].second, ec);
    if (ec) p = fs::absolute(flagsAndPaths[i].second, ec).lexically_normal();
    for (size_t j = 0; j < seen.size(); ++j)
      if (seen[j] == p)
        return Status::error(flagsAndPaths[i].second + ": " + flagsAndPaths[j].first + " and " +
                             flagsAndPaths[i].first + " name the same file");
    seen.push_back(p);
  }
  return Status();
}

}  // namespace bertc::ir
