#include "data/corpus_spec.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "test_support.h"

using namespace plinth;
using namespace plinth::data;
using plinth::test::TempDir;

namespace {

Location at(int line, int column = 5) {
  return Location{"recipe.yaml", line, column};
}

ConfigNode list_of(std::vector<std::string> items, int line) {
  ConfigNode seq = ConfigNode::sequence(at(line));
  for (auto& i : items) seq.push_back(ConfigNode::scalar(std::move(i), at(line, 20)));
  return seq;
}

// The problem recorded for `key` (a key path suffix), or a failing check.
const Problem* problem_for(const Diagnostics& diag, const std::string& key) {
  for (const auto& p : diag.problems())
    if (p.key.size() >= key.size() && p.key.compare(p.key.size() - key.size(), key.size(), key) == 0)
      return &p;
  return nullptr;
}

}  // namespace

TEST_CASE("bind SourceSpec: every key", "[data]") {
  TempDir dir;
  dir.write("fortunes/cookie", "a\n%\nb\n");
  dir.write("fortunes/cookie.dat", "x");
  ConfigNode m = ConfigNode::map(at(10, 7));
  m.set("path", ConfigNode::scalar((dir / "fortunes").string(), at(10, 13)));
  m.set("format", ConfigNode::scalar("text", at(11)));
  m.set("documents", ConfigNode::scalar("separator", at(12)));
  m.set("separator", ConfigNode::scalar("^%$", at(13)));
  m.set("exclude", list_of({"*.dat"}, 14));
  m.set("max_bytes", ConfigNode::scalar("2K", at(15)));
  m.set("on_binary", ConfigNode::scalar("skip", at(16)));
  m.set("on_bad_record", ConfigNode::scalar("skip", at(17)));
  m.set("field", ConfigNode::scalar("body", at(18)));
  m.set("column", ConfigNode::scalar("2", at(19)));
  Diagnostics diag;
  ConfigSection s(&m, "data.domains[0].sources[0]", diag);
  SourceSpec spec;
  bind(s, spec);
  for (const auto& p : diag.problems()) INFO(p.str());
  CHECK(diag.empty());
  CHECK(spec.documents == DocumentRule::Separator);
  CHECK(spec.separator == "^%$");
  CHECK(spec.exclude == std::vector<std::string>{"*.dat"});
  CHECK(spec.max_bytes == 2048);
  CHECK(spec.on_binary == "skip");
  CHECK(spec.on_bad_record == "skip");
  CHECK(spec.field == "body");
  CHECK(spec.column == 2);
  CHECK(spec.where.line == 10);
}

TEST_CASE("bind SourceSpec: problems carry the line of the key", "[data]") {
  TempDir dir;
  dir.write("d/a.txt", "text");
  Diagnostics diag;
  SourceSpec spec;
  ConfigNode m = ConfigNode::map(at(20, 7));
  auto bind_one = [&]() {
    ConfigSection s(&m, "data.domains[1].sources[0]", diag);
    bind(s, spec);
  };

  SECTION("a path that does not exist") {
    m.set("path", ConfigNode::scalar((dir / "nothing-here").string(), at(21, 13)));
    bind_one();
    const Problem* p = problem_for(diag, "sources[0].path");
    REQUIRE(p);
    CHECK(p->where.line == 21);
    CHECK(p->where.column == 13);
    CHECK_THAT(p->message, Catch::Contains("does not exist"));
    CHECK_FALSE(p->hint.empty());
    CHECK_THAT(p->str(), Catch::StartsWith("recipe.yaml:21:13: data.domains[1].sources[0].path:"));
  }
  SECTION("a glob that matches nothing") {
    m.set("path", ConfigNode::scalar((dir / "d/*.md").string(), at(22)));
    bind_one();
    const Problem* p = problem_for(diag, ".path");
    REQUIRE(p);
    CHECK(p->where.line == 22);
    CHECK_THAT(p->message, Catch::Contains("glob") && Catch::Contains("matches no file"));
  }
  SECTION("include/exclude that leave nothing") {
    m.set("path", ConfigNode::scalar((dir / "d").string(), at(23)));
    m.set("include", ConfigNode::scalar("*.md", at(24)));
    bind_one();
    const Problem* p = problem_for(diag, ".path");
    REQUIRE(p);
    CHECK_THAT(p->message, Catch::Contains("include/exclude"));
  }
  SECTION("a missing path") {
    m.set("documents", ConfigNode::scalar("line", at(21)));
    bind_one();
    const Problem* p = problem_for(diag, ".path");
    REQUIRE(p);
    CHECK(p->message == "missing required key");
    CHECK(p->where.line == 20);
  }
  SECTION("a separator regex that does not compile") {
    m.set("path", ConfigNode::scalar((dir / "d").string(), at(21)));
    m.set("documents", ConfigNode::scalar("start", at(22)));
    m.set("separator", ConfigNode::scalar("^([a-z", at(23)));
    bind_one();
    const Problem* p = problem_for(diag, ".separator");
    REQUIRE(p);
    CHECK(p->where.line == 23);
    CHECK_THAT(p->message, Catch::Contains("not a valid regex"));
    CHECK(diag.problems().size() == 1);
  }
  SECTION("separator rules without a separator, and a separator without them") {
    m.set("path", ConfigNode::scalar((dir / "d").string(), at(21)));
    m.set("documents", ConfigNode::scalar("separator", at(22)));
    bind_one();
    REQUIRE(problem_for(diag, ".separator"));
    CHECK_THAT(problem_for(diag, ".separator")->message, Catch::Contains("needs a separator"));

    Diagnostics again;
    m.set("documents", ConfigNode::scalar("file", at(22)));
    m.set("separator", ConfigNode::scalar("^%$", at(23)));
    ConfigSection s(&m, "src", again);
    bind(s, spec);
    REQUIRE(again.problems().size() == 1);
    CHECK(again.problems()[0].where.line == 23);
  }
  SECTION("bad choices, ranges and unknown keys") {
    m.set("path", ConfigNode::scalar((dir / "d").string(), at(21)));
    m.set("documents", ConfigNode::scalar("paragraph", at(22)));
    m.set("format", ConfigNode::scalar("csv", at(23)));
    m.set("column", ConfigNode::scalar("-1", at(24)));
    m.set("on_binary", ConfigNode::scalar("ignore", at(25)));
    m.set("colum", ConfigNode::scalar("1", at(26)));
    bind_one();
    CHECK(diag.problems().size() == 5);
    REQUIRE(problem_for(diag, ".documents"));
    CHECK(problem_for(diag, ".documents")->where.line == 22);
    REQUIRE(problem_for(diag, ".column"));
    CHECK(problem_for(diag, ".column")->where.line == 24);
    REQUIRE(problem_for(diag, ".colum"));
    CHECK_THAT(problem_for(diag, ".colum")->hint, Catch::Contains("column"));
  }
}

TEST_CASE("bind DomainSpec: name, weight, caps and its sources", "[data]") {
  TempDir dir;
  dir.write("code/a.py", "print(1)\n");
  Diagnostics diag;
  ConfigNode m = ConfigNode::map(at(30, 5));
  m.set("name", ConfigNode::scalar("code", at(30, 11)));
  m.set("weight", ConfigNode::scalar("2.5", at(31)));
  m.set("max_bytes", ConfigNode::scalar("1MiB", at(32)));
  ConfigNode sources = ConfigNode::sequence(at(33));
  ConfigNode src = ConfigNode::map(at(34, 9));
  src.set("path", ConfigNode::scalar((dir / "code").string(), at(34, 15)));
  sources.push_back(src);
  ConfigNode bad = ConfigNode::map(at(35, 9));
  bad.set("path", ConfigNode::scalar((dir / "code/*.rs").string(), at(35, 15)));
  sources.push_back(bad);
  m.set("sources", sources);

  DomainSpec spec;
  ConfigSection s(&m, "data.domains[0]", diag);
  bind(s, spec);
  REQUIRE(diag.problems().size() == 1);
  CHECK(diag.problems()[0].key == "data.domains[0].sources[1].path");
  CHECK(diag.problems()[0].where.line == 35);
  CHECK(spec.name == "code");
  CHECK(spec.weight == 2.5);
  CHECK(spec.max_bytes == 1024 * 1024);
  REQUIRE(spec.sources.size() == 2);
  CHECK(spec.sources[0].where.line == 34);
  CHECK(spec.where.line == 30);

  SECTION("invalid values") {
    Diagnostics d2;
    m.set("name", ConfigNode::scalar("Web Text", at(30, 11)));
    m.set("weight", ConfigNode::scalar("-1", at(31)));
    m.set("sources", ConfigNode::sequence(at(33)));
    ConfigSection s2(&m, "data.domains[0]", d2);
    DomainSpec spec2;
    bind(s2, spec2);
    CHECK(d2.problems().size() == 3);
    REQUIRE(problem_for(d2, ".name"));
    CHECK(problem_for(d2, ".name")->where.line == 30);
    REQUIRE(problem_for(d2, ".weight"));
    REQUIRE(problem_for(d2, ".sources"));
    CHECK_THAT(problem_for(d2, ".sources")->message, Catch::Contains("no source"));
  }
  SECTION("sources missing") {
    Diagnostics d3;
    ConfigNode bare = ConfigNode::map(at(40));
    bare.set("name", ConfigNode::scalar("x", at(40)));
    ConfigSection s3(&bare, "data.domains[2]", d3);
    DomainSpec spec3;
    bind(s3, spec3);
    REQUIRE(d3.problems().size() == 1);
    CHECK(d3.problems()[0].key == "data.domains[2].sources");
    CHECK(d3.problems()[0].message == "missing required key");
  }
  SECTION("'mean' names the mean over the domains, not a domain") {
    Diagnostics d4;
    m.set("name", ConfigNode::scalar("mean", at(30, 11)));
    m.set("sources", sources);
    ConfigSection s4(&m, "data.domains[0]", d4);
    DomainSpec spec4;
    bind(s4, spec4);
    REQUIRE(problem_for(d4, ".name"));
    CHECK(problem_for(d4, ".name")->where.line == 30);
    CHECK_THAT(problem_for(d4, ".name")->message, Catch::Contains("val/mean"));
  }
}
