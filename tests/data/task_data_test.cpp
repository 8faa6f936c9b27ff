#include "data/task_data.h"

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "data/task_spec.h"
#include "recipe/recipe_loader.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

using namespace plinth;
using namespace plinth::data;
using plinth::test::TempDir;

namespace {

// The trans-de-en dictionary's single-sense lines: `Breite {f} :: broadness`.
const char* kDeEnRegex = R"(^(?<prompt>[^{}|;:\[\]]+?) \{[fmn]\} :: (?<completion>[^|;\[\]{}]+)$)";

const char* kDeEnLines =
    "# Version :: devel 2023-01-30\n"
    "# Copyright (c) :: Frank Richter\n"
    "Aalfang {m} :: eel fishing\n"
    "Aal {m} (auf der Speisekarte) [cook.] :: eel\n"
    "Breite {f} :: broadness\n"
    "\n"
    "Abbau {m}; Abbauen {n} | Abbauten {pl} :: dismantling; dismantlement | dismantlings\n"
    "Abendbrot {n} :: supper  \r\n"
    "Zeitung {f} :: newspaper\n";

TaskSpec spec_for(const std::filesystem::path& file, std::string format) {
  TaskSpec s;
  s.path = file.string();
  s.format = std::move(format);
  s.val_fraction = 0;
  s.test_fraction = 0;
  s.where = Location{"finetune.yaml", 4, 3};
  return s;
}

std::vector<std::pair<std::string, std::string>> pairs(const std::vector<TaskExample>& examples) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : examples) out.emplace_back(e.prompt, e.completion);
  return out;
}

Location at(int line, int column = 5) {
  return Location{"finetune.yaml", line, column};
}

const Problem* problem_for(const Diagnostics& diag, const std::string& key) {
  for (const auto& p : diag.problems())
    if (p.key.size() >= key.size() && p.key.compare(p.key.size() - key.size(), key.size(), key) == 0)
      return &p;
  return nullptr;
}

tokenizer::Tokenizer debian_tokenizer() {
  return tokenizer::Tokenizer::load(plinth::test::source_dir() / "tokenizers" / "debian.model");
}

}  // namespace

TEST_CASE("bind TaskSpec: every key, and the defaults", "[data][task]") {
  TempDir dir;
  auto file = dir.write("de-en", kDeEnLines);
  ConfigNode m = ConfigNode::map(at(3, 1));
  m.set("name", ConfigNode::scalar("trans-de-en", at(4)));
  m.set("format", ConfigNode::scalar("regex", at(5)));
  m.set("path", ConfigNode::scalar(file.string(), at(6)));
  m.set("regex", ConfigNode::scalar(kDeEnRegex, at(7)));
  m.set("template", ConfigNode::scalar("Q: {prompt}\nA:", at(8)));
  m.set("completion_suffix", ConfigNode::scalar("<|end|>", at(9)));
  m.set("loss_on_prompt", ConfigNode::scalar("true", at(10)));
  m.set("on_bad_line", ConfigNode::scalar("skip", at(11)));
  m.set("max_examples", ConfigNode::scalar("1000", at(12)));
  m.set("val_fraction", ConfigNode::scalar("0.1", at(13)));
  m.set("test_fraction", ConfigNode::scalar("0.2", at(14)));
  m.set("split_seed", ConfigNode::scalar("7", at(15)));
  m.set("seq_len", ConfigNode::scalar("64", at(16)));
  Diagnostics diag;
  ConfigSection s(&m, "task", diag);
  TaskSpec spec;
  bind(s, spec);
  for (const auto& p : diag.problems()) INFO(p.str());
  CHECK(diag.empty());
  CHECK(spec.name == "trans-de-en");
  CHECK(spec.format == "regex");
  CHECK(spec.path == file.string());
  CHECK(spec.regex == kDeEnRegex);
  CHECK(spec.prompt_template == "Q: {prompt}\nA:");
  CHECK(spec.loss_on_prompt);
  CHECK(spec.on_bad_line == "skip");
  CHECK(spec.max_examples == 1000);
  CHECK(spec.val_fraction == 0.1);
  CHECK(spec.test_fraction == 0.2);
  CHECK(spec.split_seed == 7);
  CHECK(spec.seq_len == 64);
  CHECK(spec.where.line == 3);

  TaskSpec defaults;
  CHECK(defaults.name == "task");
  CHECK(defaults.prompt_template == "<|prompt|>{prompt}<|response|>");
  CHECK(defaults.completion_suffix == "<|end|>");
  CHECK_FALSE(defaults.loss_on_prompt);
  CHECK(defaults.on_bad_line == "fail");
  CHECK(defaults.prompt_field == "prompt");
  CHECK(defaults.completion_field == "completion");
  CHECK(defaults.prompt_column == 0);
  CHECK(defaults.completion_column == 1);
}

TEST_CASE("bind TaskSpec: every problem at once", "[data][task]") {
  TempDir dir;
  auto file = dir.write("t.tsv", "a\tb\n");

  SECTION("regex problems, template, fractions, unknown key, missing file") {
    ConfigNode m = ConfigNode::map(at(3, 1));
    m.set("format", ConfigNode::scalar("regex", at(4)));
    m.set("path", ConfigNode::scalar((dir / "missing.txt").string(), at(5)));
    m.set("regex", ConfigNode::scalar("^(?<prompt>.+) :: (?<answer>.+)$", at(6)));
    m.set("template", ConfigNode::scalar("<|prompt|>", at(7)));
    m.set("val_fraction", ConfigNode::scalar("0.5", at(8)));
    m.set("test_fraction", ConfigNode::scalar("0.5", at(9)));
    m.set("on_bad_lines", ConfigNode::scalar("skip", at(10)));
    Diagnostics diag;
    ConfigSection s(&m, "task", diag);
    TaskSpec spec;
    bind(s, spec);
    const Problem* p = problem_for(diag, "task.path");
    REQUIRE(p);
    CHECK_THAT(p->message, Catch::Contains("does not exist"));
    p = problem_for(diag, "task.regex");
    REQUIRE(p);
    CHECK_THAT(p->message, Catch::Contains("no named group (?<completion>...)"));
    CHECK(p->where.line == 6);
    p = problem_for(diag, "task.template");
    REQUIRE(p);
    CHECK_THAT(p->message, Catch::Contains("{prompt}"));
    p = problem_for(diag, "task.test_fraction");
    REQUIRE(p);
    CHECK_THAT(p->message, Catch::Contains("leave nothing to train on"));
    p = problem_for(diag, "task.on_bad_lines");
    REQUIRE(p);
    CHECK_THAT(p->hint + p->message, Catch::Contains("on_bad_line"));
    CHECK_THROWS_AS(diag.throw_if_any(), BadInput);
  }
  SECTION("format regex without a regex; a regex for another format; same column twice") {
    ConfigNode m = ConfigNode::map(at(3, 1));
    m.set("format", ConfigNode::scalar("regex", at(4)));
    m.set("path", ConfigNode::scalar(file.string(), at(5)));
    Diagnostics diag;
    ConfigSection s(&m, "task", diag);
    TaskSpec spec;
    bind(s, spec);
    const Problem* p = problem_for(diag, "task.regex");
    REQUIRE(p);
    CHECK_THAT(p->message, Catch::Contains("needs a regex"));

    ConfigNode t = ConfigNode::map(at(3, 1));
    t.set("format", ConfigNode::scalar("tsv", at(4)));
    t.set("path", ConfigNode::scalar(file.string(), at(5)));
    t.set("regex", ConfigNode::scalar("(?<prompt>.)(?<completion>.)", at(6)));
    t.set("completion_column", ConfigNode::scalar("0", at(7)));
    Diagnostics diag2;
    ConfigSection s2(&t, "task", diag2);
    TaskSpec spec2;
    bind(s2, spec2);
    p = problem_for(diag2, "task.regex");
    REQUIRE(p);
    CHECK_THAT(p->message, Catch::Contains("only used with format: regex"));
    p = problem_for(diag2, "task.completion_column");
    REQUIRE(p);
    CHECK_THAT(p->message, Catch::Contains("both come from column 0"));
  }
  SECTION("an absent section reports format and path missing") {
    Diagnostics diag;
    ConfigSection s(nullptr, "task", diag, at(1, 1));
    TaskSpec spec;
    bind(s, spec);
    CHECK(problem_for(diag, "task.format"));
    CHECK(problem_for(diag, "task.path"));
  }
}

TEST_CASE("task regex: named groups become numbered ones", "[data][task]") {
  TaskRegex r = translate_task_regex(kDeEnRegex);
  CHECK(r.numbered == R"(^([^{}|;:\[\]]+?) \{[fmn]\} :: ([^|;\[\]{}]+)$)");
  CHECK(r.prompt_group == 1);
  CHECK(r.completion_group == 2);

  // Escaped parentheses, '(' in a class, non-capturing groups and flag groups are not captures;
  // an unnamed group before the named ones shifts their indices; (?P<name>) works too.
  r = translate_task_regex(R"(^\((x|y)\) [(]*(?:a|b)(?i:c)(?P<completion>\w+)=(?<prompt>.*)$)");
  CHECK(r.numbered == R"(^\((x|y)\) [(]*(?:a|b)(?i:c)(\w+)=(.*)$)");
  CHECK(r.completion_group == 2);
  CHECK(r.prompt_group == 3);

  CHECK_THROWS_WITH(
      translate_task_regex("^(?<prompt>.+) :: (.+)$", at(9)),
      Catch::Contains("finetune.yaml:9:5") && Catch::Contains("no named group (?<completion>...)"));
  CHECK_THROWS_WITH(
      translate_task_regex("^(?<promt>.+) :: (?<completion>.+)$"),
      Catch::Contains("no named group (?<prompt>...)") && Catch::Contains("did you mean 'promt'"));
  CHECK_THROWS_WITH(translate_task_regex("(?<prompt>.)(?<prompt>.)(?<completion>.)"),
                    Catch::Contains("used twice"));
  CHECK_THROWS_WITH(translate_task_regex("(?<prompt>.)(?<completion>.)(["),
                    Catch::Contains("is not a valid regex"));
  CHECK_THROWS_AS(translate_task_regex("(?<prompt.)(?<completion>.)"), BadInput);
  // Lookaround and back-references need backtracking, which could hang on a long line.
  CHECK_THROWS_WITH(translate_task_regex("(?<prompt>.+)(?=:)(?<completion>.+)"),
                    Catch::Contains("lookahead is not supported"));
  CHECK_THROWS_WITH(translate_task_regex(R"((?<prompt>\w) (?<completion>\1))"),
                    Catch::Contains("back-references are not supported"));
}

TEST_CASE("load_task: a regex over a long line takes linear time, and finds the groups", "[data][task]") {
  // std::regex, which plinth used before RE2, overflows its stack on lines of 30 KB with such a
  // pattern (a segfault); a backtracking matcher would also show here as the suite's timeout.
  TempDir dir;
  std::string prompt(1 << 20, 'w');
  TaskSpec spec;
  spec.format = "regex";
  spec.regex = kDeEnRegex;
  spec.path = dir.write("long.txt", prompt + " {f} :: Wort\n" + std::string(1 << 20, 'x') + "\n").string();
  spec.val_fraction = spec.test_fraction = 0.0001;
  TaskData task = load_task(spec);
  REQUIRE(task.train.size() + task.val.size() + task.test.size() == 1);
  const auto& example = task.train.empty() ? (task.val.empty() ? task.test[0] : task.val[0]) : task.train[0];
  CHECK(example.prompt == prompt);
  CHECK(example.completion == "Wort");
  CHECK(task.unmatched == 1);
}

TEST_CASE("load_task: JSONL fields", "[data][task]") {
  TempDir dir;
  auto file = dir.write("t.jsonl",
                        "{\"prompt\": \"2+3=\", \"completion\": \"5\"}\n"
                        "\n"
                        "{\"q\": \"ignored\", \"prompt\": \"  Hallo \", \"completion\": \"hello\\n\"}\n"
                        "{\"prompt\": \"7*6=\", \"completion\": 42}\n");
  TaskData d = load_task(spec_for(file, "jsonl"));
  CHECK(pairs(d.train) ==
        std::vector<std::pair<std::string, std::string>>{{"2+3=", "5"}, {"Hallo", "hello"}, {"7*6=", "42"}});
  CHECK(d.train[1].line == 3);
  CHECK(d.lines == 4);
  CHECK(d.skipped == 0);
  CHECK(d.val.empty());
  CHECK(d.test.empty());

  TaskSpec other = spec_for(dir.write("o.jsonl", "{\"de\": \"Haus\", \"en\": \"house\"}\n"), "jsonl");
  other.prompt_field = "de";
  other.completion_field = "en";
  CHECK(pairs(load_task(other).train) == std::vector<std::pair<std::string, std::string>>{{"Haus", "house"}});
}

TEST_CASE("load_task: TSV columns, comments and blank lines ignored", "[data][task]") {
  TempDir dir;
  auto file = dir.write("t.tsv", "# de\ten\nHaus\thouse\textra\n\nBaum\ttree\n");
  TaskData d = load_task(spec_for(file, "tsv"));
  CHECK(pairs(d.train) ==
        std::vector<std::pair<std::string, std::string>>{{"Haus", "house"}, {"Baum", "tree"}});
  CHECK(d.train[1].line == 4);

  TaskSpec swapped = spec_for(file, "tsv");
  swapped.prompt_column = 1;
  swapped.completion_column = 0;
  CHECK(load_task(swapped).train.front().prompt == "house");

  // A row lacking the column is a bad line: it names the file and line.
  auto bad = dir.write("bad.tsv", "Haus\thouse\nBaum\n");
  CHECK_THROWS_WITH(load_task(spec_for(bad, "tsv")),
                    Catch::Contains(bad.string() + ":2") && Catch::Contains("column 1 (0-based) is missing"));
}

TEST_CASE("load_task: the trans-de-en regex over dictionary lines", "[data][task]") {
  TempDir dir;
  auto file = dir.write("de-en", kDeEnLines);
  TaskSpec spec = spec_for(file, "regex");
  spec.regex = kDeEnRegex;
  TaskData d = load_task(spec);
  CHECK(pairs(d.train) == std::vector<std::pair<std::string, std::string>>{{"Aalfang", "eel fishing"},
                                                                           {"Breite", "broadness"},
                                                                           {"Abendbrot", "supper"},
                                                                           {"Zeitung", "newspaper"}});
  CHECK(d.train.front().line == 3);
  CHECK(d.lines == 9);
  // Comments and the blank line are ignored; the qualified and multi-sense lines do not match.
  CHECK(d.unmatched == 2);
  CHECK(d.skipped == 0);
}

TEST_CASE("load_task: splits come from a stable hash of each prompt", "[data][task]") {
  TempDir dir;
  std::string small, large;
  for (int i = 0; i < 200; ++i) {
    std::string line = "Wort" + std::to_string(i) + " {n} :: word " + std::to_string(i) + "\n";
    small += line;
    large += "Extra" + std::to_string(i) + " {f} :: extra " + std::to_string(i) + "\n" + line;
  }
  TaskSpec spec = spec_for(dir.write("small", small), "regex");
  spec.regex = kDeEnRegex;
  spec.val_fraction = 0.2;
  spec.test_fraction = 0.1;
  TaskData a = load_task(spec);
  spec.path = dir.write("large", large).string();
  TaskData b = load_task(spec);

  CHECK(a.examples() == 200);
  CHECK(b.examples() == 400);
  // Roughly the fractions asked for, and every split used.
  CHECK(a.val.size() > 20);
  CHECK(a.val.size() < 65);
  CHECK(a.test.size() > 5);
  CHECK(a.test.size() < 40);
  std::map<std::string, std::string> where_a, where_b;
  auto record = [](const TaskData& d, std::map<std::string, std::string>& where) {
    for (const auto& e : d.train) where[e.prompt] = "train";
    for (const auto& e : d.val) where[e.prompt] = "val";
    for (const auto& e : d.test) where[e.prompt] = "test";
  };
  record(a, where_a);
  record(b, where_b);
  for (const auto& [prompt, split] : where_a) {
    INFO(prompt);
    CHECK(where_b.at(prompt) == split);
  }
  // Another seed draws another split.
  spec.split_seed = 1;
  TaskData c = load_task(spec);
  CHECK(pairs(c.val) != pairs(b.val));
  CHECK(task_split("Wort1", 0.2, 0.1, 0) == task_split("Wort1", 0.2, 0.1, 0));
}

TEST_CASE("task_split: golden values pin the hash, so users' splits stay put between versions",
          "[data][task]") {
  // If this fails, the hash behind the splits changed: every user's train/val/test would be
  // redrawn. Restore the old hash, or, when the change is intended, say so in the release notes
  // and update these values.
  CHECK(task_split_point("Hund", 0) == 0.85035364794050239);
  CHECK(task_split_point("Bank", 0) == 0.070694230082459342);
  CHECK(task_split_point("Bank", 7) == 0.78368950724722319);
  CHECK(task_split_point("", 0) == 0.03394906697023381);
  CHECK(task_split_point("12+30=", 0) == 0.13765167328620243);

  const char* prompts[] = {"Aalfang", "Abendbrot", "Bank", "Breite", "Haus",    "Hund",
                           "Katze",   "Schloss",   "Tag",  "Wasser", "Zeitung", "12+30="};
  std::string splits;  // one letter per prompt: t(rain), v(al), s (test)
  for (const char* p : prompts) {
    TaskSplit sp = task_split(p, 0.2, 0.2, 0);
    splits += sp == TaskSplit::Train ? 't' : sp == TaskSplit::Val ? 'v' : 's';
  }
  CHECK(splits == "vtvtvtvvttsv");
}

TEST_CASE("load_task: every completion of a prompt goes to the prompt's split", "[data][task]") {
  // 100 words with three senses each: a hash of (prompt, completion) would put some senses of
  // a word in train and others in test (about 1 - 0.6^3 - 0.2^3 - 0.2^3 = 77% of the words).
  TempDir dir;
  std::string lines;
  for (int i = 0; i < 100; ++i)
    for (const char* sense : {"one", "two", "three"})
      lines += "Wort" + std::to_string(i) + "\t" + sense + " " + std::to_string(i) + "\n";
  TaskSpec spec = spec_for(dir.write("senses.tsv", lines), "tsv");
  spec.val_fraction = 0.2;
  spec.test_fraction = 0.2;
  TaskData d = load_task(spec);
  REQUIRE(d.examples() == 300);
  std::map<std::string, std::set<std::string>> splits_of;
  for (const auto& e : d.train) splits_of[e.prompt].insert("train");
  for (const auto& e : d.val) splits_of[e.prompt].insert("val");
  for (const auto& e : d.test) splits_of[e.prompt].insert("test");
  REQUIRE(splits_of.size() == 100);
  for (const auto& [prompt, splits] : splits_of) {
    INFO(prompt);
    CHECK(splits.size() == 1);
  }
  CHECK_FALSE(d.val.empty());
  CHECK_FALSE(d.test.empty());
  // Each word's three senses sit together, in file order.
  CHECK(d.train.size() % 3 == 0);
}

TEST_CASE("the repo's task recipes: no prompt is in two splits", "[data][task]") {
  for (const char* recipe : {"recipes/finetune/task-de-en.yaml", "tests/data/forgetting/task.yaml"}) {
    INFO(recipe);
    recipe::LoadedRecipe loaded = recipe::load_recipe(plinth::test::source_dir() / recipe);
    Diagnostics diag;
    ConfigSection root(&loaded.root, "", diag, Location{loaded.file.string()});
    ConfigSection section = root.child("task", Need::Required);
    TaskSpec spec;
    bind(section, spec);
    diag.throw_if_any();
    TaskData d = load_task(spec);
    std::map<std::string, char> split_of;
    uint64_t shared = 0, multi_sense = 0;
    std::map<std::string, int> senses;
    auto record = [&](const std::vector<TaskExample>& examples, char split) {
      for (const auto& e : examples) {
        auto [it, fresh] = split_of.emplace(e.prompt, split);
        if (!fresh && it->second != split) ++shared;
        if (++senses[e.prompt] == 2) ++multi_sense;
      }
    };
    record(d.train, 't');
    record(d.val, 'v');
    record(d.test, 's');
    CHECK(shared == 0);
    CHECK_FALSE(d.test.empty());
    CHECK(multi_sense > 0);  // the data does hold words with several senses: the check has teeth
  }
}

TEST_CASE("load_task: duplicates dropped, max_examples taken in file order", "[data][task]") {
  TempDir dir;
  auto file = dir.write("t.tsv", "a\t1\nb\t2\na\t1\na\t3\nc\t4\nd\t5\n");
  TaskSpec spec = spec_for(file, "tsv");
  TaskData d = load_task(spec);
  CHECK(pairs(d.train) == std::vector<std::pair<std::string, std::string>>{
                              {"a", "1"}, {"b", "2"}, {"a", "3"}, {"c", "4"}, {"d", "5"}});
  CHECK(d.duplicates == 1);
  spec.max_examples = 3;
  d = load_task(spec);
  CHECK(pairs(d.train) ==
        std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", "2"}, {"a", "3"}});
}

TEST_CASE("load_task: malformed JSONL lines fail with file:line, or are skipped and counted",
          "[data][task]") {
  TempDir dir;
  auto file = dir.write("t.jsonl",
                        "{\"prompt\": \"a\", \"completion\": \"1\"}\n"
                        "{\"prompt\": \"b\", \"completion\": \"2\"}\n"
                        "{\"prompt\": \"c\", \"completion\": \n"
                        "[1, 2]\n"
                        "{\"prompt\": \"d\"}\n"
                        "{\"prompt\": \"e\", \"completion\": [\"x\"]}\n"
                        "{\"prompt\": \"f\", \"completion\": \"6\"}\n");
  TaskSpec spec = spec_for(file, "jsonl");
  try {
    load_task(spec);
    FAIL("no BadInput");
  } catch (const BadInput& e) {
    std::string what = e.what();
    CHECK_THAT(what, Catch::Contains(file.string() + ":3: ") && Catch::Contains("not a JSON record") &&
                         Catch::Contains("on_bad_line: skip"));
    REQUIRE(e.problems().size() == 1);
    CHECK(e.problems()[0].where.line == 3);
  }

  spec.on_bad_line = "skip";
  TaskData d = load_task(spec);
  CHECK(pairs(d.train) ==
        std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", "2"}, {"f", "6"}});
  CHECK(d.skipped == 4);
  REQUIRE(d.skipped_samples.size() == 4);
  CHECK_THAT(d.skipped_samples[0], Catch::StartsWith(file.string() + ":3: not a JSON record"));
  CHECK(d.skipped_samples[1] == file.string() + ":4: expected a JSON object, got array");
  CHECK(d.skipped_samples[2] == file.string() + ":5: the record has no field 'completion'");
  CHECK(d.skipped_samples[3] == file.string() + ":6: field 'completion' is array, not a string");
}

TEST_CASE("load_task: an empty completion is a bad line", "[data][task]") {
  TempDir dir;
  auto file = dir.write("t.jsonl",
                        "{\"prompt\": \"a\", \"completion\": \"1\"}\n"
                        "{\"prompt\": \"b\", \"completion\": \" \\t \"}\n");
  TaskSpec spec = spec_for(file, "jsonl");
  CHECK_THROWS_AS(load_task(spec), BadInput);
  CHECK_THROWS_WITH(load_task(spec),
                    Catch::Contains(file.string() + ":2: ") && Catch::Contains("the completion is empty"));
  spec.on_bad_line = "skip";
  TaskData d = load_task(spec);
  CHECK(d.train.size() == 1);
  CHECK(d.skipped == 1);

  // A regex whose completion group matched nothing.
  auto text = dir.write("t.txt", "Haus :: house\nBaum ::\n");
  TaskSpec r = spec_for(text, "regex");
  r.regex = "^(?<prompt>\\S+) ::(?<completion>.*)$";
  CHECK_THROWS_WITH(load_task(r),
                    Catch::Contains(text.string() + ":2: ") && Catch::Contains("the completion is empty"));
}

TEST_CASE("load_task: bad input about the whole task", "[data][task]") {
  TempDir dir;
  auto file = dir.write("de-en", kDeEnLines);

  SECTION("a regex without the named groups") {
    TaskSpec spec = spec_for(file, "regex");
    spec.regex = "^(.+) :: (.+)$";
    CHECK_THROWS_AS(load_task(spec), BadInput);
    CHECK_THROWS_WITH(load_task(spec), Catch::Contains("finetune.yaml:4:3") &&
                                           Catch::Contains("no named group (?<prompt>...)"));
  }
  SECTION("a missing file") {
    TaskSpec spec = spec_for(dir / "nope.jsonl", "jsonl");
    CHECK_THROWS_AS(load_task(spec), BadInput);
    CHECK_THROWS_WITH(load_task(spec),
                      Catch::Contains("cannot open '" + (dir / "nope.jsonl").string() + "'"));
    spec.path = dir.path().string();
    CHECK_THROWS_WITH(load_task(spec), Catch::Contains("is a directory"));
  }
  SECTION("a regex that matches no line") {
    TaskSpec spec = spec_for(file, "regex");
    spec.regex = "^(?<prompt>.+) => (?<completion>.+)$";
    CHECK_THROWS_WITH(load_task(spec), Catch::Contains("no training example") &&
                                           Catch::Contains("6 not matched by the regex") &&
                                           Catch::Contains("the regex matches no line"));
  }
  SECTION("held-out fractions that leave nothing to train on") {
    TaskSpec spec = spec_for(file, "regex");
    spec.regex = kDeEnRegex;
    spec.val_fraction = 0.6;
    spec.test_fraction = 0.4;
    CHECK_THROWS_WITH(load_task(spec), Catch::Contains("leave nothing to train on"));
  }
}

TEST_CASE("tokenize_example: template markers are single tokens, completion keeps the suffix",
          "[data][task]") {
  tokenizer::Tokenizer tok = debian_tokenizer();
  const int prompt_id = tok.piece_to_id("<|prompt|>");
  const int response_id = tok.piece_to_id("<|response|>");
  const int end_id = tok.piece_to_id("<|end|>");
  for (int id : {prompt_id, response_id, end_id}) CHECK(id != tok.unk_id());
  CHECK(tok.encode("<|prompt|>") == std::vector<int32_t>{prompt_id});
  CHECK(tok.encode("<|response|>") == std::vector<int32_t>{response_id});
  CHECK(tok.encode("<|end|>") == std::vector<int32_t>{end_id});

  TaskSpec spec;
  CHECK(render_prompt(spec, "Aalfang") == "<|prompt|>Aalfang<|response|>");
  spec.prompt_template = "{prompt} = {prompt}?";
  CHECK(render_prompt(spec, "x") == "x = x?");
  spec = TaskSpec{};

  TokenizedExample t = tokenize_example(tok, spec, TaskExample{"Aalfang", "eel fishing", 3});
  REQUIRE(t.prompt.size() >= 4);
  REQUIRE(t.completion.size() >= 2);
  CHECK(t.prompt[1] == prompt_id);
  CHECK(t.prompt.back() == response_id);
  CHECK(t.completion.back() == end_id);
  CHECK(tok.decode(std::vector<int32_t>(t.prompt.begin() + 1, t.prompt.end())) ==
        "<|prompt|>Aalfang<|response|>");
  CHECK(tok.decode(t.completion) == "eel fishing<|end|>");
  // No marker inside the text itself.
  for (size_t i = 2; i + 1 < t.prompt.size(); ++i) CHECK(t.prompt[i] != response_id);
}

TEST_CASE("one prompt format: every task sequence starts with EOS, like a pretraining document",
          "[data][task]") {
  tokenizer::Tokenizer tok = debian_tokenizer();
  TaskSpec spec;
  // A pretraining document follows the EOS that ends the one before it (prepare appends EOS to
  // each); a task example starts the same way, then the template.
  std::vector<int32_t> want = {tok.eos_id()};
  tok.encode("<|prompt|>Hund<|response|>", want);
  CHECK(task_prompt_tokens(tok, spec, "Hund") == want);
  CHECK(tokenize_example(tok, spec, TaskExample{"Hund", "dog", 1}).prompt == want);
  CHECK(tokenize_example(tok, spec, TaskExample{"Hund", "dog", 1}).completion == tok.encode("dog<|end|>"));
}

TEST_CASE("task_format_from_recipe: a fine-tuned checkpoint's stored recipe gives its prompt format",
          "[data][task]") {
  tokenizer::Tokenizer tok = debian_tokenizer();
  ConfigNode root = ConfigNode::map(at(1, 1));
  CHECK_FALSE(task_format_from_recipe(root).has_value());  // a pretraining recipe: no task

  ConfigNode task = ConfigNode::map(at(2, 1));
  task.set("name", ConfigNode::scalar("de-en", at(3)));
  task.set("format", ConfigNode::scalar("regex", at(4)));
  task.set("path", ConfigNode::scalar("/nowhere/de-en", at(5)));  // not read: generate needs no task file
  task.set("template", ConfigNode::scalar("Q: {prompt}\nA:", at(6)));
  task.set("completion_suffix", ConfigNode::scalar("<|end|>", at(7)));
  root.set("task", task);
  std::optional<TaskSpec> spec = task_format_from_recipe(root);
  REQUIRE(spec.has_value());
  CHECK(spec->name == "de-en");
  CHECK(spec->prompt_template == "Q: {prompt}\nA:");
  CHECK(spec->completion_suffix == "<|end|>");
  // The prompt `plinth generate` builds is the one training saw.
  TaskSpec trained;
  trained.prompt_template = "Q: {prompt}\nA:";
  CHECK(task_prompt_tokens(tok, *spec, "Hund") ==
        tokenize_example(tok, trained, TaskExample{"Hund", "dog", 1}).prompt);

  // Absent keys: TaskSpec's defaults.
  root.find("task")->erase("template");
  root.find("task")->erase("completion_suffix");
  spec = task_format_from_recipe(root);
  REQUIRE(spec.has_value());
  CHECK(spec->prompt_template == TaskSpec{}.prompt_template);
  CHECK(spec->completion_suffix == TaskSpec{}.completion_suffix);

  root.find("task")->set("template", ConfigNode::scalar("no slot", at(8)));
  CHECK_THROWS_AS(task_format_from_recipe(root), BadInput);
  CHECK_THROWS_WITH(task_format_from_recipe(root),
                    Catch::Contains("task.template") && Catch::Contains("the template has no {prompt}"));
}

TEST_CASE("fit_example: the prompt's start goes first, the EOS and the completion stay", "[data][task]") {
  // [EOS=2] 10 11 12 13 [marker=9] | 20 21 [end=3]
  const TokenizedExample e{{2, 10, 11, 12, 13, 9}, {20, 21, 3}};
  SECTION("fits: unchanged") {
    for (size_t limit : {9, 10, 100}) {
      TokenizedExample f = fit_example(e, limit);
      CHECK(f.prompt == e.prompt);
      CHECK(f.completion == e.completion);
    }
  }
  SECTION("too long: tokens after the EOS go, the prompt's end stays") {
    TokenizedExample f = fit_example(e, 7);
    CHECK(f.prompt == std::vector<int32_t>{2, 12, 13, 9});
    CHECK(f.completion == e.completion);
    f = fit_example(e, 6);
    CHECK(f.prompt == std::vector<int32_t>{2, 13, 9});
    CHECK(f.completion == e.completion);
    f = fit_example(e, 5);
    CHECK(f.prompt == std::vector<int32_t>{2, 9});
    CHECK(f.completion == e.completion);
  }
  SECTION("not even the EOS and the marker fit beside the completion: its end is cut") {
    TokenizedExample f = fit_example(e, 4);
    CHECK(f.prompt == std::vector<int32_t>{2, 9});
    CHECK(f.completion == std::vector<int32_t>{20, 21});
    f = fit_example(e, 2);
    CHECK(f.prompt == std::vector<int32_t>{2, 9});
    CHECK(f.completion.empty());
    f = fit_example(e, 1);
    CHECK(f.prompt == std::vector<int32_t>{2});
    CHECK(f.completion.empty());
  }
  SECTION("never more than the limit") {
    for (size_t limit = 0; limit < 12; ++limit) {
      TokenizedExample f = fit_example(e, limit);
      CHECK(f.prompt.size() + f.completion.size() <= limit);
    }
  }
  // The prompt alone beside a generation budget of 4: the same rule.
  CHECK(fit_prompt(e.prompt, 4, 7) == std::vector<int32_t>{2, 13, 9});
  CHECK(fit_prompt(e.prompt, 1, 7) == e.prompt);
}
