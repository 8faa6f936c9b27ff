#include "util/dir_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/log.h"

namespace plinth {

namespace fs = std::filesystem;

namespace {

void remove_leftover_temporaries(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file(ec) || !is_atomic_temporary(name)) continue;
    if (fs::remove(e.path(), ec)) log::info("removed {}, left by an interrupted write", e.path().string());
  }
}

}  // namespace

DirLock::DirLock(const fs::path& dir, const std::string& purpose) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  const fs::path file = dir / ".lock";
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw Failure(fmt::format("cannot open the lock file {}: {}", file.string(), std::strerror(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char holder[256] = {};
    const ssize_t n = ::pread(fd_, holder, sizeof holder - 1, 0);
    std::string who = n > 0 ? std::string(holder, static_cast<size_t>(n)) : std::string();
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK)
      throw Failure(fmt::format("cannot lock {}: {}", file.string(), std::strerror(err)));
    throw BadInput(fmt::format("{} is in use by another plinth process{}", dir.string(),
                               who.empty() ? "" : " (" + who + ")"),
                   "wait for it to finish or stop it (Ctrl-C / kill -TERM; it saves a checkpoint), or "
                   "use another directory");
  }
  // Who holds it, for the message above; not needed for the lock itself.
  const std::string who = fmt::format("pid {}, plinth {}\n", ::getpid(), purpose);
  if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, who.data(), who.size(), 0) < 0) {
    // The lock holds without the note.
  }
  remove_leftover_temporaries(dir);
  remove_leftover_temporaries(dir / "checkpoints");
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

}  // namespace plinth
