// ConfigSection binding trees that the loader built from real files: what a user sees for
// each kind of mistake, with the file:line:col of the offending value.
#include "util/config_section.h"

#include <catch2/catch.hpp>

#include "recipe/recipe_loader.h"
#include "test_support.h"
#include "util/error.h"

using Catch::Matchers::Contains;
using plinth::BadInput;
using plinth::ConfigNode;
using plinth::ConfigSection;
using plinth::Diagnostics;
using plinth::Need;
using plinth::PathMust;
using plinth::Problem;
using plinth::Range;
using plinth::test::TempDir;

namespace {

// A recipe file written to `dir` and loaded, so locations are real file:line:col.
struct Recipe {
  std::filesystem::path file;
  ConfigNode root;
  Recipe(const TempDir& dir, const std::string& text)
      : file(dir.write("recipe.yaml", text)), root(plinth::recipe::load_recipe(file).root) {}
  std::string at(int line, int column) const {
    return file.string() + ":" + std::to_string(line) + ":" + std::to_string(column);
  }
};

const Problem& only_problem(const Diagnostics& diag) {
  REQUIRE(diag.problems().size() == 1);
  return diag.problems()[0];
}

struct TokenizerSpec {
  int64_t vocab_size = 8000;
  std::string type = "bpe";
};

void bind(ConfigSection& s, TokenizerSpec& spec) {
  s.read("vocab_size", spec.vocab_size, Range<int64_t>::between(16, 1 << 20), Need::Required);
  s.read_choice("type", spec.type, {"bpe", "unigram"});
  s.finish();
}

}  // namespace

TEST_CASE("unknown keys suggest the closest known key, at the key's line", "[recipe][config]") {
  TempDir dir;
  Recipe r(dir,
           "tokenizer:\n"          // 1
           "  vocab_size: 4000\n"  // 2
           "  typ: unigram\n"      // 3
           "  nonsense:\n"         // 4
           "    deep: 1\n");       // 5
  Diagnostics diag;
  ConfigSection s(r.root.find("tokenizer"), "tokenizer", diag);
  TokenizerSpec spec;
  bind(s, spec);
  REQUIRE(diag.problems().size() == 2);
  const Problem& typo = diag.problems()[0];
  CHECK(typo.key == "tokenizer.typ");
  CHECK(typo.message == "unknown key");
  CHECK(typo.hint == "did you mean 'type'?");
  CHECK(typo.where.str() == r.at(3, 8));
  CHECK_THAT(typo.str(), Contains(r.at(3, 8) + ": tokenizer.typ: unknown key"));

  const Problem& far = diag.problems()[1];
  CHECK(far.key == "tokenizer.nonsense");
  CHECK(far.where.line == 4);  // the key's line, not the nested block's
  CHECK_THAT(far.hint, Contains("known keys here: vocab_size, type"));
  CHECK(spec.vocab_size == 4000);
}

TEST_CASE("values of the wrong type are reported with what was expected", "[recipe][config]") {
  TempDir dir;
  Recipe r(dir,
           "steps: many\n"    // 1
           "batch: \"8\"\n"   // 2
           "lr:\n"            // 3
           "  value: 1\n"     // 4
           "name: [a, b]\n"   // 5
           "ok: maybe\n"      // 6
           "ratio: 1.5x\n");  // 7
  Diagnostics diag;
  ConfigSection s(&r.root, "", diag);
  int64_t steps = 1, batch = 1;
  double lr = 0.1, ratio = 1;
  std::string name = "keep";
  bool ok = false;
  CHECK_FALSE(s.read("steps", steps));
  CHECK_FALSE(s.read("batch", batch));
  CHECK_FALSE(s.read("lr", lr));
  CHECK_FALSE(s.read("name", name));
  CHECK_FALSE(s.read("ok", ok));
  CHECK_FALSE(s.read("ratio", ratio));
  s.finish();
  CHECK(steps == 1);
  CHECK(name == "keep");

  const auto& p = diag.problems();
  REQUIRE(p.size() == 6);
  CHECK(p[0].message == "expected an integer, got 'many'");
  CHECK(p[0].where.str() == r.at(1, 8));
  CHECK(p[1].message == "expected an integer, got '8'");  // quoted: a string, not a number
  CHECK(p[1].where.line == 2);
  CHECK_THAT(p[2].message, Contains("expected a number, got a mapping"));
  CHECK(p[2].where.line == 3);
  CHECK_THAT(p[3].message, Contains("expected a string, got a list"));
  CHECK(p[3].where.str() == r.at(5, 7));
  CHECK(p[4].message == "expected true or false, got 'maybe'");
  CHECK(p[5].message == "expected a number, got '1.5x'");
}

TEST_CASE("out-of-range values say the allowed range", "[recipe][config]") {
  TempDir dir;
  Recipe r(dir, "train:\n  batch: 0\n  steps: -5\n  lr: 0\n  dim: 64\n");
  Diagnostics diag;
  ConfigSection s = ConfigSection(&r.root, "", diag).child("train");
  int64_t batch = 1, steps = 1;
  int dim = 0;
  double lr = 1;
  CHECK_FALSE(s.read("batch", batch, Range<int64_t>::at_least(1)));
  CHECK_FALSE(s.read("steps", steps, Range<int64_t>::positive()));
  CHECK_FALSE(s.read("lr", lr, Range<double>::positive()));
  CHECK(s.read("dim", dim, Range<int64_t>::between(8, 4096)));
  CHECK(dim == 64);
  const auto& p = diag.problems();
  REQUIRE(p.size() == 3);
  CHECK(p[0].key == "train.batch");
  CHECK(p[0].message == "0 is out of range: must be at least 1");
  CHECK(p[0].where.line == 2);
  CHECK(p[1].message == "-5 is out of range: must be greater than 0");
  CHECK(p[1].where.line == 3);
  CHECK(p[2].message == "0 is out of range: must be greater than 0");
  CHECK(batch == 1);
}

TEST_CASE("missing required keys point at their section", "[recipe][config]") {
  TempDir dir;
  Recipe r(dir, "model: {}\ntokenizer:\n  type: bpe\n");
  Diagnostics diag;
  ConfigSection top(&r.root, "", diag, r.root.where());

  SECTION("a key missing from a present section") {
    ConfigSection s = top.child("tokenizer");
    TokenizerSpec spec;
    bind(s, spec);
    const Problem& p = only_problem(diag);
    CHECK(p.key == "tokenizer.vocab_size");
    CHECK(p.message == "missing required key");
    CHECK(p.hint == "add 'vocab_size:' under 'tokenizer'");
    CHECK(p.where.line == 2);
  }

  SECTION("a required section that is absent") {
    ConfigSection s = top.child("train", Need::Required);
    CHECK_FALSE(s.present());
    const Problem& p = only_problem(diag);
    CHECK(p.key == "train");
    CHECK(p.hint == "add 'train:' under 'the top level'");
    CHECK(p.where.str() == r.at(1, 1));
  }

  SECTION("a section that is not a mapping") {
    Recipe bad(dir, "tokenizer: bpe\n");
    Diagnostics d;
    ConfigSection s = ConfigSection(&bad.root, "", d).child("tokenizer");
    CHECK_FALSE(s.present());
    CHECK_THAT(only_problem(d).message, Contains("expected a mapping"));
    CHECK(only_problem(d).where.str() == bad.at(1, 12));
  }
}

TEST_CASE("byte sizes and choices", "[recipe][config]") {
  TempDir dir;
  Recipe r(dir,
           "shard_size: 64MiB\n"
           "buffer: 1.5G\n"
           "plain: 4096\n"
           "bad: 64XB\n"
           "type: unigarm\n"
           "mode: train\n");
  Diagnostics diag;
  ConfigSection s(&r.root, "", diag);
  uint64_t shard = 0, buffer = 0, plain = 0, bad = 7;
  CHECK(s.read_bytes("shard_size", shard));
  CHECK(shard == 64ull << 20);
  CHECK(s.read_bytes("buffer", buffer));
  CHECK(buffer == 1610612736ull);
  CHECK(s.read_bytes("plain", plain, Range<uint64_t>::at_least(8192)) == false);
  CHECK_FALSE(s.read_bytes("bad", bad));
  CHECK(bad == 7);
  std::string type = "bpe", mode;
  CHECK_FALSE(s.read_choice("type", type, {"bpe", "unigram", "char"}));
  CHECK(type == "bpe");
  CHECK(s.read_choice("mode", mode, {"train", "eval"}));
  CHECK(mode == "train");

  const auto& p = diag.problems();
  REQUIRE(p.size() == 3);
  CHECK(p[0].message == "4096 is out of range: must be at least 8192");
  CHECK(p[1].message == "expected a size in bytes, got '64XB'");
  CHECK_THAT(p[1].hint, Contains("512MiB"));
  CHECK(p[1].where.line == 4);
  CHECK(p[2].message == "'unigarm' is not one of: bpe, unigram, char");
  CHECK(p[2].hint == "did you mean 'unigram'?");
  CHECK(p[2].where.str() == r.at(5, 7));
}

TEST_CASE("paths are checked against the file system", "[recipe][config]") {
  TempDir dir;
  auto corpus = dir.write("corpus/a.txt", "hello\n");
  Recipe r(dir, "input: " + corpus.string() + "\n" +                    // 1
                    "missing: " + (dir / "nope.txt").string() + "\n" +  // 2
                    "folder: " + (dir / "corpus").string() + "\n" +     // 3
                    "out_dir: " + corpus.string() + "\n");              // 4
  Diagnostics diag;
  ConfigSection s(&r.root, "", diag);
  std::string input, missing, folder, out_dir;
  CHECK(s.read_path("input", input, PathMust::BeFile));
  CHECK(input == corpus.string());
  CHECK_FALSE(s.read_path("missing", missing, PathMust::Exist));
  CHECK_FALSE(s.read_path("folder", folder, PathMust::BeFile));
  CHECK_FALSE(s.read_path("out_dir", out_dir, PathMust::BeDirectory));
  CHECK(s.read_path("folder", folder, PathMust::BeDirectory));

  const auto& p = diag.problems();
  REQUIRE(p.size() == 3);
  CHECK_THAT(p[0].message, Contains("nope.txt") && Contains("does not exist"));
  CHECK(p[0].where.line == 2);
  CHECK_THAT(p[1].message, Contains("is a directory, but a file is expected"));
  CHECK(p[1].where.line == 3);
  CHECK_THAT(p[2].message, Contains("is not a directory"));
  CHECK(p[2].where.line == 4);
}

TEST_CASE("a list of mappings binds item by item with indexed key paths", "[recipe][config]") {
  TempDir dir;
  Recipe r(dir,
           "data:\n"                // 1
           "  domains:\n"           // 2
           "    - name: web\n"      // 3
           "      weight: 0.7\n"    // 4
           "    - name: code\n"     // 5
           "      weight: -1\n"     // 6
           "    - just a string\n"  // 7
           "    - name: books\n"    // 8
           "      wieght: 0.1\n"    // 9
           "      weight: 0.2\n");  // 10
  Diagnostics diag;
  ConfigSection data = ConfigSection(&r.root, "", diag).child("data");
  std::vector<ConfigSection> items = data.list("domains", Need::Required);
  REQUIRE(items.size() == 3);  // the string item is reported, not bound
  CHECK(items[1].path() == "data.domains[1]");
  std::vector<std::pair<std::string, double>> domains;
  for (ConfigSection& item : items) {
    std::string name;
    double weight = 0;
    item.read("name", name, Need::Required);
    item.read("weight", weight, Range<double>::positive(), Need::Required);
    item.finish();
    domains.emplace_back(name, weight);
  }
  data.finish();
  CHECK(domains[0] == std::make_pair(std::string("web"), 0.7));
  CHECK(domains[2].second == 0.2);

  const auto& p = diag.problems();
  REQUIRE(p.size() == 3);
  CHECK(p[0].key == "data.domains[2]");
  CHECK(p[0].where.line == 7);
  CHECK_THAT(p[0].message, Contains("expected a mapping"));
  CHECK(p[1].key == "data.domains[1].weight");
  CHECK(p[1].where.str() == r.at(6, 15));
  CHECK(p[1].message == "-1 is out of range: must be greater than 0");
  CHECK(p[2].key == "data.domains[3].wieght");  // indices count every item, bound or not
  CHECK(p[2].where.line == 9);
  CHECK(p[2].hint == "did you mean 'weight'?");
}

TEST_CASE("all problems of a recipe arrive together in one BadInput", "[recipe][config]") {
  TempDir dir;
  Recipe r(dir,
           "tokenizer:\n"
           "  vocab_size: 3\n"
           "  type: wordpiece\n"
           "  extra: 1\n"
           "train:\n"
           "  steps: ten\n");
  Diagnostics diag;
  ConfigSection top(&r.root, "", diag);
  ConfigSection tok = top.child("tokenizer");
  TokenizerSpec spec;
  bind(tok, spec);
  ConfigSection train = top.child("train");
  int64_t steps = 0;
  train.read("steps", steps, Range<int64_t>::positive());
  train.finish();
  top.finish();

  try {
    diag.throw_if_any();
    FAIL("expected BadInput");
  } catch (const BadInput& e) {
    REQUIRE(e.problems().size() == 4);
    std::string text = e.what();
    CHECK_THAT(text, Contains(r.at(2, 15) + ": tokenizer.vocab_size: 3 is out of range: must be "
                                            "between 16 and 1048576"));
    CHECK_THAT(text, Contains(r.at(3, 9) + ": tokenizer.type: 'wordpiece' is not one of: bpe, "
                                           "unigram"));
    CHECK_THAT(text, Contains(r.at(4, 10) + ": tokenizer.extra: unknown key"));
    CHECK_THAT(text, Contains(r.at(6, 10) + ": train.steps: expected an integer, got 'ten'"));
  }
}

TEST_CASE("overridden values are located on the command line", "[recipe][config]") {
  TempDir dir;
  auto file = dir.write("recipe.yaml", "train:\n  steps: 10\n");
  ConfigNode root = plinth::recipe::load_recipe(file, {"train.steps=-1"}).root;
  Diagnostics diag;
  int64_t steps = 0;
  ConfigSection(&root, "", diag).child("train").read("steps", steps, Range<int64_t>::positive());
  CHECK(only_problem(diag).where.str() == "command line");
  CHECK(only_problem(diag).str() == "command line: train.steps: -1 is out of range: must be greater than 0");
}
