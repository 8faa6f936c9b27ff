#include "cli_fixture.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace plinth::test {

namespace fs = std::filesystem;

CliFixture::CliFixture() {
  fs::create_directories(dir_ / "corpus/beta");
  fs::copy_file("/usr/share/common-licenses/GPL-3", dir_ / "corpus/alpha.txt");
  for (const char* name : {"Apache-2.0", "MPL-2.0", "Artistic", "LGPL-2.1"})
    fs::copy_file(fs::path("/usr/share/common-licenses") / name, dir_ / "corpus/beta" / name);
  recipe(base_recipe());
}

CommandResult CliFixture::plinth(const std::string& args) const {
  return run_command("cd '" + dir_.path().string() + "' && '" + plinth_binary() + "' " + args);
}

void CliFixture::recipe(const std::string& text, const std::string& name) const {
  dir_.write(name, text);
}

std::string CliFixture::base_recipe() {
  return R"(tokenizer:
  model: tok/small
  vocab_size: 600
  sample_bytes: 1MiB
data:
  shards: shards
  val_fraction: 0.2
  domains:
    - name: alpha
      weight: 1.0
      sources:
        - path: corpus/alpha.txt
          documents: blank_line
    - name: beta
      weight: 2.0
      sources:
        - path: corpus/beta
          documents: blank_line
)";
}

std::string CliFixture::task_data_recipe() {
  std::string r = base_recipe();
  const std::string key = "  sample_bytes: 1MiB\n";
  r.insert(r.find(key) + key.size(),
           "  user_defined_symbols: [\"<|prompt|>\", \"<|response|>\", \"<|end|>\"]\n");
  return r;
}

std::string CliFixture::task_tsv() {
  std::string out;
  const char* pairs[][2] = {{"Haus", "house"},   {"Baum", "tree"},   {"Hund", "dog"},   {"Katze", "cat"},
                            {"Wasser", "water"}, {"Feuer", "fire"},  {"Brot", "bread"}, {"Milch", "milk"},
                            {"Buch", "book"},    {"Stadt", "town"},  {"Weg", "way"},    {"Licht", "light"},
                            {"Stein", "stone"},  {"Nacht", "night"}, {"Tag", "day"},    {"Hand", "hand"}};
  for (const auto& p : pairs) out += std::string(p[0]) + "\t" + p[1] + "\n";
  return out;
}

}  // namespace plinth::test
