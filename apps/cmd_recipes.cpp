// plinth recipes: where an installed plinth keeps its shipped recipes and tokenizers, and what
// each recipe is (its first comment line). Any of them runs by its relative path from any
// working directory: `plinth run recipes/pipelines/quickstart.yaml` reads the shipped file when
// the working directory has no recipes/ of its own (util/shipped.h).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "command.h"
#include "util/error.h"
#include "util/shipped.h"
#include "util/text.h"

namespace plinth {

namespace {

namespace fs = std::filesystem;

// The first comment line of a recipe: what it is, in its author's words.
std::string summary(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    std::string_view t = trim(line);
    if (t.empty()) continue;
    if (t.front() != '#') return "";
    t.remove_prefix(1);
    return std::string(trim(t));
  }
  return "";
}

void list_recipes() {
  const std::vector<fs::path> dirs = shipped_dirs();
  if (dirs.empty())
    throw BadInput(
        "no shipped recipes: this plinth is not installed (no <prefix>/share/plinth beside "
        "its bin/)",
        "run recipes from the source tree (recipes/...), install with cmake --install, or set "
        "PLINTH_SHARE_DIR to a folder holding recipes/ and tokenizers/");
  for (const fs::path& dir : dirs) {
    fmt::print("# shipped in {} (used when the working directory lacks the path)\n", dir.string());
    std::vector<fs::path> files;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir / "recipes", ec); !ec && it != fs::end(it);
         it.increment(ec))
      if (it->is_regular_file() && it->path().extension() == ".yaml") files.push_back(it->path());
    std::sort(files.begin(), files.end());
    size_t width = 0;
    for (const fs::path& f : files) width = std::max(width, f.lexically_relative(dir).string().size());
    for (const fs::path& f : files)
      fmt::print("{:<{}}  {}\n", f.lexically_relative(dir).string(), width, summary(f));
    for (auto it = fs::directory_iterator(dir / "tokenizers", ec); !ec && it != fs::end(it); it.increment(ec))
      if (it->path().extension() == ".model")
        fmt::print("{:<{}}  a tokenizer, used by recipes that would train exactly it\n",
                   it->path().lexically_relative(dir).string(), width);
  }
}

}  // namespace

void add_recipes_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("recipes", "List the recipes and tokenizers an installed plinth ships");
  cmd->footer(
      "A relative recipe or tokenizer path that does not exist in the working directory is read\n"
      "from the shipped folder; outputs (shards, runs) always go to the working directory.\n"
      "Example:\n  plinth recipes\n  plinth run recipes/pipelines/quickstart.yaml");
  cmd->callback([] { list_recipes(); });
}

}  // namespace plinth
