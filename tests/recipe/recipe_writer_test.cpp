// A recipe written back (recipe/recipe_writer.h) reads as the same text, plain where YAML allows
// and quoted where it would read otherwise: both for the words the writer passes without asking
// the parser (letters, digits, `_ . / + -`) and for those it asks about.
#include "recipe/recipe_writer.h"

#include <catch2/catch.hpp>

#include "recipe/recipe_loader.h"

namespace plinth::recipe {
namespace {

TEST_CASE("recipe writer: every scalar and key reads back as written", "[recipe]") {
  const std::vector<std::string> texts{
      "train.lr", "2e-4", "-3e-4", "-x",   "runs/ft-lora", ".5",   "+5",  "1_000", "0x1F",
      ".",        "true", "no",    "null", "Null",         "NULL", "~",   "a: b",  "a #b",
      "-",        "- x",  "--- x", "...",  "x:",           "@x",   "1.0", "v1.2.3"};
  for (const std::string& text : texts) {
    INFO(text);
    ConfigNode root = ConfigNode::map();
    root.set("k", ConfigNode::scalar(text));
    root.set(text, ConfigNode::scalar("v"));
    ConfigNode list = ConfigNode::sequence();
    list.push_back(ConfigNode::scalar(text));
    root.set("list", list);
    const std::string yaml = to_yaml(root);
    INFO(yaml);
    const ConfigNode back = parse_yaml(yaml, "written");
    REQUIRE(back.find("k"));
    REQUIRE(back.find("k")->is_scalar());
    CHECK(back.find("k")->text() == text);
    REQUIRE(back.find(text));
    CHECK(back.find(text)->text() == "v");
    REQUIRE(back.find("list")->items().size() == 1);
    CHECK(back.find("list")->items()[0].text() == text);
  }
  // The plain words stay plain: no quotes where none are needed.
  ConfigNode root = ConfigNode::map();
  root.set("train.lr", ConfigNode::scalar("2e-4"));
  CHECK(to_yaml(root) == "train.lr: 2e-4\n");
}

}  // namespace
}  // namespace plinth::recipe
