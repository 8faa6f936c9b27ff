// Atomic writes: data goes to a temporary file beside the target, is fsynced, then renamed
// over it. A reader sees the old file or the whole new one, never a torn one, even when the
// process is killed mid-write.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

namespace plinth {

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target);  // creates parent directories
  ~AtomicFile();                                      // not committed -> the temporary file is removed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // Overwrites bytes already written (e.g. a header whose checksum is known only at the end).
  void write_at(uint64_t offset, const void* data, size_t size);
  uint64_t size() const { return size_; }
  // fsync the data, rename over the target, fsync the directory. Throws Failure on error.
  void commit();

  const std::filesystem::path& target() const { return target_; }

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  std::FILE* file_ = nullptr;
  uint64_t size_ = 0;
  bool committed_ = false;
};

void write_file_atomic(const std::filesystem::path& target, std::string_view content);

// True for the name of AtomicFile's temporary file ("<target name>.tmp.<pid>"): what a process
// killed mid-write leaves behind (util/dir_lock.h removes them).
bool is_atomic_temporary(std::string_view file_name);

// Whole file as a string. Throws BadInput naming the file when it is missing or unreadable.
std::string read_file(const std::filesystem::path& path);

}  // namespace plinth
