// An installed plinth (cmake --install into a scratch prefix), used from a working directory
// that has no recipes of its own: the shipped recipes and tokenizer are found, outputs stay in
// the working directory (cmake/install.cmake, util/shipped.h).
#include <catch2/catch.hpp>
#include <filesystem>

#include "test_support.h"

using plinth::test::run_command;
using plinth::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string in_dir(const fs::path& dir, const std::string& command) {
  return "cd '" + dir.string() + "' && env -u PLINTH_SHARE_DIR " + command + " 2>&1";
}

}  // namespace

TEST_CASE("an installed plinth finds its shipped recipes and tokenizer from any directory", "[cli]") {
  TempDir prefix, work;
  const fs::path build_dir = fs::path(plinth::test::plinth_binary()).parent_path();
  auto install = run_command("cmake --install '" + build_dir.string() + "' --prefix '" +
                             prefix.path().string() + "' 2>&1");
  INFO(install.output);
  REQUIRE(install.exit_code == 0);
  const std::string plinth = "'" + (prefix / "bin/plinth").string() + "'";
  for (const char* file :
       {"bin/plinth", "lib/plinth/libplinth_spm.so", "share/plinth/recipes/pipelines/quickstart.yaml",
        "share/plinth/tokenizers/debian.model", "share/doc/plinth/README.md"})
    CHECK(fs::exists(prefix / file));

  auto list = run_command(in_dir(work.path(), plinth + " recipes"));
  INFO(list.output);
  CHECK(list.exit_code == 0);
  CHECK_THAT(list.output, Catch::Contains("recipes/pipelines/quickstart.yaml") &&
                              Catch::Contains("recipes/finetune/lora.yaml") &&
                              Catch::Contains("tokenizers/debian.model"));

  // The whole quickstart resolves: the pipeline, the recipes it names, the tokenizer.
  auto dry = run_command(in_dir(work.path(), plinth + " run recipes/pipelines/quickstart.yaml --dry-run"));
  INFO(dry.output);
  CHECK(dry.exit_code == 0);
  CHECK_THAT(dry.output, Catch::Contains("using the shipped " + (prefix / "share/plinth/recipes").string()));
  CHECK_THAT(dry.output, Catch::Contains("plinth finetune " +
                                         (prefix / "share/plinth/recipes/finetune/lora.yaml").string()));

  // The shipped tokenizer stands in because it is exactly what this recipe trains; nothing is
  // written (the working directory stays empty).
  auto tok = run_command(in_dir(work.path(), plinth + " tokenizer train recipes/pretrain/quickstart.yaml"));
  INFO(tok.output);
  CHECK(tok.exit_code == 0);
  CHECK_THAT(tok.output, Catch::Contains("using the shipped") && Catch::Contains("is up to date"));
  CHECK(fs::is_empty(work.path()));

  // Another vocabulary is another tokenizer: the shipped one is not used, and the user is told
  // to train it into the working directory.
  auto other = run_command(
      in_dir(work.path(), plinth + " inspect recipes/data/debian.yaml tokenizer.vocab_size=4096"));
  INFO(other.output);
  CHECK_THAT(other.output, !Catch::Contains("using the shipped tokenizers"));

  // A recipe in the working directory wins over the shipped one of the same path.
  TempDir local;
  local.write("recipes/data/debian.yaml",
              "include: " + (prefix / "share/plinth/recipes/data/debian.yaml").string() + "\nname: mine\n");
  auto mine = run_command(in_dir(local.path(), plinth + " inspect recipes/data/debian.yaml --print-config"));
  INFO(mine.output);
  CHECK(mine.exit_code == 0);
  CHECK_THAT(mine.output, Catch::Contains("name: mine") &&
                              !Catch::Contains("using the shipped " + (prefix / "share").string() +
                                               "/plinth/recipes/data"));

  // A missing recipe is still named as the user typed it.
  auto missing = run_command(in_dir(work.path(), plinth + " prepare recipes/none.yaml"));
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.output, Catch::Contains("recipes/none.yaml"));
}

TEST_CASE("plinth recipes: a build-tree plinth ships nothing unless PLINTH_SHARE_DIR names a folder",
          "[cli]") {
  TempDir work;
  const std::string plinth = "'" + plinth::test::plinth_binary() + "'";
  auto none = run_command(in_dir(work.path(), plinth + " recipes"));
  INFO(none.output);
  CHECK(none.exit_code == 2);
  CHECK_THAT(none.output, Catch::Contains("not installed") && Catch::Contains("PLINTH_SHARE_DIR"));
  auto src = run_command("cd '" + work.path().string() + "' && PLINTH_SHARE_DIR='" +
                         plinth::test::source_dir().string() + "' " + plinth + " recipes 2>&1");
  INFO(src.output);
  CHECK(src.exit_code == 0);
  CHECK_THAT(src.output, Catch::Contains("recipes/pretrain/small.yaml"));
}
