#include "data/task_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_set>

#include "data/corpus_reader.h"
#include "util/hash.h"
#include "util/regex.h"
#include "util/text.h"

namespace plinth::data {

namespace {

constexpr size_t kSkippedSamples = 5;

// One line's outcome: an example, not an example (regex did not match), or a bad line.
struct Parsed {
  enum Kind { Example, Unmatched, Bad } kind = Example;
  std::string prompt, completion;
  std::string why;  // Bad: what is wrong, in the user's terms

  static Parsed bad(std::string why) {
    Parsed p;
    p.kind = Bad;
    p.why = std::move(why);
    return p;
  }
};

// Turns the lines of a task file into (prompt, completion) pairs, per format.
class TaskLineParser {
 public:
  explicit TaskLineParser(const TaskSpec& spec) : spec_(spec) {
    if (spec.format == "regex") {
      TaskRegex r = translate_task_regex(spec.regex, spec.where);
      regex_.emplace(r.numbered);
      prompt_group_ = r.prompt_group;
      completion_group_ = r.completion_group;
    } else if (spec.format != "jsonl" && spec.format != "tsv") {
      throw BadInput(fmt::format("unknown task format '{}'", spec.format), "use jsonl, tsv or regex",
                     spec.where);
    }
  }

  // Lines that are skipped silently: blank lines, and comments where the format has them.
  bool ignored(std::string_view line) const {
    if (trim(line).empty()) return true;
    return spec_.format != "jsonl" && starts_with(line, "#");
  }

  Parsed parse(const std::string& line, uint64_t& invalid_utf8) const {
    if (spec_.format == "jsonl") return jsonl(line, invalid_utf8);
    if (spec_.format == "tsv") return tsv(line);
    return regex(line);
  }

 private:
  Parsed jsonl(const std::string& line, uint64_t& invalid_utf8) const {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      // Not only parse_error: a number too large for a double ("1e999") is an out_of_range.
      std::string why = e.what();
      size_t bracket = why.find("] ");  // drop nlohmann's "[json.exception.parse_error.101]"
      if (bracket != std::string::npos) why.erase(0, bracket + 2);
      return Parsed::bad(fmt::format("not a JSON record: {}", why));
    }
    if (!j.is_object()) return Parsed::bad(fmt::format("expected a JSON object, got {}", j.type_name()));
    Parsed p;
    using Slot = std::pair<const std::string*, std::string*>;  // (field name, where its text goes)
    for (auto [field, out] :
         {Slot{&spec_.prompt_field, &p.prompt}, Slot{&spec_.completion_field, &p.completion}}) {
      auto it = j.find(*field);
      if (it == j.end()) return Parsed::bad(fmt::format("the record has no field '{}'", *field));
      if (it->is_string()) {
        *out = it->get<std::string>();
      } else if (it->is_number()) {
        *out = it->dump();  // arithmetic tasks: {"prompt": "2+3=", "completion": 5}
      } else {
        return Parsed::bad(fmt::format("field '{}' is {}, not a string", *field, it->type_name()));
      }
      uint64_t nul = 0;  // "\u0000" decodes to a NUL byte; sanitize_utf8 drops it
      invalid_utf8 += sanitize_utf8(*out, nul);
    }
    return p;
  }

  Parsed tsv(const std::string& line) const {
    std::vector<std::string> columns = split(line, '\t');
    int needed = std::max(spec_.prompt_column, spec_.completion_column);
    if (static_cast<int64_t>(columns.size()) <= needed)
      return Parsed::bad(
          fmt::format("the row has {} column(s); column {} (0-based) is missing", columns.size(), needed));
    Parsed p;
    p.prompt = columns[static_cast<size_t>(spec_.prompt_column)];
    p.completion = columns[static_cast<size_t>(spec_.completion_column)];
    return p;
  }

  Parsed regex(const std::string& line) const {
    std::vector<std::string_view> groups;
    if (!regex_->search(line, groups)) {
      Parsed p;
      p.kind = Parsed::Unmatched;
      return p;
    }
    Parsed p;
    p.prompt = groups[prompt_group_ - 1];  // an optional group that took no part is ""
    p.completion = groups[completion_group_ - 1];
    return p;
  }

  const TaskSpec& spec_;
  std::optional<Regex> regex_;
  size_t prompt_group_ = 0, completion_group_ = 0;
};

void check_fractions(const TaskSpec& spec) {
  if (spec.val_fraction < 0 || spec.test_fraction < 0 || spec.val_fraction + spec.test_fraction >= 1.0)
    throw BadInput(fmt::format("task '{}': val_fraction {} + test_fraction {} leave nothing to train on",
                               spec.name, spec.val_fraction, spec.test_fraction),
                   "hold out a few percent each, e.g. 0.05", spec.where);
}

}  // namespace

double task_split_point(const std::string& prompt, uint64_t seed) {
  return hash_unit(prompt, seed ^ 0x7a5c5eed7a5cull);
}

TaskSplit task_split(const std::string& prompt, double val_fraction, double test_fraction, uint64_t seed) {
  const double u = task_split_point(prompt, seed);
  if (u < val_fraction) return TaskSplit::Val;
  if (u < val_fraction + test_fraction) return TaskSplit::Test;
  return TaskSplit::Train;
}

TaskData load_task(const TaskSpec& spec) {
  check_fractions(spec);
  TaskLineParser parser(spec);  // before opening the file: a bad regex is the first thing to fix

  std::error_code ec;
  if (std::filesystem::is_directory(spec.path, ec))
    throw BadInput(
        fmt::format("task '{}': '{}' is a directory, but a file is expected", spec.name, spec.path),
        "set task.path to the task file", spec.where);
  std::ifstream in(spec.path, std::ios::binary);
  if (!in)
    throw BadInput(fmt::format("task '{}': cannot open '{}': {}", spec.name, spec.path, std::strerror(errno)),
                   "check task.path (relative paths start from the working directory)", spec.where);

  TaskData data;
  std::unordered_set<std::string> seen;  // prompt + '\0' + completion (NUL bytes are dropped from text)
  uint64_t kept = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (spec.max_examples > 0 && kept >= static_cast<uint64_t>(spec.max_examples)) break;
    const uint64_t line_no = ++data.lines;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    uint64_t nul = 0;
    data.invalid_utf8 += sanitize_utf8(line, nul);
    if (parser.ignored(line)) continue;

    Parsed p = parser.parse(line, data.invalid_utf8);
    if (p.kind == Parsed::Unmatched) {
      ++data.unmatched;
      continue;
    }
    if (p.kind == Parsed::Example) {
      p.prompt = std::string(trim(p.prompt));
      p.completion = std::string(trim(p.completion));
      if (p.completion.empty()) p = Parsed::bad("the completion is empty");
    }
    if (p.kind == Parsed::Bad) {
      if (spec.on_bad_line != "skip")
        throw BadInput(fmt::format("task '{}': {}", spec.name, p.why),
                       "fix or remove the line, or set task.on_bad_line: skip",
                       Location{spec.path, static_cast<int>(line_no), 0});
      ++data.skipped;
      if (data.skipped_samples.size() < kSkippedSamples)
        data.skipped_samples.push_back(fmt::format("{}:{}: {}", spec.path, line_no, p.why));
      continue;
    }

    std::string key = p.prompt + '\0' + p.completion;
    if (!seen.insert(std::move(key)).second) {
      ++data.duplicates;
      continue;
    }
    ++kept;
    TaskSplit split = task_split(p.prompt, spec.val_fraction, spec.test_fraction, spec.split_seed);
    std::vector<TaskExample>& to = split == TaskSplit::Train ? data.train
                                   : split == TaskSplit::Val ? data.val
                                                             : data.test;
    to.push_back(TaskExample{std::move(p.prompt), std::move(p.completion), line_no});
  }
  if (in.bad())
    throw BadInput(
        fmt::format("task '{}': reading '{}' failed: {}", spec.name, spec.path, std::strerror(errno)),
        "check that the file is readable", spec.where);

  if (data.train.empty()) {
    std::string counts = fmt::format("{} line(s): {} example(s), {} skipped as bad", data.lines,
                                     data.examples(), data.skipped);
    if (spec.format == "regex") counts += fmt::format(", {} not matched by the regex", data.unmatched);
    std::string hint = data.examples() > 0  ? "lower task.val_fraction / task.test_fraction, or add examples"
                       : data.unmatched > 0 ? "the regex matches no line: try it on a line of the file"
                       : data.skipped > 0
                           ? fmt::format("every line is bad, e.g. {}", data.skipped_samples.front())
                           : "check task.path and task.format";
    throw BadInput(fmt::format("task '{}': no training example in '{}' ({})", spec.name, spec.path, counts),
                   std::move(hint), spec.where);
  }
  return data;
}

std::string render_prompt(const TaskSpec& spec, const std::string& prompt) {
  static const std::string kSlot = "{prompt}";
  std::string out;
  const std::string& t = spec.prompt_template;
  size_t from = 0;
  for (size_t at = t.find(kSlot); at != std::string::npos; at = t.find(kSlot, from)) {
    out.append(t, from, at - from).append(prompt);
    from = at + kSlot.size();
  }
  out.append(t, from, std::string::npos);
  return out;
}

std::vector<int32_t> task_prompt_tokens(const tokenizer::Tokenizer& tokenizer, const TaskSpec& spec,
                                        const std::string& prompt) {
  if (tokenizer.eos_id() < 0)
    throw BadInput(fmt::format("the tokenizer {} has no EOS piece; task prompts start with it, as every "
                               "pretraining document does",
                               tokenizer.model_file().string()),
                   "use a tokenizer trained by plinth tokenizer train (it always has one)", spec.where);
  std::vector<int32_t> ids = {tokenizer.document_start_id()};  // EOS for plinth's tokenizers, Llama's BOS
  tokenizer.encode(render_prompt(spec, prompt), ids);
  return ids;
}

TokenizedExample tokenize_example(const tokenizer::Tokenizer& tokenizer, const TaskSpec& spec,
                                  const TaskExample& example) {
  TokenizedExample out;
  out.prompt = task_prompt_tokens(tokenizer, spec, example.prompt);
  // The suffix written as the EOS piece ("</s>": a Llama model's end of answer) is the EOS token;
  // sentencepiece would read that text as its characters.
  if (!spec.completion_suffix.empty() &&
      tokenizer.piece_to_id(spec.completion_suffix) == tokenizer.eos_id()) {
    tokenizer.encode(example.completion, out.completion);
    out.completion.push_back(tokenizer.eos_id());
  } else {
    tokenizer.encode(example.completion + spec.completion_suffix, out.completion);
  }
  return out;
}

std::vector<int32_t> fit_prompt(const std::vector<int32_t>& prompt, size_t completion_tokens, size_t limit) {
  if (prompt.size() + completion_tokens <= limit) return prompt;
  const size_t floor = std::min<size_t>(prompt.size(), 2);  // the EOS and the prompt's last token
  const size_t room = limit > completion_tokens ? limit - completion_tokens : 0;
  const size_t keep = std::min(limit, std::max(floor, room));  // < prompt.size() here
  std::vector<int32_t> out;
  if (keep == 0) return out;
  out.reserve(keep);
  out.push_back(prompt.front());
  out.insert(out.end(), prompt.end() - static_cast<std::ptrdiff_t>(keep - 1), prompt.end());
  return out;
}

TokenizedExample fit_example(const TokenizedExample& example, size_t limit) {
  TokenizedExample out;
  out.prompt = fit_prompt(example.prompt, example.completion.size(), limit);
  const size_t room = std::min(example.completion.size(), limit - out.prompt.size());
  out.completion.assign(example.completion.begin(),
                        example.completion.begin() + static_cast<std::ptrdiff_t>(room));
  return out;
}

}  // namespace plinth::data
