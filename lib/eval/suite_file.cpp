#include "eval/suite_file.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "data/corpus_reader.h"
#include "data/utf8.h"
#include "eval/document_sample.h"
#include "util/error.h"
#include "util/text.h"

namespace plinth::eval {

namespace {

using nlohmann::json;

const char* kSuiteLineHint =
    "a suite file holds one question a line, e.g. {\"query\": \"The capital of France is\", "
    "\"choices\": [\"Paris\", \"Rome\"], \"gold\": 0}";
const char* kSuiteChoicesHint =
    "list the answers the model chooses from, e.g. \"choices\": [\"Paris\", \"Rome\"]";
const char* kSuiteGoldHint = "gold is the 0-based index of the right choice";
const char* kSuitePathHint = "check eval.suites[].path";

// A bad line of a suite file: what is wrong, where, and what to do.
[[noreturn]] void suite_line_error(const std::string& suite, const std::string& what, const std::string& hint,
                                   const std::filesystem::path& path, uint64_t line, uint64_t column = 0) {
  throw BadInput(fmt::format("suite '{}': {}", suite, what), hint,
                 Location{path.string(), static_cast<int>(line), static_cast<int>(column)});
}

// A JSON value as a message shows it: short scalars as written, containers by their kind.
std::string suite_shown(const json& v) {
  if (v.is_array()) return "a list";
  if (v.is_object()) return "an object";
  std::string text = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 40) {
    size_t cut = 40;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text = text.substr(0, cut) + "…";
  }
  return text;
}

// Offset of the first byte of `line` that is not part of well-formed UTF-8, if any.
std::optional<size_t> suite_first_bad_byte(const std::string& line) {
  const auto* s = reinterpret_cast<const unsigned char*>(line.data());
  for (size_t i = 0; i < line.size();) {
    size_t bad = 0;
    const size_t n = data::utf8_sequence(s + i, line.size() - i, bad);
    if (n == 0) return i;
    i += n;
  }
  return std::nullopt;
}

// Which field holds the ill-formed bytes: the line with them replaced by U+FFFD is parsed, and
// the first text field showing U+FFFD is named (a guess when the file also holds a real U+FFFD;
// the column of the message is exact).
std::string suite_field_with_bad_bytes(std::string line) {
  uint64_t nul = 0;
  data::sanitize_utf8(line, nul);
  static const std::string kReplacement = "\xEF\xBF\xBD";
  try {
    const json j = json::parse(line);
    if (!j.is_object()) return "the line";
    auto q = j.find("query");
    if (q != j.end() && q->is_string() &&
        q->get_ref<const std::string&>().find(kReplacement) != std::string::npos)
      return "'query'";
    auto c = j.find("choices");
    if (c != j.end() && c->is_array())
      for (size_t i = 0; i < c->size(); ++i)
        if ((*c)[i].is_string() &&
            (*c)[i].get_ref<const std::string&>().find(kReplacement) != std::string::npos)
          return fmt::format("'choices' entry {}", i);
  } catch (const json::exception&) {
  }
  return "the line";
}

// One question from a line that parsed as a JSON object.
SuiteQuestion suite_question(const json& j, const std::string& suite, const std::filesystem::path& path,
                             uint64_t line) {
  auto fail = [&](const std::string& what, const std::string& hint) {
    suite_line_error(suite, what, hint, path, line);
  };
  SuiteQuestion q;
  q.line = line;

  auto query = j.find("query");
  if (query == j.end()) {
    if (j.contains("plinth_suite"))
      fail(
          "the question has no 'query'; a provenance header {\"plinth_suite\": ...} is only read on the "
          "first line",
          "move the header to the first line, or remove it");
    fail("the question has no 'query'",
         std::string("'query' is the text the choices continue; ") + kSuiteLineHint);
  }
  if (!query->is_string())
    fail(fmt::format("'query' is {}, not a string", suite_shown(*query)), "write the query as a JSON string");
  q.query = query->get<std::string>();

  auto choices = j.find("choices");
  if (choices == j.end()) fail("the question has no 'choices'", kSuiteChoicesHint);
  if (!choices->is_array())
    fail(fmt::format("'choices' is {}, not a list of strings", suite_shown(*choices)), kSuiteChoicesHint);
  if (choices->size() < 2)
    fail(fmt::format("'choices' has {} entr{}, but a question needs at least two", choices->size(),
                     choices->size() == 1 ? "y" : "ies"),
         kSuiteChoicesHint);
  for (size_t i = 0; i < choices->size(); ++i) {
    const json& c = (*choices)[i];
    if (!c.is_string())
      fail(fmt::format("'choices' entry {} is {}, not a string", i, suite_shown(c)), kSuiteChoicesHint);
    if (c.get_ref<const std::string&>().empty())
      fail(fmt::format("'choices' entry {} is empty: it has no characters to divide by for acc_norm and no "
                       "tokens to score",
                       i),
           "give the choice its text, or remove it (and fix 'gold')");
    q.choices.push_back(c.get<std::string>());
  }

  auto gold = j.find("gold");
  if (gold == j.end()) fail("the question has no 'gold'", kSuiteGoldHint);
  if (!gold->is_number_integer())
    fail(fmt::format("'gold' is {}, not an integer", suite_shown(*gold)), kSuiteGoldHint);
  const bool in_range = gold->is_number_unsigned()
                            ? gold->get<uint64_t>() < q.choices.size()
                            : gold->get<int64_t>() >= 0 && gold->get<int64_t>() < int64_t(q.choices.size());
  if (!in_range)
    fail(fmt::format("'gold' is {}, but the question has {} choices", gold->dump(), q.choices.size()),
         fmt::format("{}: 0 to {} here", kSuiteGoldHint, q.choices.size() - 1));
  q.gold = gold->get<int64_t>();
  return q;
}

}  // namespace

SuiteFile read_suite_file(const std::filesystem::path& path, const std::string& suite) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw BadInput(fmt::format("suite '{}': '{}' is a directory, but a suite file (JSONL) is expected", suite,
                               path.string()),
                   kSuitePathHint);
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw BadInput(
        fmt::format("suite '{}': cannot open '{}': {}", suite, path.string(), std::strerror(errno)),
        kSuitePathHint);

  SuiteFile file;
  file.path = path;
  bool first = true;  // the first line that is not blank may be the provenance header
  uint64_t line_no = 0;
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const bool header_allowed = first;
    first = false;

    if (auto bad = suite_first_bad_byte(line))
      suite_line_error(
          suite,
          fmt::format("{} is not UTF-8 (byte 0x{:02X} at column {})", suite_field_with_bad_bytes(line),
                      static_cast<unsigned char>(line[*bad]), *bad + 1),
          "save the file as UTF-8 text", path, line_no, *bad + 1);
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
      std::string why = e.what();
      const size_t bracket = why.find("] ");  // drop nlohmann's "[json.exception.parse_error.101]"
      if (bracket != std::string::npos) why.erase(0, bracket + 2);
      suite_line_error(suite, fmt::format("the line is not JSON: {}", why), kSuiteLineHint, path, line_no);
    }
    if (!j.is_object())
      suite_line_error(suite, fmt::format("the line is {}, not a JSON object", suite_shown(j)),
                       kSuiteLineHint, path, line_no);
    if (header_allowed) {
      auto header = j.find("plinth_suite");
      if (header != j.end()) {
        file.provenance = header->dump();
        continue;
      }
    }
    file.questions.push_back(suite_question(j, suite, path, line_no));
  }
  if (in.bad())
    throw BadInput(
        fmt::format("suite '{}': reading '{}' failed: {}", suite, path.string(), std::strerror(errno)),
        "check that the file is readable");
  if (file.questions.empty())
    throw BadInput(fmt::format("suite '{}': '{}' holds no question ({} line(s){})", suite, path.string(),
                               line_no, file.provenance.empty() ? "" : ", a provenance header only"),
                   std::string(kSuitePathHint) + "; " + kSuiteLineHint, Location{path.string(), 0, 0});
  return file;
}

std::vector<uint64_t> suite_sample(size_t questions, uint64_t count, uint64_t seed,
                                   const std::string& suite) {
  std::vector<uint64_t> order = sample_order(questions, seed, "suite:" + suite);
  if (count > 0 && count < order.size()) order.resize(count);
  return order;
}

uint64_t code_points(const std::string& text) {
  uint64_t n = 0;
  for (char c : text)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

}  // namespace plinth::eval
