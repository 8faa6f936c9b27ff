// The embedded default corpora (installed by scripts/setup-deps) with the shipped tokenizer.
#include <catch2/catch.hpp>
#include <filesystem>

#include "test_support.h"

namespace fs = std::filesystem;
using namespace plinth::test;

TEST_CASE("embedded Debian corpora: the shipped tokenizer is current and seven domains prepare",
          "[cli][debian]") {
  TempDir dir;
  // The shipped tokenizer is copied so that a stale one would be retrained here, not in the tree.
  for (const char* ext : {".model", ".vocab", ".yaml"})
    fs::copy_file(source_dir() / "tokenizers" / (std::string("debian") + ext),
                  dir / (std::string("debian") + ext));
  std::string run = "cd '" + source_dir().string() + "' && '" + plinth_binary() + "' ";
  std::string where =
      " tokenizer.model=" + (dir / "debian").string() + " data.shards=" + (dir / "shards").string();

  auto tok = run_command(run + "tokenizer train recipes/data/debian.yaml" + where);
  INFO(tok.output);
  REQUIRE(tok.exit_code == 0);
  CHECK_THAT(tok.output, Catch::Contains("up to date"));

  auto prep = run_command(run + "prepare recipes/data/debian.yaml" + where);
  INFO(prep.output);
  REQUIRE(prep.exit_code == 0);
  auto table = run_command(run + "inspect recipes/data/debian.yaml" + where);
  INFO(table.output);
  REQUIRE(table.exit_code == 0);
  for (const char* domain : {"literature", "reference", "code", "docs", "legal", "maths", "chemistry"}) {
    CHECK_THAT(table.output, Catch::Contains(domain));
    CHECK(fs::file_size(dir / "shards" / domain / "train.bin") > 100000);
    CHECK(fs::file_size(dir / "shards" / domain / "val.bin") > 1000);
  }
}
