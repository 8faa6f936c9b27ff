// Capability suite files: what read_suite_file accepts and what it refuses (file, line, field,
// fix), the questions' sample, and code point lengths.
#include <catch2/catch.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "eval/document_sample.h"
#include "eval/suite_file.h"
#include "test_support.h"
#include "util/error.h"

namespace plinth::eval {
namespace {

using Catch::Matchers::Contains;

// One bad suite file: its text, the line the error names and words the message holds.
struct SuiteFileCase {
  const char* what;
  std::string text;
  int line;
  std::string says;
};

const std::string kSuiteFileGood = R"({"query": "2+2 is", "choices": ["4", "5"], "gold": 0})";

}  // namespace

TEST_CASE("read_suite_file refuses each kind of bad line, naming the suite, the line and the field",
          "[eval][suite]") {
  const std::vector<SuiteFileCase> cases = {
      {"a line that is not JSON", R"({"query": "a", "choices": )", 1, "not JSON"},
      {"a line that is a list", "[1, 2]", 1, "a list, not a JSON object"},
      {"a line that is a number", kSuiteFileGood + "\n7", 2, "7, not a JSON object"},
      {"no query", kSuiteFileGood + "\n" + R"({"choices": ["a", "b"], "gold": 0})", 2, "no 'query'"},
      {"a query that is a number", R"({"query": 5, "choices": ["a", "b"], "gold": 0})", 1,
       "'query' is 5, not a string"},
      {"no choices", R"({"query": "q", "gold": 0})", 1, "no 'choices'"},
      {"choices that are a string", R"({"query": "q", "choices": "a", "gold": 0})", 1,
       "'choices' is \"a\", not a list of strings"},
      {"a choice that is a number", R"({"query": "q", "choices": ["a", 3], "gold": 0})", 1,
       "'choices' entry 1 is 3, not a string"},
      {"no choice at all", R"({"query": "q", "choices": [], "gold": 0})", 1, "'choices' has 0 entries"},
      {"one choice", R"({"query": "q", "choices": ["a"], "gold": 0})", 1, "'choices' has 1 entry"},
      {"an empty choice", R"({"query": "q", "choices": ["a", ""], "gold": 0})", 1,
       "'choices' entry 1 is empty"},
      {"no gold", "\n\n" + std::string(R"({"query": "q", "choices": ["a", "b"]})"), 3, "no 'gold'"},
      {"a gold written as a float", R"({"query": "q", "choices": ["a", "b"], "gold": 1.0})", 1,
       "'gold' is 1.0, not an integer"},
      {"a gold that is a boolean", R"({"query": "q", "choices": ["a", "b"], "gold": true})", 1,
       "'gold' is true, not an integer"},
      {"a gold that is a string", R"({"query": "q", "choices": ["a", "b"], "gold": "0"})", 1,
       "'gold' is \"0\", not an integer"},
      {"a gold past the choices", R"({"query": "q", "choices": ["a", "b", "c"], "gold": 4})", 1,
       "'gold' is 4, but the question has 3 choices"},
      {"a negative gold", R"({"query": "q", "choices": ["a", "b"], "gold": -1})", 1,
       "'gold' is -1, but the question has 2 choices"},
      {"a query that is not UTF-8", "{\"query\": \"caf\xE9\", \"choices\": [\"a\", \"b\"], \"gold\": 0}", 1,
       "'query' is not UTF-8"},
      {"a choice that is not UTF-8",
       kSuiteFileGood + "\r\n{\"query\": \"q\", \"choices\": [\"a\", \"b\xFF\"], \"gold\": 0}", 2,
       "'choices' entry 1 is not UTF-8"},
      {"a provenance header after the first line",
       kSuiteFileGood + "\n" + R"({"plinth_suite": {"source": "x"}})", 2, "provenance header"},
  };
  test::TempDir dir;
  for (size_t i = 0; i < cases.size(); ++i) {
    const SuiteFileCase& c = cases[i];
    INFO(c.what);
    const auto path = dir.write("case" + std::to_string(i) + ".jsonl", c.text);
    try {
      read_suite_file(path, "arc-mini");
      FAIL("no error for " << c.what);
    } catch (const BadInput& e) {
      REQUIRE(e.problems().size() == 1);
      const Problem& p = e.problems()[0];
      CHECK(p.where.file == path.string());
      CHECK(p.where.line == c.line);
      CHECK_THAT(p.message, Contains("suite 'arc-mini'") && Contains(c.says));
      CHECK_FALSE(p.hint.empty());
    }
  }
}

TEST_CASE("read_suite_file says which byte is not UTF-8 and how to give gold", "[eval][suite]") {
  test::TempDir dir;
  const auto bad_text =
      dir.write("latin1.jsonl", "{\"query\": \"caf\xE9\", \"choices\": [\"a\", \"b\"], \"gold\": 0}");
  try {
    read_suite_file(bad_text, "s");
    FAIL("latin-1 text read as UTF-8");
  } catch (const BadInput& e) {
    CHECK(e.problems()[0].where.column == 15);  // the 0xE9 after "caf"
    CHECK_THAT(e.problems()[0].message, Contains("0xE9"));
  }
  const auto bad_gold = dir.write("gold.jsonl", R"({"query": "q", "choices": ["a", "b", "c"], "gold": 3})");
  CHECK_THROWS_WITH(read_suite_file(bad_gold, "s"), Contains("'gold' is 3"));
  try {
    read_suite_file(bad_gold, "s");
  } catch (const BadInput& e) {
    CHECK_THAT(e.problems()[0].hint, Contains("0-based index of the right choice") && Contains("0 to 2"));
  }
}

TEST_CASE("read_suite_file refuses a missing file, a directory and a file without questions",
          "[eval][suite]") {
  test::TempDir dir;
  try {
    read_suite_file(dir / "nowhere.jsonl", "mmlu");
    FAIL("a missing file was read");
  } catch (const BadInput& e) {
    CHECK_THAT(e.problems()[0].message,
               Contains("suite 'mmlu'") && Contains("cannot open") && Contains("nowhere"));
    CHECK_THAT(e.problems()[0].hint, Contains("eval.suites[].path"));
  }
  CHECK_THROWS_WITH(read_suite_file(dir.path(), "mmlu"), Contains("is a directory"));
  for (const std::string& text : {std::string(), std::string("\n  \n\t\n"),
                                  std::string(R"({"plinth_suite": {"source": "x"}})") + "\n\n"}) {
    const auto path = dir.write("empty.jsonl", text);
    try {
      read_suite_file(path, "mmlu");
      FAIL("a file without questions was read");
    } catch (const BadInput& e) {
      CHECK_THAT(e.problems()[0].message, Contains("suite 'mmlu'") && Contains("holds no question"));
      CHECK(e.problems()[0].where.line == 0);
    }
  }
}

TEST_CASE("read_suite_file reads questions around a provenance header, CRLF, blank lines and extra keys",
          "[eval][suite]") {
  test::TempDir dir;
  const std::string text =
      R"({"plinth_suite": {"source": "arc.parquet", "made_by": "plinth suite make"}})"
      "\r\n"
      R"({"query": "The capital of France is", "choices": ["Paris", "Rome"], "gold": 0, "id": "q1"})"
      "\r\n"
      "   \r\n"
      "\n"
      R"({"choices": ["naïve", "wise", "日本"], "gold": 2, "query": "Q: \"x\"\nA:", "meta": {"k": [1]}})"
      "\r\n"
      R"(  {"query": "", "choices": [" a", "b "], "gold": 1}  )";  // no newline at the end
  const auto path = dir.write("arc.jsonl", text);
  const SuiteFile f = read_suite_file(path, "arc");
  CHECK(f.path == path);
  CHECK(nlohmann::json::parse(f.provenance) ==
        nlohmann::json{{"source", "arc.parquet"}, {"made_by", "plinth suite make"}});
  REQUIRE(f.questions.size() == 3);

  CHECK(f.questions[0].query == "The capital of France is");
  CHECK(f.questions[0].choices == std::vector<std::string>{"Paris", "Rome"});
  CHECK(f.questions[0].gold == 0);
  CHECK(f.questions[0].line == 2);

  CHECK(f.questions[1].query == "Q: \"x\"\nA:");  // escapes decoded, no '\r' left
  CHECK(f.questions[1].choices == std::vector<std::string>{"naïve", "wise", "日本"});
  CHECK(f.questions[1].gold == 2);
  CHECK(f.questions[1].line == 5);

  CHECK(f.questions[2].query.empty());
  CHECK(f.questions[2].choices == std::vector<std::string>{" a", "b "});  // choices kept as written
  CHECK(f.questions[2].gold == 1);
  CHECK(f.questions[2].line == 6);
}

TEST_CASE("read_suite_file reads a file without a provenance header", "[eval][suite]") {
  test::TempDir dir;
  const auto path = dir.write("plain.jsonl", kSuiteFileGood + "\n" + kSuiteFileGood + "\n");
  const SuiteFile f = read_suite_file(path, "plain");
  CHECK(f.provenance.empty());
  REQUIRE(f.questions.size() == 2);
  CHECK(f.questions[1].line == 2);
}

TEST_CASE("code_points counts characters, not bytes", "[eval][suite]") {
  CHECK(code_points("") == 0);
  CHECK(code_points("Paris") == 5);
  CHECK(code_points(" Paris") == 6);
  CHECK(code_points("naïve") == 5);  // 6 bytes
  CHECK(std::string("naïve").size() == 6);
  CHECK(code_points("日本語") == 3);             // 9 bytes
  CHECK(code_points("\xF0\x9F\x98\x80!") == 2);  // an emoji (4 bytes) and '!'
}

TEST_CASE("suite_sample draws the same questions for the same seed, a smaller sample first",
          "[eval][suite]") {
  const std::vector<uint64_t> all = suite_sample(50, 0, 7, "arc");
  REQUIRE(all.size() == 50);
  CHECK(std::set<uint64_t>(all.begin(), all.end()).size() == 50);  // a permutation of 0..49
  CHECK(*std::max_element(all.begin(), all.end()) == 49);
  CHECK(all == sample_order(50, 7, "suite:arc"));  // drawn as the domains' documents are
  CHECK(suite_sample(50, 80, 7, "arc") == all);    // more than there are: all
  CHECK(suite_sample(50, 50, 7, "arc") == all);

  const std::vector<uint64_t> ten = suite_sample(50, 10, 7, "arc");
  REQUIRE(ten.size() == 10);
  CHECK(ten == suite_sample(50, 10, 7, "arc"));
  CHECK(std::equal(ten.begin(), ten.end(), all.begin()));
  const std::vector<uint64_t> twenty = suite_sample(50, 20, 7, "arc");
  CHECK(std::equal(ten.begin(), ten.end(), twenty.begin()));

  CHECK(suite_sample(50, 10, 8, "arc") != ten);   // another seed
  CHECK(suite_sample(50, 10, 7, "mmlu") != ten);  // another suite
  std::vector<uint64_t> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  CHECK(all != sorted);  // shuffled, not file order
  CHECK(suite_sample(0, 5, 7, "arc").empty());
}

}  // namespace plinth::eval
