// Findings of the recipe fuzz harness (fuzz/recipe_fuzzer.cpp, docs/fuzzing.md), pinned as unit
// tests. The inputs themselves are replayed by scripts/fuzz from fuzz/regressions/recipe/.
#include <catch2/catch.hpp>

#include <string>

#include "recipe/recipe_loader.h"
#include "recipe/recipe_writer.h"
#include "util/error.h"

namespace plinth::recipe {

TEST_CASE("fuzz: a stray ',' is a YAML error, not an endless loop", "[recipe][fuzz]") {
  // yaml-cpp 0.7's LoadAll returned empty documents for ever on these (allocating until killed).
  for (const char* text : {",", ", b\n", "# comment\n, b\n"}) {
    INFO(text);
    CHECK_THROWS_AS(parse_yaml(text, "r.yaml"), BadInput);
  }
  CHECK(parse_yaml("a: 1\n", "r.yaml").find("a")->text() == "1");
}

TEST_CASE("fuzz: what to_yaml writes reads back as the same tree", "[recipe][fuzz]") {
  // Plain scalars that to_yaml must quote (a control character; an indicator yaml-cpp lets pass
  // at the start) are kept as quoted, so the content hash survives the round trip that a
  // checkpoint's stored recipe makes.
  for (const char* text : {"base: runs\x01x\n", "a: [\"x\", y\x02]\n", "k: v\x7f\n"}) {
    INFO(text);
    ConfigNode root = parse_yaml(text, "r.yaml");
    ConfigNode again = parse_yaml(to_yaml(root), "again.yaml");
    CHECK(content_hash(again) == content_hash(root));
  }
  // Plain values that need no quotes keep their meaning: numbers stay unquoted.
  CHECK_FALSE(parse_yaml("n: 8\n", "r.yaml").find("n")->quoted());
}

TEST_CASE("fuzz: a key too long for to_yaml to write back is refused", "[recipe][fuzz]") {
  // YAML limits an implicit key to 1024 characters; yaml-cpp read a longer one from an
  // unterminated quote, and to_yaml wrote text that does not parse.
  const std::string key(300, 'k');
  CHECK_THROWS_AS(parse_yaml("\"" + key + "\": 1\n", "r.yaml"), BadInput);
  ConfigNode root = parse_yaml("a: 1\n", "r.yaml");
  CHECK_THROWS_AS(apply_override(root, key + "=1"), BadInput);
  CHECK_THROWS_AS(apply_override(root, "a={" + key + ": 1}"), BadInput);
}

TEST_CASE("fuzz: an override's list index past 2^64 is a bad override", "[recipe][fuzz]") {
  ConfigNode root = parse_yaml("a: [1]\n", "r.yaml");
  CHECK_THROWS_AS(apply_override(root, "a[99999999999999999999999]=2"), BadInput);  // was std::out_of_range
  apply_override(root, "a[0]=2");
  CHECK(root.find("a")->items()[0].text() == "2");
}

}  // namespace plinth::recipe
