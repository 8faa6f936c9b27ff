#include "fuzz_support.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

#include "util/error.h"

namespace plinth::fuzz {

namespace {

// Removes the scratch files at exit; libFuzzer exits through exit() after a run or a finding.
struct ScratchFiles {
  std::map<std::string, std::string, std::less<>> by_suffix;
  ~ScratchFiles() {
    std::error_code ec;
    for (const auto& [suffix, path] : by_suffix) std::filesystem::remove_all(path, ec);
  }
};

ScratchFiles& scratch_files() {
  static ScratchFiles files;
  return files;
}

}  // namespace

const std::string& scratch_path(std::string_view suffix) {
  auto& files = scratch_files().by_suffix;
  auto it = files.find(suffix);
  if (it != files.end()) return it->second;
  std::error_code ec;
  const std::string dir = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : "/tmp";
  std::string path = dir + "/plinth-fuzz-" + std::to_string(::getpid()) + std::string(suffix);
  return files.emplace(std::string(suffix), std::move(path)).first->second;
}

const std::string& write_scratch(const uint8_t* data, size_t size, std::string_view suffix) {
  const std::string& path = scratch_path(suffix);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("fuzz: cannot write " + path);  // the harness's own fault
  if (size && std::fwrite(data, 1, size, f) != size) throw std::runtime_error("fuzz: short write to " + path);
  std::fclose(f);
  return path;
}

}  // namespace plinth::fuzz
