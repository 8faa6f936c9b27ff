#include "util/shipped.h"

#include <cstdlib>
#include <system_error>

namespace plinth {

namespace fs = std::filesystem;

fs::path executable_path() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe;
}

std::vector<fs::path> shipped_dirs() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("PLINTH_SHARE_DIR"); env && *env) candidates.emplace_back(env);
  if (fs::path exe = executable_path(); !exe.empty())
    candidates.push_back((exe.parent_path().parent_path() / "share" / "plinth").lexically_normal());
  std::vector<fs::path> out;
  std::error_code ec;
  for (const fs::path& dir : candidates)
    if (fs::is_directory(dir, ec)) out.push_back(dir);
  return out;
}

std::optional<fs::path> shipped_file(const fs::path& relative) {
  if (relative.empty() || relative.is_absolute()) return std::nullopt;
  std::error_code ec;
  for (const fs::path& dir : shipped_dirs())
    if (fs::path p = dir / relative; fs::exists(p, ec)) return p.lexically_normal();
  return std::nullopt;
}

fs::path existing_or_shipped(const fs::path& path) {
  std::error_code ec;
  if (path.is_absolute() || fs::exists(path, ec)) return path;
  return shipped_file(path).value_or(path);
}

}  // namespace plinth
