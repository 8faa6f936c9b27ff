// Shared by the tests: a scratch directory per test and small file helpers.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace plinth::test {

// A fresh directory under the system temp dir, removed when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }
  // Writes `content` to path()/name (parent directories created) and returns the full path.
  std::filesystem::path write(std::string_view name, std::string_view content) const;

 private:
  std::filesystem::path path_;
};

// Result of running a command line through /bin/sh.
struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
CommandResult run_command(const std::string& command_line);

// The message of the BadInput (util/error.h) that `f` throws, or "(no BadInput)" when it throws
// none: CHECK_THAT(bad_input_message(...), Contains(...)) then names what came instead.
std::string bad_input_message(const std::function<void()>& f);

// A file's whole content (bytes as they are); throws std::runtime_error naming a file it cannot read.
std::string read_file(const std::filesystem::path& p);

// How often `needle` stands in `text` (overlaps counted): SVG elements, repeated log lines.
inline size_t occurrences(std::string_view text, std::string_view needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// The plinth binary under test, and the source tree (for shipped recipes and fixtures). Defined
// in catch_main.cpp, the one file compiled with their paths: a define that names the clone's
// folder would change every test object's ccache key, and a clone in another folder would
// compile them all again.
std::string plinth_binary();
std::filesystem::path source_dir();

}  // namespace plinth::test
