#include "eval/cloze_suite.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <utility>

#include "eval/document_sample.h"
#include "util/error.h"
#include "util/hash.h"

namespace plinth::eval {

namespace {

constexpr uint64_t kClozeMinQueryNonSpace = 20;  // a query holds at least this many non-space code points
constexpr double kClozeLengthFactor = 1.5;  // distractor length band around the gold's, widened by itself

bool cloze_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view cloze_trim(std::string_view s) {
  size_t begin = 0;
  size_t end = s.size();
  while (begin < end && cloze_space(s[begin])) ++begin;
  while (end > begin && cloze_space(s[end - 1])) --end;
  return s.substr(begin, end - begin);
}

uint64_t cloze_length(std::string_view s) {
  return code_points(std::string(s));
}

// Code points that are not (ASCII) whitespace: continuation bytes and spaces do not count.
uint64_t cloze_non_space(std::string_view s) {
  uint64_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80 && !cloze_space(c)) ++n;
  return n;
}

uint64_t cloze_splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A uniform pick in [0, n) from 64 random bits (multiply-high).
size_t cloze_below(uint64_t bits, size_t n) {
  return static_cast<size_t>((static_cast<unsigned __int128>(bits) * n) >> 64);
}

uint64_t cloze_key(uint64_t seed, const std::string& domain, std::string_view kind, uint64_t document,
                   uint64_t unit, std::string_view purpose) {
  Hasher h(seed);
  h.field(domain).field(kind).field(document).field(unit).field(purpose);
  return h.digest();
}

// A usable cut of one document: the query before it and the answer (unit) after it.
struct ClozeCut {
  uint64_t unit = 0;  // the answer's index among the document's units: its identity in the draws
  std::string_view query;
  std::string_view answer;
  uint64_t answer_length = 0;
};

struct ClozeDocument {
  std::vector<ClozeCut> cuts;             // in draw order (keyed by the seed)
  std::vector<std::string_view> answers;  // its answer candidates' texts, sorted and unique
};

struct ClozeEntry {
  std::string_view text;
  uint64_t length = 0;
  bool operator<(const ClozeEntry& o) const { return length != o.length ? length < o.length : text < o.text; }
  bool operator==(const ClozeEntry& o) const { return length == o.length && text == o.text; }
};

struct ClozeDomain {
  std::vector<ClozeDocument> documents;  // in shard order
  std::vector<ClozeEntry> pool;          // every answer candidate's text, sorted by (length, text), unique
};

// cut: word. The rest of `unit` after one of its word boundaries (white space followed by a
// non-space; `unit` is trimmed, so a word comes before), drawn uniformly by `key` among those
// whose rest is within [min_answer_chars, max_answer_chars] code points; empty when none is.
std::string_view cloze_word_tail(std::string_view unit, const ClozeOptions& options, uint64_t key) {
  std::vector<std::string_view> tails;
  for (size_t p = 1; p + 1 < unit.size(); ++p) {
    if (!cloze_space(unit[p]) || cloze_space(unit[p + 1])) continue;
    const std::string_view tail = unit.substr(p + 1);
    const uint64_t length = cloze_length(tail);
    if (length >= options.min_answer_chars && length <= options.max_answer_chars) tails.push_back(tail);
  }
  if (tails.empty()) return {};
  uint64_t state = key;
  return tails[cloze_below(cloze_splitmix64(state), tails.size())];
}

// Units, cuts and answer candidates of one document.
ClozeDocument cloze_document(std::string_view text, const ClozeOptions& options, const std::string& domain,
                             uint64_t index) {
  std::vector<size_t> bounds{0};
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool line_end = c == '\n';
    const bool sentence_end = (c == '.' || c == '!' || c == '?') && i + 1 < text.size() &&
                              (text[i + 1] == ' ' || text[i + 1] == '\n' || text[i + 1] == '\r');
    if (line_end || sentence_end) bounds.push_back(i + 1);
  }
  if (bounds.back() != text.size()) bounds.push_back(text.size());

  ClozeDocument doc;
  std::vector<std::pair<uint64_t, ClozeCut>> keyed;
  uint64_t unit = 0;
  const bool word = options.cut == ClozeCutAt::kWord;
  for (size_t k = 0; k + 1 < bounds.size(); ++k) {
    const std::string_view piece = cloze_trim(text.substr(bounds[k], bounds[k + 1] - bounds[k]));
    if (piece.empty()) continue;
    const uint64_t id = unit++;
    // The answer: the whole unit (cut: line), or the rest of it after a seeded word boundary.
    std::string_view answer = piece;
    if (word) {
      answer = cloze_word_tail(piece, options, cloze_key(options.seed, domain, "", index, id, "word"));
      if (answer.empty()) continue;
    }
    const auto answer_begin = static_cast<size_t>(answer.data() - text.data());
    const uint64_t length = cloze_length(answer);
    if (length < options.min_answer_chars || length > options.max_answer_chars) continue;
    doc.answers.push_back(answer);
    // The longest passage ending where the answer begins that starts at a boundary and fits
    // query_chars (cut: word: the unit's own words before the cut always belong to it).
    std::string_view query;
    for (size_t j = word ? k + 1 : k; j-- > 0;) {
      const std::string_view candidate = cloze_trim(text.substr(bounds[j], answer_begin - bounds[j]));
      if (cloze_length(candidate) > options.query_chars) break;
      query = candidate;
    }
    if (cloze_non_space(query) < kClozeMinQueryNonSpace) continue;
    keyed.push_back(
        {cloze_key(options.seed, domain, "", index, id, "cut"), ClozeCut{id, query, answer, length}});
  }
  std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second.unit < b.second.unit;
  });
  for (auto& [key, cut] : keyed) doc.cuts.push_back(cut);
  std::sort(doc.answers.begin(), doc.answers.end());
  doc.answers.erase(std::unique(doc.answers.begin(), doc.answers.end()), doc.answers.end());
  return doc;
}

void cloze_sort_unique(std::vector<ClozeEntry>& entries) {
  std::sort(entries.begin(), entries.end());
  entries.erase(std::unique(entries.begin(), entries.end()), entries.end());
}

// Indices (into `pool`) of `need` distractors for a gold of `length` code points, or fewer when
// the pool runs out. `excluded` rejects a text (the question's own document or domain).
template <typename Excluded>
std::vector<size_t> cloze_distractors(const std::vector<ClozeEntry>& pool, uint64_t length, size_t need,
                                      uint64_t state, const Excluded& excluded) {
  std::vector<size_t> chosen;
  auto take = [&](size_t i) {
    if (chosen.size() >= need || excluded(pool[i].text)) return;
    if (std::find(chosen.begin(), chosen.end(), i) != chosen.end()) return;
    chosen.push_back(i);
  };
  for (double factor = kClozeLengthFactor;; factor *= kClozeLengthFactor) {
    const auto low = static_cast<uint64_t>(std::ceil(static_cast<double>(length) / factor));
    const auto high = static_cast<uint64_t>(std::floor(static_cast<double>(length) * factor));
    const size_t lo =
        static_cast<size_t>(std::lower_bound(pool.begin(), pool.end(), low,
                                             [](const ClozeEntry& e, uint64_t v) { return e.length < v; }) -
                            pool.begin());
    const size_t hi =
        static_cast<size_t>(std::upper_bound(pool.begin(), pool.end(), high,
                                             [](uint64_t v, const ClozeEntry& e) { return v < e.length; }) -
                            pool.begin());
    const size_t n = hi > lo ? hi - lo : 0;
    if (n > 0) {
      for (size_t attempt = 0; attempt < 4 * need && chosen.size() < need; ++attempt)
        take(lo + cloze_below(cloze_splitmix64(state), n));
      const size_t start = cloze_below(cloze_splitmix64(state), n);
      for (size_t t = 0; t < n && chosen.size() < need; ++t) take(lo + (start + t) % n);
    }
    if (chosen.size() >= need || (lo == 0 && hi == pool.size())) return chosen;
  }
}

struct ClozeSuiteInput {
  const std::string& domain;
  const ClozeDomain& data;
  std::string kind;
  const std::vector<ClozeEntry>& pool;
  const std::vector<std::string_view>* excluded_domain;  // -other: the domain's own answers (sorted)
};

MadeSuite cloze_make_suite(const ClozeSuiteInput& in, const ClozeOptions& options) {
  MadeSuite suite;
  suite.name = in.domain + "-" + in.kind;
  suite.domain = in.domain;
  suite.kind = in.kind;
  const size_t need = static_cast<size_t>(options.choices - 1);
  const std::vector<uint64_t> order = sample_order(in.data.documents.size(), options.seed, in.domain);
  size_t rounds = 0;
  for (const ClozeDocument& d : in.data.documents) rounds = std::max(rounds, d.cuts.size());
  std::set<std::pair<std::string_view, std::string_view>> asked;
  for (size_t round = 0; round < rounds; ++round) {
    for (uint64_t index : order) {
      if (suite.questions.size() >= options.questions) return suite;
      const ClozeDocument& doc = in.data.documents[index];
      if (round >= doc.cuts.size()) continue;
      const ClozeCut& cut = doc.cuts[round];
      ++suite.candidates_seen;
      if (!asked.insert({cut.query, cut.answer}).second) continue;
      const auto& own = in.excluded_domain ? *in.excluded_domain : doc.answers;
      const auto excluded = [&own](std::string_view text) {
        return std::binary_search(own.begin(), own.end(), text);
      };
      const uint64_t state = cloze_key(options.seed, in.domain, in.kind, index, cut.unit, "distractors");
      const std::vector<size_t> picks = cloze_distractors(in.pool, cut.answer_length, need, state, excluded);
      if (picks.size() < need) continue;
      SuiteQuestion q;
      q.query = std::string(cut.query);
      for (size_t p : picks) q.choices.emplace_back(in.pool[p].text);
      const uint64_t gold = cloze_key(options.seed, in.domain, in.kind, index, cut.unit, "gold") %
                            static_cast<uint64_t>(options.choices);
      q.choices.insert(q.choices.begin() + static_cast<std::ptrdiff_t>(gold), std::string(cut.answer));
      q.gold = static_cast<int64_t>(gold);
      q.line = 0;
      suite.questions.push_back(std::move(q));
    }
  }
  return suite;
}

void cloze_check_options(const ClozeOptions& options) {
  Diagnostics d;
  auto bad = [&d](const std::string& key, std::string message, std::string hint) {
    Problem p;
    p.key = "suites.cloze." + key;
    p.message = std::move(message);
    p.hint = std::move(hint);
    d.add(std::move(p));
  };
  if (options.questions == 0)
    bad("questions", "is 0: a suite needs at least one question", "set questions to 1 or more, e.g. 200");
  if (options.choices < 2)
    bad("choices",
        fmt::format("is {}: a question needs the gold and at least one distractor", options.choices),
        "set choices to 2 or more, e.g. 4");
  if (options.query_chars < kClozeMinQueryNonSpace)
    bad("query_chars",
        fmt::format("is {}: a query holds at least {} characters", options.query_chars,
                    kClozeMinQueryNonSpace),
        "set query_chars to 20 or more, e.g. 300");
  if (options.min_answer_chars > options.max_answer_chars)
    bad("min_answer_chars",
        fmt::format("is {}, more than max_answer_chars ({}): no answer fits", options.min_answer_chars,
                    options.max_answer_chars),
        "make min_answer_chars at most max_answer_chars, e.g. 20 and 120");
  d.throw_if_any();
}

}  // namespace

std::vector<MadeSuite> make_cloze_suites(const std::vector<DomainDocuments>& domains,
                                         const ClozeOptions& options) {
  cloze_check_options(options);
  std::vector<ClozeDomain> data(domains.size());
  std::vector<std::vector<std::string_view>> answers(domains.size());  // per domain, sorted and unique
  for (size_t d = 0; d < domains.size(); ++d) {
    const DomainDocuments& domain = domains[d];
    for (size_t i = 0; i < domain.documents.size(); ++i) {
      data[d].documents.push_back(cloze_document(domain.documents[i], options, domain.name, i));
      for (std::string_view text : data[d].documents.back().answers) {
        data[d].pool.push_back(ClozeEntry{text, cloze_length(text)});
        answers[d].push_back(text);
      }
    }
    cloze_sort_unique(data[d].pool);
    std::sort(answers[d].begin(), answers[d].end());
    answers[d].erase(std::unique(answers[d].begin(), answers[d].end()), answers[d].end());
  }

  std::vector<MadeSuite> suites;
  for (size_t d = 0; d < domains.size(); ++d) {
    suites.push_back(cloze_make_suite({domains[d].name, data[d], "same", data[d].pool, nullptr}, options));
    if (domains.size() < 2) continue;
    std::vector<ClozeEntry> others;
    for (size_t o = 0; o < domains.size(); ++o) {
      if (o == d) continue;
      for (const ClozeEntry& e : data[o].pool)
        if (!std::binary_search(answers[d].begin(), answers[d].end(), e.text)) others.push_back(e);
    }
    cloze_sort_unique(others);
    suites.push_back(cloze_make_suite({domains[d].name, data[d], "other", others, &answers[d]}, options));
  }
  return suites;
}

std::string suite_jsonl(const MadeSuite& suite, const std::string& provenance_json) {
  using nlohmann::ordered_json;
  ordered_json provenance = ordered_json::object();
  if (!cloze_trim(provenance_json).empty()) {
    try {
      provenance = ordered_json::parse(provenance_json);
    } catch (const ordered_json::exception& e) {
      throw Failure(fmt::format("suite '{}': the provenance is not JSON: {}", suite.name, e.what()));
    }
    if (!provenance.is_object())
      throw Failure(fmt::format("suite '{}': the provenance is not a JSON object", suite.name));
  }
  provenance["name"] = suite.name;
  provenance["domain"] = suite.domain;
  provenance["kind"] = suite.kind;
  provenance["questions"] = static_cast<uint64_t>(suite.questions.size());
  ordered_json header = ordered_json::object();
  header["plinth_suite"] = std::move(provenance);
  std::string out = header.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  out += '\n';
  for (const SuiteQuestion& q : suite.questions) {
    ordered_json line = ordered_json::object();
    line["query"] = q.query;
    line["choices"] = q.choices;
    line["gold"] = q.gold;
    out += line.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
    out += '\n';
  }
  return out;
}

void bind(ConfigSection& s, ClozeOptions& o) {
  auto count = [&](const char* key, uint64_t& out, int64_t least) {
    auto v = static_cast<int64_t>(out);
    if (s.read(key, v, Range<int64_t>::at_least(least))) out = static_cast<uint64_t>(v);
  };
  count("questions", o.questions, 1);
  s.read("choices", o.choices, Range<int64_t>::between(2, 26));
  count("query_chars", o.query_chars, 20);
  count("min_answer_chars", o.min_answer_chars, 1);
  count("max_answer_chars", o.max_answer_chars, 1);
  count("seed", o.seed, 0);
  std::string cut = o.cut == ClozeCutAt::kWord ? "word" : "line";
  if (s.read_choice("cut", cut, {"word", "line"}))
    o.cut = cut == "word" ? ClozeCutAt::kWord : ClozeCutAt::kLine;
  if (o.min_answer_chars > o.max_answer_chars)
    s.error("min_answer_chars",
            fmt::format("{} is more than max_answer_chars ({})", o.min_answer_chars, o.max_answer_chars),
            "answers are between min_answer_chars and max_answer_chars code points long");
  s.finish();
}

}  // namespace plinth::eval
