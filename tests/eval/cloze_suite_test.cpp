// Cloze suites made from validation documents: where queries are cut, what the gold answer is,
// where the distractors come from, determinism, and the JSONL file read_suite_file reads back.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "eval/cloze_suite.h"
#include "eval/suite_file.h"
#include "test_support.h"
#include "util/error.h"

namespace plinth::eval {
namespace {

// A domain of `count` documents written only with `words`: lines of a few sentences ending in
// '.', '!' or '?', some heading lines without punctuation, a blank line now and then.
DomainDocuments cloze_test_domain(const std::string& name, const std::vector<std::string>& words, size_t count,
                                  uint64_t seed) {
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&state](uint64_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % n;
  };
  auto phrase = [&](size_t min_words, size_t extra) {
    std::string s;
    const size_t n = min_words + next(extra);
    for (size_t i = 0; i < n; ++i) s += (i ? " " : "") + words[next(words.size())];
    return s;
  };
  DomainDocuments domain{name, {}};
  for (size_t d = 0; d < count; ++d) {
    std::string doc;
    const size_t lines = 3 + next(4);
    for (size_t l = 0; l < lines; ++l) {
      if (l) doc += next(4) == 0 ? "\n\n" : "\n";
      if (next(3) == 0) {
        doc += phrase(3, 4);  // a heading: ends at the line break, not at punctuation
        continue;
      }
      const size_t sentences = 1 + next(3);
      for (size_t s = 0; s < sentences; ++s) doc += (s ? " " : "") + phrase(4, 8) + ".!?"[next(3)];
    }
    if (next(2)) doc += "\n";
    domain.documents.push_back(doc);
  }
  return domain;
}

std::vector<DomainDocuments> cloze_test_domains() {
  return {
      cloze_test_domain("cooking",
                        {"crème", "brûlée", "saffron", "braise", "whisk", "dough", "simmer", "ginger", "skillet", "caramel", "basil",
                         "knead", "oven", "butter"},
                        36, 1),
      cloze_test_domain("astronomy",
                        {"nebula", "quasar", "orbit", "comet", "parsec", "galaxy", "redshift", "pulsar", "eclipse",
                         "telescope", "asteroid", "zenith"},
                        36, 2),
      cloze_test_domain("law",
                        {"statute", "plaintiff", "verdict", "tribunal", "clause", "appeal", "counsel", "tort",
                         "injunction", "docket", "affidavit", "bailiff"},
                        36, 3),
  };
}

bool cloze_test_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

// The documents of `domain` in which gold follows query (whitespace between), with the query
// starting and ending at a boundary and the gold ending at one.
std::vector<size_t> cloze_test_sources(const DomainDocuments& domain, const SuiteQuestion& q) {
  const std::string& gold = q.choices[static_cast<size_t>(q.gold)];
  std::vector<size_t> found;
  for (size_t d = 0; d < domain.documents.size(); ++d) {
    const std::string& doc = domain.documents[d];
    for (size_t at = doc.find(q.query); at != std::string::npos; at = doc.find(q.query, at + 1)) {
      const bool starts_at_boundary =
          at == 0 || doc[at - 1] == '\n' ||
          (doc[at - 1] == ' ' && at >= 2 && std::string(".!?").find(doc[at - 2]) != std::string::npos);
      size_t p = at + q.query.size();
      const bool ends_at_boundary =
          std::string(".!?").find(q.query.back()) != std::string::npos || (p < doc.size() && doc[p] == '\n');
      while (p < doc.size() && cloze_test_space(doc[p])) ++p;
      if (!starts_at_boundary || !ends_at_boundary || doc.compare(p, gold.size(), gold) != 0) continue;
      const size_t after = p + gold.size();
      const bool gold_ends_at_boundary = after == doc.size() || doc[after] == '\n' ||
                                         (std::string(".!?").find(gold.back()) != std::string::npos &&
                                          cloze_test_space(doc[after]));
      if (gold_ends_at_boundary) {
        found.push_back(d);
        break;
      }
    }
  }
  return found;
}

// The lines and sentences of a document, trimmed: split at line breaks and after '.', '!' or '?'
// followed by a space.
std::set<std::string> cloze_test_units(const std::string& doc) {
  std::set<std::string> units;
  std::string current;
  auto flush = [&]() {
    size_t b = 0;
    size_t e = current.size();
    while (b < e && cloze_test_space(current[b])) ++b;
    while (e > b && cloze_test_space(current[e - 1])) --e;
    if (e > b) units.insert(current.substr(b, e - b));
    current.clear();
  };
  for (size_t i = 0; i < doc.size(); ++i) {
    if (doc[i] == '\n') {
      flush();
      continue;
    }
    current += doc[i];
    if (std::string(".!?").find(doc[i]) != std::string::npos && i + 1 < doc.size() && doc[i + 1] == ' ') flush();
  }
  flush();
  return units;
}

// Whether `text` is a whole line or sentence of `doc`.
bool cloze_test_contains(const std::string& doc, const std::string& text) {
  return cloze_test_units(doc).count(text) > 0;
}

const DomainDocuments& cloze_test_domain_named(const std::vector<DomainDocuments>& domains, const std::string& name) {
  for (const DomainDocuments& d : domains)
    if (d.name == name) return d;
  FAIL("no domain " << name);
  return domains.front();
}

void cloze_test_require_equal(const std::vector<MadeSuite>& a, const std::vector<MadeSuite>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].name == b[i].name);
    CHECK(a[i].kind == b[i].kind);
    CHECK(a[i].candidates_seen == b[i].candidates_seen);
    CHECK(suite_jsonl(a[i], "{}") == suite_jsonl(b[i], "{}"));
  }
}

}  // namespace

TEST_CASE("make_cloze_suites cuts each gold answer from the text that follows its query at a boundary",
          "[cloze]") {
  const auto domains = cloze_test_domains();
  ClozeOptions options;
  options.cut = ClozeCutAt::kLine;  // whole lines and sentences: the units these checks read
  options.questions = 40;
  options.query_chars = 150;
  options.seed = 7;
  const auto suites = make_cloze_suites(domains, options);
  REQUIRE(suites.size() == 6);
  for (const MadeSuite& suite : suites) {
    INFO(suite.name);
    CHECK(suite.name == suite.domain + "-" + suite.kind);
    REQUIRE(suite.questions.size() == 40);
    CHECK(suite.candidates_seen >= suite.questions.size());
    const DomainDocuments& domain = cloze_test_domain_named(domains, suite.domain);
    for (const SuiteQuestion& q : suite.questions) {
      INFO(q.query);
      REQUIRE(q.choices.size() == 4);
      REQUIRE(q.gold >= 0);
      REQUIRE(q.gold < 4);
      CHECK(q.line == 0);
      CHECK_FALSE(cloze_test_sources(domain, q).empty());
      CHECK(code_points(q.query) <= options.query_chars);
      CHECK(std::count_if(q.query.begin(), q.query.end(), [](char c) { return !cloze_test_space(c); }) >= 20);
      CHECK_FALSE(cloze_test_space(q.query.front()));
      CHECK_FALSE(cloze_test_space(q.query.back()));
      for (const std::string& choice : q.choices) {
        CHECK(code_points(choice) >= options.min_answer_chars);
        CHECK(code_points(choice) <= options.max_answer_chars);
        CHECK_FALSE(cloze_test_space(choice.front()));
        CHECK_FALSE(cloze_test_space(choice.back()));
      }
    }
  }
}

TEST_CASE("cut: word ends each query inside a line or sentence and asks for the rest of it", "[cloze]") {
  const auto domains = cloze_test_domains();
  ClozeOptions options;  // cut: word is the default
  CHECK(options.cut == ClozeCutAt::kWord);
  options.questions = 40;
  options.query_chars = 150;
  options.seed = 7;
  const auto suites = make_cloze_suites(domains, options);
  REQUIRE(suites.size() == 6);
  // Every choice (gold or distractor) is the rest of some line or sentence after a word boundary,
  // never a whole one; the gold's line or sentence starts with the query's last words.
  std::vector<std::string> units;
  for (const DomainDocuments& d : domains)
    for (const std::string& doc : d.documents)
      for (const std::string& u : cloze_test_units(doc)) units.push_back(u);
  auto tail_of = [&units](const std::string& text, const std::string& query) {
    for (const std::string& u : units) {
      if (u.size() <= text.size() + 1 || u.compare(u.size() - text.size(), text.size(), text) != 0) continue;
      if (!cloze_test_space(u[u.size() - text.size() - 1])) continue;
      std::string head = u.substr(0, u.size() - text.size());
      while (!head.empty() && cloze_test_space(head.back())) head.pop_back();
      if (query.empty() ||
          (query.size() >= head.size() && query.compare(query.size() - head.size(), head.size(), head) == 0))
        return true;
    }
    return false;
  };
  for (const MadeSuite& suite : suites) {
    INFO(suite.name);
    REQUIRE(suite.questions.size() == 40);
    for (const SuiteQuestion& q : suite.questions) {
      INFO(q.query);
      CHECK(code_points(q.query) <= options.query_chars);
      CHECK_FALSE(cloze_test_space(q.query.back()));
      CHECK(tail_of(q.choices[static_cast<size_t>(q.gold)], q.query));
      for (const std::string& choice : q.choices) {
        INFO(choice);
        CHECK(tail_of(choice, ""));
        CHECK(code_points(choice) >= options.min_answer_chars);
        CHECK(code_points(choice) <= options.max_answer_chars);
      }
    }
  }
  // The cut is part of the draw: the same options give the same suites, cut: line others.
  cloze_test_require_equal(suites, make_cloze_suites(domains, options));
  ClozeOptions line = options;
  line.cut = ClozeCutAt::kLine;
  CHECK(suite_jsonl(make_cloze_suites(domains, line)[0], "{}") != suite_jsonl(suites[0], "{}"));
}

TEST_CASE("make_cloze_suites draws -same distractors from other documents of the domain and -other ones "
          "from the other domains",
          "[cloze]") {
  const auto domains = cloze_test_domains();
  ClozeOptions options;
  options.cut = ClozeCutAt::kLine;  // whole lines and sentences: the units these checks read
  options.questions = 50;
  options.seed = 3;
  const auto suites = make_cloze_suites(domains, options);
  REQUIRE(suites.size() == 6);
  size_t near = 0;
  size_t distractors = 0;
  for (const MadeSuite& suite : suites) {
    INFO(suite.name);
    REQUIRE_FALSE(suite.questions.empty());
    const DomainDocuments& own_domain = cloze_test_domain_named(domains, suite.domain);
    std::set<int64_t> golds;
    for (const SuiteQuestion& q : suite.questions) {
      INFO(q.query);
      golds.insert(q.gold);
      const std::vector<size_t> sources = cloze_test_sources(own_domain, q);
      REQUIRE_FALSE(sources.empty());
      const std::string& gold = q.choices[static_cast<size_t>(q.gold)];
      CHECK(std::set<std::string>(q.choices.begin(), q.choices.end()).size() == q.choices.size());
      for (size_t c = 0; c < q.choices.size(); ++c) {
        if (static_cast<int64_t>(c) == q.gold) continue;
        const std::string& d = q.choices[c];
        INFO(d);
        CHECK(d != gold);
        for (size_t source : sources) CHECK_FALSE(cloze_test_contains(own_domain.documents[source], d));
        bool in_own_domain = false;
        bool in_other_domain = false;
        for (const DomainDocuments& domain : domains)
          for (const std::string& doc : domain.documents)
            if (cloze_test_contains(doc, d)) (domain.name == suite.domain ? in_own_domain : in_other_domain) = true;
        if (suite.kind == "same") {
          CHECK(in_own_domain);
          CHECK_FALSE(in_other_domain);
        } else {
          CHECK(suite.kind == "other");
          CHECK(in_other_domain);
          CHECK_FALSE(in_own_domain);
        }
        const double ratio = static_cast<double>(code_points(d)) / static_cast<double>(code_points(gold));
        ++distractors;
        if (ratio <= 1.5 && ratio >= 1 / 1.5) ++near;
      }
    }
    CHECK(golds.size() > 1);  // the gold is not always at the same place
  }
  // Lengths match the gold's: with this many candidates the 1.5x band almost never has to widen.
  CHECK(static_cast<double>(near) >= 0.95 * static_cast<double>(distractors));
}

TEST_CASE("make_cloze_suites gives the same suites for the same input and others for another seed", "[cloze]") {
  const auto domains = cloze_test_domains();
  ClozeOptions options;
  options.cut = ClozeCutAt::kLine;  // whole lines and sentences: the units these checks read
  options.questions = 30;
  options.seed = 11;
  const auto first = make_cloze_suites(domains, options);
  const auto second = make_cloze_suites(domains, options);
  cloze_test_require_equal(first, second);

  options.seed = 12;
  const auto other = make_cloze_suites(domains, options);
  REQUIRE(other.size() == first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    INFO(first[i].name);
    std::set<std::string> queries_first;
    std::set<std::string> queries_other;
    for (const auto& q : first[i].questions) queries_first.insert(q.query);
    for (const auto& q : other[i].questions) queries_other.insert(q.query);
    CHECK(queries_first != queries_other);
  }
}

TEST_CASE("make_cloze_suites makes fewer questions than asked when the documents run out of cuts", "[cloze]") {
  auto domains = cloze_test_domains();
  for (auto& d : domains) d.documents.resize(4);
  ClozeOptions options;
  options.cut = ClozeCutAt::kLine;  // whole lines and sentences: the units these checks read
  options.questions = 10000;
  const auto suites = make_cloze_suites(domains, options);
  REQUIRE(suites.size() == 6);
  for (const MadeSuite& suite : suites) {
    INFO(suite.name);
    CHECK_FALSE(suite.questions.empty());
    CHECK(suite.questions.size() < 100);
    CHECK(suite.candidates_seen >= suite.questions.size());
    CHECK(suite.candidates_seen < 100);
  }
  // Every cut was tried: the -same and -other suites of a domain saw the same cuts.
  CHECK(suites[0].candidates_seen == suites[1].candidates_seen);

  // Documents with no usable cut (too short) and no document at all make empty suites, no error.
  std::vector<DomainDocuments> tiny = {{"a", {"Too short.", ""}}, {"b", {}}};
  const auto empty = make_cloze_suites(tiny, options);
  REQUIRE(empty.size() == 4);
  for (const MadeSuite& suite : empty) {
    CHECK(suite.questions.empty());
    CHECK(suite.candidates_seen == 0);
  }
}

TEST_CASE("make_cloze_suites makes only the -same suite of a single domain", "[cloze]") {
  const auto domains = cloze_test_domains();
  ClozeOptions options;
  options.cut = ClozeCutAt::kLine;  // whole lines and sentences: the units these checks read
  options.questions = 10;
  options.choices = 3;
  const auto suites = make_cloze_suites({domains[1]}, options);
  REQUIRE(suites.size() == 1);
  CHECK(suites[0].name == "astronomy-same");
  CHECK(suites[0].domain == "astronomy");
  CHECK(suites[0].kind == "same");
  REQUIRE(suites[0].questions.size() == 10);
  for (const auto& q : suites[0].questions) CHECK(q.choices.size() == 3);
}

TEST_CASE("suite_jsonl writes a file read_suite_file reads back with its provenance", "[cloze]") {
  const auto domains = cloze_test_domains();
  ClozeOptions options;
  options.cut = ClozeCutAt::kLine;  // whole lines and sentences: the units these checks read
  options.questions = 25;
  const auto suites = make_cloze_suites(domains, options);
  const MadeSuite& suite = suites[1];
  REQUIRE(suite.kind == "other");
  const std::string text = suite_jsonl(suite, R"({"recipe": "abc123", "seed": 0, "name": "replaced"})");
  CHECK(std::count(text.begin(), text.end(), '\n') == static_cast<long>(suite.questions.size() + 1));
  CHECK(text.find("crème") != std::string::npos);  // UTF-8 as is, not \\u escapes
  CHECK(text.find("\\u") == std::string::npos);

  test::TempDir dir;
  const auto path = dir.write(suite.name + ".jsonl", text);
  const SuiteFile file = read_suite_file(path, suite.name);
  REQUIRE(file.questions.size() == suite.questions.size());
  for (size_t i = 0; i < suite.questions.size(); ++i) {
    CHECK(file.questions[i].query == suite.questions[i].query);
    CHECK(file.questions[i].choices == suite.questions[i].choices);
    CHECK(file.questions[i].gold == suite.questions[i].gold);
  }
  const auto provenance = nlohmann::json::parse(file.provenance);
  CHECK(provenance.at("kind") == "other");
  CHECK(provenance.at("name") == suite.name);
  CHECK(provenance.at("domain") == "cooking");
  CHECK(provenance.at("questions") == suite.questions.size());
  CHECK(provenance.at("recipe") == "abc123");

  // Ill-formed bytes are written as U+FFFD, so the file still reads.
  MadeSuite broken = suite;
  broken.questions.resize(1);
  broken.questions[0].query += " caf\xE9";
  const auto broken_path = dir.write("broken.jsonl", suite_jsonl(broken, ""));
  CHECK(read_suite_file(broken_path, "broken").questions.at(0).query.find("\xEF\xBF\xBD") != std::string::npos);

  CHECK_THROWS_AS(suite_jsonl(suite, "[1, 2]"), Failure);
}

TEST_CASE("make_cloze_suites refuses options that make no sense, naming the key", "[cloze]") {
  struct ClozeBadCase {
    std::string key;
    ClozeOptions options;
  };
  std::vector<ClozeBadCase> cases(4);
  cases[0].key = "suites.cloze.choices";
  cases[0].options.choices = 1;
  cases[1].key = "suites.cloze.min_answer_chars";
  cases[1].options.min_answer_chars = 50;
  cases[1].options.max_answer_chars = 40;
  cases[2].key = "suites.cloze.questions";
  cases[2].options.questions = 0;
  cases[3].key = "suites.cloze.query_chars";
  cases[3].options.query_chars = 10;
  const auto domains = cloze_test_domains();
  for (const auto& c : cases) {
    INFO(c.key);
    try {
      make_cloze_suites(domains, c.options);
      FAIL("no error for " << c.key);
    } catch (const BadInput& e) {
      REQUIRE(e.problems().size() == 1);
      CHECK(e.problems()[0].key == c.key);
      CHECK_FALSE(e.problems()[0].hint.empty());
    }
  }
  ClozeOptions all_bad;
  all_bad.choices = 0;
  all_bad.questions = 0;
  CHECK_THROWS_AS(make_cloze_suites({}, all_bad), BadInput);
}

}  // namespace plinth::eval
