// Every kind of bad input: a clear message naming the place and a fix, and exit code 2.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "cli_fixture.h"

using plinth::test::CliFixture;
namespace fs = std::filesystem;

namespace {

// Replaces the first occurrence of `from` in the base recipe.
std::string base_with(const std::string& from, const std::string& to) {
  std::string r = CliFixture::base_recipe();
  auto at = r.find(from);
  REQUIRE(at != std::string::npos);
  return r.replace(at, from.size(), to);
}

void expect_bad_input(const CliFixture& f, const std::string& args, const std::vector<std::string>& needles) {
  auto r = f.plinth(args);
  INFO("plinth " << args << "\n" << r.output);
  CHECK(r.exit_code == 2);
  for (const auto& n : needles) CHECK_THAT(r.output, Catch::Contains(n));
}

}  // namespace

TEST_CASE("bad recipes are reported with file:line:col, key and exit code 2", "[cli]") {
  CliFixture f;

  SECTION("malformed YAML") {
    f.recipe("data:\n  shards: [unclosed\n");
    expect_bad_input(f, "prepare recipe.yaml", {"recipe.yaml:"});
  }
  SECTION("unknown key, with a did-you-mean") {
    f.recipe(base_with("  val_fraction: 0.2", "  val_fracton: 0.2"));
    expect_bad_input(f, "prepare recipe.yaml",
                     {"recipe.yaml:7:", "data.val_fracton", "unknown key", "did you mean 'val_fraction'"});
  }
  SECTION("wrong type") {
    f.recipe(base_with("vocab_size: 600", "vocab_size: lots"));
    expect_bad_input(f, "tokenizer train recipe.yaml",
                     {"recipe.yaml:3:", "tokenizer.vocab_size", "expected an integer"});
  }
  SECTION("zero and negative sizes, all reported at once") {
    f.recipe(base_with("vocab_size: 600", "vocab_size: 0"));
    expect_bad_input(
        f, "prepare recipe.yaml data.domains[0].weight=-1 tokenizer.sample_bytes=-5",
        {"tokenizer.vocab_size", "out of range", "data.domains[0].weight", "tokenizer.sample_bytes"});
  }
  SECTION("a missing corpus path") {
    f.recipe(base_with("corpus/alpha.txt", "corpus/nowhere.txt"));
    expect_bad_input(f, "prepare recipe.yaml", {"recipe.yaml:12:17", "corpus/nowhere.txt", "does not exist"});
  }
  SECTION("a glob that matches nothing") {
    f.recipe(base_with("corpus/beta", "corpus/beta/*.md"));
    expect_bad_input(f, "prepare recipe.yaml", {"data.domains[1].sources[0].path", "matches no file"});
  }
  SECTION("an empty domain") {
    f.dir().write("corpus/empty.txt", "\n\n   \n\n");
    f.recipe(base_with("corpus/alpha.txt", "corpus/empty.txt"));
    expect_bad_input(f, "tokenizer train recipe.yaml", {"alpha", "no document"});
  }
  SECTION("a directory where a file is expected") {
    expect_bad_input(f, "prepare corpus", {"corpus", "directory"});
    fs::create_directories(f.dir() / "tok/small.model");
    expect_bad_input(f, "prepare recipe.yaml", {"tok/small.model", "directory"});
  }
  SECTION("a binary file read as text") {
    std::string junk;
    for (int i = 0; i < 4096; ++i) junk += static_cast<char>((i * 7919) % 256);
    f.dir().write("corpus/beta/blob.bin", junk);
    expect_bad_input(f, "tokenizer train recipe.yaml", {"blob.bin", "exclude"});
  }
  SECTION("weights that sum to zero") {
    f.recipe(base_with("weight: 1.0", "weight: 0"));
    expect_bad_input(f, "prepare recipe.yaml data.domains[1].weight=0", {"data.domains", "sum to zero"});
  }
  SECTION("an include cycle") {
    f.recipe("include: b.yaml\n", "a.yaml");
    f.recipe("include: a.yaml\n", "b.yaml");
    expect_bad_input(f, "prepare a.yaml", {"a.yaml", "b.yaml", "cycle"});
  }
  SECTION("a malformed override") {
    expect_bad_input(f, "prepare recipe.yaml val_fraction", {"key.path=value"});
  }
  SECTION("a missing recipe file") {
    expect_bad_input(f, "prepare missing.yaml", {"missing.yaml", "does not exist"});
  }
  SECTION("prepare before the tokenizer exists") {
    expect_bad_input(f, "prepare recipe.yaml", {"tok/small.model", "plinth tokenizer train"});
  }
  SECTION("inspect before prepare") {
    REQUIRE(f.plinth("tokenizer train recipe.yaml").exit_code == 0);
    expect_bad_input(f, "inspect recipe.yaml", {"not prepared", "plinth prepare"});
  }
}

TEST_CASE("damaged shards are refused with exit code 2", "[cli]") {
  CliFixture f;
  REQUIRE(f.plinth("tokenizer train recipe.yaml").exit_code == 0);
  REQUIRE(f.plinth("prepare recipe.yaml").exit_code == 0);
  fs::path shard = f.dir() / "shards/alpha/train.bin";

  SECTION("a truncated shard") {
    fs::resize_file(shard, fs::file_size(shard) - 3);
    expect_bad_input(f, "inspect recipe.yaml", {"train.bin", "truncated", "plinth prepare"});
    // prepare notices the damage and rebuilds the shard.
    CHECK(f.plinth("prepare recipe.yaml").exit_code == 0);
    CHECK(f.plinth("inspect recipe.yaml").exit_code == 0);
  }
  SECTION("a shard whose checksum does not match") {
    {
      std::fstream io(shard, std::ios::in | std::ios::out | std::ios::binary);
      io.seekp(200);
      io.put('\x7f');
    }
    expect_bad_input(f, "inspect recipe.yaml", {"train.bin", "corrupt"});
  }
  SECTION("shards made with another tokenizer") {
    REQUIRE(f.plinth("tokenizer train recipe.yaml tokenizer.vocab_size=620").exit_code == 0);
    expect_bad_input(f, "inspect recipe.yaml tokenizer.vocab_size=620", {"another tokenizer"});
  }
}
