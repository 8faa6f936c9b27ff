#include "util/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace plinth {

namespace fs = std::filesystem;

AtomicFile::AtomicFile(fs::path target) : target_(std::move(target)) {
  std::error_code ec;
  if (target_.has_parent_path()) fs::create_directories(target_.parent_path(), ec);
  temp_ = target_;
  temp_ += fmt::format(".tmp.{}", ::getpid());
  file_ = std::fopen(temp_.c_str(), "w+b");
  if (!file_) throw Failure(fmt::format("cannot write {}: {}", temp_.string(), std::strerror(errno)));
}

AtomicFile::~AtomicFile() {
  if (file_) std::fclose(file_);
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicFile::write(const void* data, size_t size) {
  if (size && std::fwrite(data, 1, size, file_) != size)
    throw Failure(fmt::format("cannot write {}: {}", temp_.string(), std::strerror(errno)));
  size_ += size;
}

void AtomicFile::write_at(uint64_t offset, const void* data, size_t size) {
  if (std::fseek(file_, static_cast<long>(offset), SEEK_SET) != 0 ||
      std::fwrite(data, 1, size, file_) != size || std::fseek(file_, 0, SEEK_END) != 0)
    throw Failure(fmt::format("cannot write {}: {}", temp_.string(), std::strerror(errno)));
}

void AtomicFile::commit() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0)
    throw Failure(fmt::format("cannot flush {}: {}", temp_.string(), std::strerror(errno)));
  std::fclose(file_);
  file_ = nullptr;
  std::error_code ec;
  fs::rename(temp_, target_, ec);
  if (ec)
    throw Failure(fmt::format("cannot rename {} to {}: {}", temp_.string(), target_.string(), ec.message()));
  committed_ = true;
  // The rename itself must reach the disk, or a crash may bring back the old file.
  fs::path dir = target_.has_parent_path() ? target_.parent_path() : fs::path(".");
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

bool is_atomic_temporary(std::string_view name) {
  const size_t at = name.rfind(".tmp.");
  if (at == std::string_view::npos || at + 5 == name.size()) return false;
  for (char c : name.substr(at + 5))
    if (c < '0' || c > '9') return false;
  return true;
}

void write_file_atomic(const fs::path& target, std::string_view content) {
  AtomicFile f(target);
  f.write(content);
  f.commit();
}

std::string read_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw BadInput(fmt::format("{} does not exist", path.string()), "check the path");
  if (fs::is_directory(path, ec))
    throw BadInput(fmt::format("{} is a directory, but a file is expected", path.string()));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BadInput(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace plinth
