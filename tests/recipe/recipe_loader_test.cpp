// The recipe loader on real files: YAML to a located tree, includes, overrides, printing
// and hashing, and the errors a user sees when any of it is wrong.
#include "recipe/recipe_loader.h"

#include <catch2/catch.hpp>

#include "recipe/recipe_writer.h"
#include "test_support.h"
#include "util/error.h"

using Catch::Matchers::Contains;
using plinth::BadInput;
using plinth::ConfigNode;
using plinth::Problem;
using plinth::recipe::apply_override;
using plinth::recipe::content_hash;
using plinth::recipe::load_recipe;
using plinth::recipe::merge_into;
using plinth::recipe::parse_yaml;
using plinth::recipe::to_yaml;
using plinth::test::TempDir;

namespace {

struct Caught {
  std::string text;  // what() : every problem, as the user sees it
  std::vector<Problem> problems;
};

template <class F>
Caught expect_bad_input(F&& f) {
  try {
    f();
  } catch (const BadInput& e) {
    return Caught{e.what(), e.problems()};
  }
  FAIL("expected plinth::BadInput, but nothing was thrown");
  return {};
}

// Follows "a.b[1].c" through maps and lists; fails the test when a step is missing.
const ConfigNode& at(const ConfigNode& root, const std::string& path) {
  const ConfigNode* n = &root;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') ++i;
    if (path[i] == '[') {
      size_t close = path.find(']', i);
      size_t index = std::stoul(path.substr(i + 1, close - i - 1));
      REQUIRE(n->is_sequence());
      REQUIRE(index < n->items().size());
      n = &n->items()[index];
      i = close + 1;
      continue;
    }
    size_t end = path.find_first_of(".[", i);
    std::string key = path.substr(i, end == std::string::npos ? std::string::npos : end - i);
    INFO("path " << path << ", key " << key);
    REQUIRE(n->is_map());
    n = n->find(key);
    REQUIRE(n != nullptr);
    i = end == std::string::npos ? path.size() : end;
  }
  return *n;
}

std::vector<std::string> keys_of(const ConfigNode& map) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : map.entries()) keys.push_back(k);
  return keys;
}

// Content equality: types, keys in order, texts and quoting; locations ignored.
bool same_tree(const ConfigNode& a, const ConfigNode& b) {
  if (a.type() != b.type()) return false;
  if (a.is_scalar()) return a.text() == b.text() && a.quoted() == b.quoted();
  if (a.is_sequence()) {
    if (a.items().size() != b.items().size()) return false;
    for (size_t i = 0; i < a.items().size(); ++i)
      if (!same_tree(a.items()[i], b.items()[i])) return false;
  }
  if (a.is_map()) {
    if (a.entries().size() != b.entries().size()) return false;
    for (size_t i = 0; i < a.entries().size(); ++i)
      if (a.entries()[i].first != b.entries()[i].first ||
          !same_tree(a.entries()[i].second, b.entries()[i].second))
        return false;
  }
  return true;
}

}  // namespace

TEST_CASE("YAML becomes a tree of located nodes", "[recipe]") {
  ConfigNode root = parse_yaml(
      "name: tiny\n"            // 1
      "lr: 3e-4\n"              // 2
      "flag: 'yes'\n"           // 3
      "count: \"8\"\n"          // 4
      "empty:\n"                // 5
      "tilde: ~\n"              // 6
      "train:\n"                // 7
      "  steps: 100\n"          // 8
      "  opts: {a: 1, b: x}\n"  // 9
      "list:\n"                 // 10
      "  - one\n"               // 11
      "  - k: v\n"              // 12
      "    j: w\n"              // 13
      "note: |\n"               // 14
      "  two\n"                 // 15
      "  lines\n"               // 16
      "zeta: 1\n",              // 17
      "r.yaml");

  SECTION("keys keep the order they were written in") {
    CHECK(keys_of(root) == std::vector<std::string>{"name", "lr", "flag", "count", "empty", "tilde", "train",
                                                    "list", "note", "zeta"});
    CHECK(keys_of(at(root, "train")) == std::vector<std::string>{"steps", "opts"});
  }

  SECTION("scalars keep their text and whether they were quoted") {
    CHECK(at(root, "name").text() == "tiny");
    CHECK_FALSE(at(root, "name").quoted());
    CHECK(at(root, "lr").text() == "3e-4");
    CHECK_FALSE(at(root, "lr").quoted());
    CHECK(at(root, "flag").text() == "yes");
    CHECK(at(root, "flag").quoted());
    CHECK(at(root, "count").text() == "8");
    CHECK(at(root, "count").quoted());
    CHECK(at(root, "note").text() == "two\nlines\n");
    CHECK(at(root, "note").quoted());
    CHECK(at(root, "train.opts.b").text() == "x");
    CHECK(at(root, "list[1].j").text() == "w");
    CHECK(at(root, "empty").is_null());
    CHECK(at(root, "tilde").is_null());
  }

  SECTION("every node knows file, 1-based line and column") {
    CHECK(root.where().str() == "r.yaml:1:1");
    CHECK(at(root, "name").where().str() == "r.yaml:1:7");
    CHECK(at(root, "train.steps").where().str() == "r.yaml:8:10");
    CHECK(at(root, "train.opts.b").where().str() == "r.yaml:9:19");
    CHECK(at(root, "list[0]").where().str() == "r.yaml:11:5");
    CHECK(at(root, "list[1]").where().str() == "r.yaml:12:5");
    CHECK(at(root, "list[1].j").where().str() == "r.yaml:13:8");
  }

  SECTION("an empty value or a nested block is located at its key") {
    CHECK(at(root, "empty").where().str() == "r.yaml:5:1");
    CHECK(at(root, "train").where().str() == "r.yaml:7:1");
    CHECK(at(root, "list").where().str() == "r.yaml:10:1");
    CHECK(at(root, "train.opts").where().str() == "r.yaml:9:9");  // flow map: its own '{'
  }
}

TEST_CASE("malformed recipes are rejected with file, line and what to do", "[recipe]") {
  TempDir dir;

  SECTION("a key written twice names both lines") {
    auto p = dir.write("dup.yaml", "train:\n  lr: 1\n  steps: 2\n  lr: 3\n");
    Caught c = expect_bad_input([&] { load_recipe(p); });
    REQUIRE(c.problems.size() == 1);
    CHECK(c.problems[0].key == "train.lr");
    CHECK(c.problems[0].where.line == 4);
    CHECK_THAT(c.problems[0].message, Contains("lines 2 and 4"));
    CHECK_THAT(c.text, Contains(p.string() + ":4:3"));
  }

  SECTION("a YAML syntax error gives the parser's position and a hint") {
    auto p = dir.write("bad.yaml", "train:\n  lr: 1\n steps: 2\n");
    Caught c = expect_bad_input([&] { load_recipe(p); });
    REQUIRE(c.problems.size() == 1);
    CHECK(c.problems[0].where.file == p.string());
    CHECK(c.problems[0].where.line == 3);
    CHECK(c.problems[0].where.column == 2);
    CHECK_THAT(c.problems[0].message, Contains("malformed YAML: end of map not found"));
    CHECK_THAT(c.problems[0].hint, Contains("indentation"));
  }

  SECTION("an unclosed bracket") {
    Caught c = expect_bad_input([] { parse_yaml("a: [1, 2\nb: 3\n", "x.yaml"); });
    CHECK(c.problems.at(0).where.line == 2);
    CHECK_THAT(c.text, Contains("x.yaml:2:"));
  }

  SECTION("an empty file, or one with only comments") {
    auto p = dir.write("empty.yaml", "");
    CHECK_THAT(expect_bad_input([&] { load_recipe(p); }).text, Contains("recipe is empty"));
    auto q = dir.write("comments.yaml", "# nothing here\n\n");
    Caught c = expect_bad_input([&] { load_recipe(q); });
    CHECK_THAT(c.text, Contains("recipe is empty"));
    CHECK(c.problems.at(0).where.file == q.string());
  }

  SECTION("a top level that is not a mapping") {
    auto p = dir.write("list.yaml", "- a\n- b\n");
    Caught c = expect_bad_input([&] { load_recipe(p); });
    CHECK_THAT(c.text, Contains("must be a mapping") && Contains("got a list"));
    CHECK_THAT(expect_bad_input([] { parse_yaml("just text\n", "s.yaml"); }).text,
               Contains("got a single value"));
  }

  SECTION("several YAML documents in one file") {
    Caught c = expect_bad_input([] { parse_yaml("a: 1\n---\nb: 2\n", "m.yaml"); });
    CHECK_THAT(c.text, Contains("2 YAML documents"));
  }

  SECTION("a key that is a list") {
    Caught c = expect_bad_input([] { parse_yaml("ok: 1\n[a, b]: 2\n", "k.yaml"); });
    CHECK(c.problems.at(0).where.line == 2);
    CHECK_THAT(c.text, Contains("a key must be a single name"));
  }

  SECTION("a missing recipe file, or a directory") {
    CHECK_THAT(expect_bad_input([&] { load_recipe(dir / "nope.yaml"); }).text,
               Contains("nope.yaml") && Contains("does not exist"));
    CHECK_THAT(expect_bad_input([&] { load_recipe(dir.path()); }).text, Contains("is a directory"));
  }
}

TEST_CASE("include: merges files in order, the including file last", "[recipe]") {
  TempDir dir;
  dir.write("base.yaml",
            "model:\n"
            "  dim: 64\n"
            "  layers: 2\n"
            "train:\n"
            "  lr: 1e-3\n"
            "  steps: 100\n"
            "  tags: [a, b]\n");
  dir.write("parts/data.yaml",
            "include: shared.yaml\n"  // relative to parts/, not to the top recipe
            "data:\n"
            "  files: [x.txt]\n"
            "train:\n"
            "  steps: 200\n");
  dir.write("parts/shared.yaml", "data:\n  seed: 7\n  files: [shared.txt]\n");
  auto top = dir.write("exp.yaml",
                       "include:\n"
                       "  - base.yaml\n"
                       "  - parts/data.yaml\n"
                       "train:\n"
                       "  lr: 3e-4\n"
                       "  tags: [c]\n"
                       "extra: 1\n");

  plinth::recipe::LoadedRecipe r = load_recipe(top);
  const ConfigNode& root = r.root;

  SECTION("later files win, maps merge key by key, lists are replaced") {
    CHECK(at(root, "model.dim").text() == "64");
    CHECK(at(root, "train.lr").text() == "3e-4");
    CHECK(at(root, "train.steps").text() == "200");
    REQUIRE(at(root, "train.tags").items().size() == 1);
    CHECK(at(root, "train.tags[0]").text() == "c");
    CHECK(at(root, "data.seed").text() == "7");
    REQUIRE(at(root, "data.files").items().size() == 1);
    CHECK(at(root, "data.files[0]").text() == "x.txt");
  }

  SECTION("include is removed and keys keep first-written order") {
    CHECK(root.find("include") == nullptr);
    CHECK(keys_of(root) == std::vector<std::string>{"model", "train", "data", "extra"});
    CHECK(keys_of(at(root, "train")) == std::vector<std::string>{"lr", "steps", "tags"});
    CHECK(keys_of(at(root, "data")) == std::vector<std::string>{"seed", "files"});
  }

  SECTION("values remember the file that set them") {
    CHECK(at(root, "model.dim").where().file == (dir / "base.yaml").string());
    CHECK(at(root, "model.dim").where().line == 2);
    CHECK(at(root, "train.steps").where().file == (dir / "parts/data.yaml").string());
    CHECK(at(root, "train.steps").where().line == 5);
    CHECK(at(root, "data.seed").where().file == (dir / "parts/shared.yaml").string());
    CHECK(at(root, "train.lr").where().str() == top.string() + ":5:7");
  }

  SECTION("every file read is listed, the recipe first") {
    CHECK(r.file == top);
    REQUIRE(r.files.size() == 4);
    CHECK(r.files[0] == top);
    CHECK(r.files[1] == dir / "base.yaml");
    CHECK(r.files[2] == dir / "parts/data.yaml");
    CHECK(r.files[3] == dir / "parts/shared.yaml");
  }
}

TEST_CASE("include: errors and edge cases", "[recipe]") {
  TempDir dir;

  SECTION("a single path as a string") {
    dir.write("base.yaml", "a: 1\nb: 2\n");
    auto p = dir.write("top.yaml", "include: base.yaml\nb: 3\n");
    ConfigNode root = load_recipe(p).root;
    CHECK(at(root, "a").text() == "1");
    CHECK(at(root, "b").text() == "3");
  }

  SECTION("a diamond is not a cycle") {
    dir.write("common.yaml", "a: 1\n");
    dir.write("left.yaml", "include: common.yaml\nl: 1\n");
    dir.write("right.yaml", "include: [common.yaml]\nr: 1\n");
    auto p = dir.write("top.yaml", "include: [left.yaml, right.yaml]\n");
    plinth::recipe::LoadedRecipe r = load_recipe(p);
    CHECK(keys_of(r.root) == std::vector<std::string>{"a", "l", "r"});
    CHECK(r.files.size() == 4);  // common.yaml listed once
  }

  SECTION("a cycle names the chain of files") {
    auto a = dir.write("a.yaml", "include: b.yaml\nx: 1\n");
    auto b = dir.write("b.yaml", "y: 1\ninclude: [a.yaml]\n");
    Caught c = expect_bad_input([&] { load_recipe(a); });
    CHECK_THAT(c.text, Contains("include cycle: " + a.string() + " -> " + b.string() + " -> " + a.string()));
    REQUIRE(c.problems.size() == 1);
    CHECK(c.problems[0].where.file == b.string());  // the include entry that closes the loop
    CHECK(c.problems[0].where.line == 2);
  }

  SECTION("a file that includes itself") {
    auto a = dir.write("self.yaml", "include: self.yaml\n");
    CHECK_THAT(expect_bad_input([&] { load_recipe(a); }).text, Contains(a.string() + " -> " + a.string()));
  }

  SECTION("a missing include is reported at the include entry") {
    dir.write("base.yaml", "a: 1\n");
    auto p = dir.write("top.yaml", "model: {}\ninclude:\n  - base.yaml\n  - missing.yaml\n");
    Caught c = expect_bad_input([&] { load_recipe(p); });
    REQUIRE(c.problems.size() == 1);
    CHECK(c.problems[0].where.str() == p.string() + ":4:5");
    CHECK_THAT(c.problems[0].message, Contains("missing.yaml") && Contains("does not exist"));
    CHECK_THAT(c.problems[0].hint, Contains("relative to the directory"));
  }

  SECTION("an error inside an included file names that file") {
    auto inc = dir.write("inc.yaml", "a: [1\n");
    auto p = dir.write("top.yaml", "include: inc.yaml\n");
    CHECK_THAT(expect_bad_input([&] { load_recipe(p); }).text, Contains(inc.string() + ":"));
  }

  SECTION("include: must be a path or a list of paths") {
    auto p = dir.write("top.yaml", "a: 1\ninclude:\n  file: x.yaml\n");
    Caught c = expect_bad_input([&] { load_recipe(p); });
    CHECK(c.problems.at(0).where.line == 2);
    CHECK_THAT(c.text, Contains("expected a file path or a list of file paths"));
    auto q = dir.write("top2.yaml", "include: [ok.yaml, [nested.yaml]]\n");
    Caught d = expect_bad_input([&] { load_recipe(q); });
    CHECK(d.problems.at(0).key == "include[1]");
  }

  SECTION("an empty include is no include") {
    auto p = dir.write("top.yaml", "include:\na: 1\n");
    ConfigNode root = load_recipe(p).root;
    CHECK(keys_of(root) == std::vector<std::string>{"a"});
  }
}

TEST_CASE("merge_into deep-merges maps and replaces everything else", "[recipe]") {
  ConfigNode base = parse_yaml("a: 1\nm:\n  x: 1\n  y: [1, 2]\n  z: {p: 1}\nl: [1, 2, 3]\n", "b");
  ConfigNode over = parse_yaml("m:\n  y: [9]\n  w: new\n  x:\n    deep: 1\nl: 5\nb: 2\n", "o");
  merge_into(base, over);
  CHECK(keys_of(base) == std::vector<std::string>{"a", "m", "l", "b"});
  CHECK(keys_of(at(base, "m")) == std::vector<std::string>{"x", "y", "z", "w"});
  CHECK(at(base, "m.x.deep").text() == "1");  // a scalar replaced by a map
  CHECK(at(base, "m.y").items().size() == 1);
  CHECK(at(base, "m.z.p").text() == "1");
  CHECK(at(base, "l").text() == "5");  // a list replaced by a scalar
  CHECK(at(base, "l").where().file == "o");
  CHECK(at(base, "a").where().file == "b");
}

TEST_CASE("overrides set values with YAML types, creating maps as needed", "[recipe]") {
  ConfigNode root = parse_yaml(
      "train:\n  lr: 1e-3\n  steps: 10\ndata:\n  domains:\n    - {name: web, weight: 1}\n"
      "    - {name: code, weight: 2}\n",
      "r.yaml");

  SECTION("scalars, with their types") {
    apply_override(root, "train.steps=8");
    apply_override(root, "train.resume=true");
    apply_override(root, "train.name='8'");
    CHECK(at(root, "train.steps").text() == "8");
    CHECK_FALSE(at(root, "train.steps").quoted());
    CHECK(at(root, "train.resume").text() == "true");
    CHECK(at(root, "train.name").text() == "8");
    CHECK(at(root, "train.name").quoted());
    CHECK(at(root, "train.steps").where().file == "command line");
    CHECK(keys_of(at(root, "train")) == std::vector<std::string>{"lr", "steps", "resume", "name"});
  }

  SECTION("lists and maps in flow style") {
    apply_override(root, "data.files=[x, y]");
    apply_override(root, "model={dim: 32, heads: 4}");
    REQUIRE(at(root, "data.files").items().size() == 2);
    CHECK(at(root, "data.files[1]").text() == "y");
    CHECK(at(root, "model.heads").text() == "4");
    CHECK(at(root, "model.heads").where().file == "command line");
  }

  SECTION("list elements by index, and new nested maps") {
    apply_override(root, "data.domains[1].weight=0.5");
    apply_override(root, "eval.sets.valid.every=100");
    CHECK(at(root, "data.domains[1].weight").text() == "0.5");
    CHECK(at(root, "data.domains[0].weight").text() == "1");
    CHECK(at(root, "eval.sets.valid.every").text() == "100");
  }

  SECTION("an empty value is an empty string") {
    apply_override(root, "train.note=");
    CHECK(at(root, "train.note").is_scalar());
    CHECK(at(root, "train.note").text().empty());
  }

  SECTION("a value may hold '='") {
    apply_override(root, "train.expr=a=b");
    CHECK(at(root, "train.expr").text() == "a=b");
  }

  SECTION("malformed overrides say how to write one") {
    for (const char* bad :
         {"train.lr", "=5", "train..lr=1", "data.domains[x].weight=1", "data.domains[1=2"}) {
      INFO(bad);
      Caught c = expect_bad_input([&] { apply_override(root, bad); });
      REQUIRE(c.problems.size() == 1);
      CHECK(c.problems[0].hint == "write key.path=value, e.g. train.lr=3e-4");
      CHECK_THAT(c.problems[0].message, Contains(bad));
    }
  }

  SECTION("an index past the end of the list") {
    Caught c = expect_bad_input([&] { apply_override(root, "data.domains[2].weight=1"); });
    CHECK_THAT(c.text, Contains("index 2 is past the end of 'data.domains', which has 2"));
    CHECK(c.problems.at(0).hint == "write key.path=value, e.g. train.lr=3e-4");
  }

  SECTION("a path through a single value or into a non-list") {
    Caught c = expect_bad_input([&] { apply_override(root, "train.lr.x=1"); });
    CHECK_THAT(c.text, Contains("'train.lr' is a single value (set at r.yaml:2:7)"));
    Caught d = expect_bad_input([&] { apply_override(root, "train[0]=1"); });
    CHECK_THAT(d.text, Contains("not a list"));
    uint64_t before = content_hash(root);
    expect_bad_input([&] { apply_override(root, "fresh.list[0]=1"); });
    CHECK(root.find("fresh") == nullptr);  // nothing half-created
    CHECK(content_hash(root) == before);
  }

  SECTION("a value that is not valid YAML") {
    Caught c = expect_bad_input([&] { apply_override(root, "train.tags=[a, b"); });
    CHECK(c.problems.at(0).key == "train.tags");
    CHECK_THAT(c.text, Contains("cannot read the value"));
  }
}

TEST_CASE("load_recipe applies overrides after includes", "[recipe]") {
  TempDir dir;
  dir.write("base.yaml", "train:\n  lr: 1\n");
  auto p = dir.write("top.yaml", "include: base.yaml\ntrain:\n  steps: 5\n");
  ConfigNode root = load_recipe(p, {"train.lr=2", "train.steps=6"}).root;
  CHECK(at(root, "train.lr").text() == "2");
  CHECK(at(root, "train.steps").text() == "6");
  CHECK_THAT(expect_bad_input([&] { load_recipe(p, {"train.steps"}); }).text, Contains("no '='"));
}

TEST_CASE("to_yaml prints readable YAML that reads back to the same tree", "[recipe]") {
  SECTION("plain layout") {
    ConfigNode root = parse_yaml(
        "model:\n  dim: 64\n  act: gelu\nfiles: [a.txt, b.txt]\ndomains:\n  - name: web\n"
        "    weight: 0.5\n  - name: code\n",
        "r");
    CHECK(to_yaml(root) ==
          "model:\n"
          "  dim: 64\n"
          "  act: gelu\n"
          "files:\n"
          "  - a.txt\n"
          "  - b.txt\n"
          "domains:\n"
          "  - name: web\n"
          "    weight: 0.5\n"
          "  - name: code\n");
  }

  SECTION("awkward values round-trip") {
    ConfigNode root = parse_yaml(
        "yes_str: 'yes'\n"
        "num_str: \"8\"\n"
        "colon: 'a: b'\n"
        "hash: 'x #y'\n"
        "lead: ' padded '\n"
        "empty: ''\n"
        "null_str: 'null'\n"
        "quote: \"it's \\\"q\\\"\"\n"
        "multi: \"two\\nlines\\ttab\"\n"
        "dash: '- x'\n"
        "neg: -3e-4\n"
        "url: http://example.com/a?b=c\n"
        "star: '*ref'\n"
        "\"key: with colon\": 1\n"
        "nothing:\n"
        "empty_map: {}\n"
        "empty_list: []\n"
        "nested:\n  - - a\n    - b\n  - []\n  - {k: [1, {z: 'q'}]}\n"
        "unicode: größe\n",
        "r");
    std::string text = to_yaml(root);
    INFO(text);
    ConfigNode again = parse_yaml(text, "printed");
    CHECK(same_tree(root, again));
    CHECK(content_hash(root) == content_hash(again));
  }

  SECTION("any text survives as a value, a list item and a key") {
    const std::vector<std::string> texts = {"yes",
                                            "8",
                                            "1e-3",
                                            "0x1F",
                                            "true",
                                            "a: b",
                                            "a:b",
                                            "key: ",
                                            "x #y",
                                            "x#y",
                                            "#",
                                            " lead",
                                            "trail ",
                                            "",
                                            "null",
                                            "~",
                                            "it's",
                                            "\"dq\"",
                                            "multi\nline",
                                            "tab\there",
                                            "- x",
                                            "-x",
                                            "-",
                                            "?",
                                            "? x",
                                            ":",
                                            "*ref",
                                            "&anc",
                                            "!tag",
                                            "|",
                                            ">",
                                            "%dir",
                                            "@at",
                                            "`bt",
                                            "[1]",
                                            "{a}",
                                            "a, b",
                                            "a,b",
                                            "a]b",
                                            "a}b",
                                            "http://x.y/z?q=1#frag",
                                            "gr\xc3\xb6\xc3\x9f",
                                            "a  b",
                                            "---",
                                            "...",
                                            "\\back",
                                            "=",
                                            "<<",
                                            "'",
                                            "\"",
                                            "a'b\"c"};
    for (bool quoted : {false, true}) {
      ConfigNode values = ConfigNode::map();
      ConfigNode items = ConfigNode::sequence();
      ConfigNode keys = ConfigNode::map();
      for (size_t i = 0; i < texts.size(); ++i) {
        ConfigNode v = ConfigNode::scalar(texts[i]);
        v.set_quoted(quoted);
        values.set("v" + std::to_string(i), v);
        items.push_back(v);
        if (!texts[i].empty()) keys.set(texts[i], ConfigNode::scalar(std::to_string(i)));
      }
      ConfigNode root = ConfigNode::map();
      root.set("values", values);
      root.set("items", items);
      root.set("keys", keys);
      std::string text = to_yaml(root);
      INFO(text);
      ConfigNode again = parse_yaml(text, "printed");
      for (size_t i = 0; i < texts.size(); ++i) {
        INFO("text #" << i << ": [" << texts[i] << "]");
        const ConfigNode& v = at(again, "values.v" + std::to_string(i));
        REQUIRE(v.is_scalar());
        CHECK(v.text() == texts[i]);
        REQUIRE(at(again, "items").items().at(i).is_scalar());
        CHECK(at(again, "items").items()[i].text() == texts[i]);
        if (quoted) CHECK(v.quoted());
        if (!texts[i].empty()) {
          const ConfigNode* k = at(again, "keys").find(texts[i]);
          REQUIRE(k != nullptr);
          CHECK(k->text() == std::to_string(i));
        }
      }
      CHECK(keys_of(at(again, "keys")) == keys_of(keys));
    }
  }
}

TEST_CASE("content_hash depends on content, not on where it was written", "[recipe]") {
  TempDir dir;
  auto one = dir.write("one.yaml", "train:\n  lr: 3e-4\n  steps: 100\ndata: [a, b]\n");
  auto two = dir.write("sub/two.yaml",
                       "# the same settings, laid out differently\n\n"
                       "train: {lr: 3e-4, steps: 100}\n"
                       "data:\n  - a\n  - b\n");
  ConfigNode a = load_recipe(one).root;
  ConfigNode b = load_recipe(two).root;
  CHECK(content_hash(a) == content_hash(b));

  ConfigNode reordered = parse_yaml("data: [a, b]\ntrain: {steps: 100, lr: 3e-4}\n", "r");
  CHECK(content_hash(a) == content_hash(reordered));

  CHECK(content_hash(a) != content_hash(load_recipe(one, {"train.steps=101"}).root));
  CHECK(content_hash(a) != content_hash(load_recipe(one, {"train.steps='100'"}).root));
  CHECK(content_hash(a) != content_hash(load_recipe(one, {"data=[b, a]"}).root));
  CHECK(content_hash(a) != content_hash(load_recipe(one, {"data=[a, b, c]"}).root));
  CHECK(content_hash(a) != content_hash(load_recipe(one, {"extra="}).root));
  // The same texts under other keys: structure is hashed, not just the strings.
  CHECK(content_hash(parse_yaml("a: bc\n", "r")) != content_hash(parse_yaml("ab: c\n", "r")));
}
