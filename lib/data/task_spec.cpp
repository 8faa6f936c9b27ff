#include "data/task_spec.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "util/regex.h"
#include "util/text.h"

namespace plinth::data {

namespace {

bool valid_task_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool valid_group_name(const std::string& name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

const char* kRegexHint =
    "mark the two parts of a line with named groups, e.g. '^(?<prompt>.+?) :: (?<completion>.+)$' "
    "(in YAML, single quotes keep '\\' as is)";

// The keys that fix what the model sees of an example, shared by bind() and
// task_format_from_recipe() so that both read and check them alike.
void read_prompt_format(ConfigSection& s, TaskSpec& spec) {
  s.read("template", spec.prompt_template);
  s.read("completion_suffix", spec.completion_suffix);
}

void check_prompt_format(ConfigSection& s, const TaskSpec& spec) {
  if (spec.prompt_template.find("{prompt}") == std::string::npos)
    s.error("template", "the template has no {prompt}",
            "write where the prompt goes, e.g. template: \"<|prompt|>{prompt}<|response|>\"");
}

}  // namespace

TaskRegex translate_task_regex(const std::string& pattern, const Location& where) {
  TaskRegex out;
  std::vector<std::string> names;  // every named group, for messages
  size_t groups = 0;               // capture groups seen so far
  bool in_class = false;           // inside [...], where '(' is a literal
  auto fail = [&](std::string message) { throw BadInput(std::move(message), kRegexHint, where); };

  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') {  // an escape: copy it and the escaped character unchanged
      out.numbered += c;
      if (i + 1 < pattern.size()) out.numbered += pattern[++i];
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      out.numbered += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
    } else if (c == '(' && i + 1 < pattern.size() && pattern[i + 1] == '?') {
      // (?<name>  or  (?P<name>  is a named group; (?: (?= (?! are not captures.
      size_t name_at = 0;
      if (i + 3 < pattern.size() && pattern[i + 2] == '<' && pattern[i + 3] != '=' && pattern[i + 3] != '!')
        name_at = i + 3;
      else if (i + 3 < pattern.size() && pattern[i + 2] == 'P' && pattern[i + 3] == '<')
        name_at = i + 4;
      if (name_at != 0) {
        size_t close = pattern.find('>', name_at);
        if (close == std::string::npos)
          fail(fmt::format("regex '{}': the group name at offset {} has no closing '>'", pattern, i));
        std::string name = pattern.substr(name_at, close - name_at);
        if (!valid_group_name(name))
          fail(fmt::format("regex '{}': '{}' is not a valid group name", pattern, name));
        if (std::find(names.begin(), names.end(), name) != names.end())
          fail(fmt::format("regex '{}': the group name '{}' is used twice", pattern, name));
        names.push_back(name);
        ++groups;
        if (name == "prompt") out.prompt_group = groups;
        if (name == "completion") out.completion_group = groups;
        out.numbered += '(';
        i = close;
        continue;
      }
    } else if (c == '(') {
      ++groups;
    }
    out.numbered += c;
  }

  for (const char* needed : {"prompt", "completion"}) {
    bool found = std::string(needed) == "prompt" ? out.prompt_group != 0 : out.completion_group != 0;
    if (found) continue;
    std::string near = did_you_mean(needed, names);
    fail(fmt::format("regex '{}' has no named group (?<{}>...){}", pattern, needed,
                     near.empty() ? "" : fmt::format(" ({})", near)));
  }

  int compiled_groups = 0;
  try {
    compiled_groups = Regex(out.numbered).capture_groups();
  } catch (const RegexError& e) {
    throw BadInput(invalid_regex("", pattern, e), kRegexSyntaxHint, where);
  }
  // Our count of '(' must agree with the regex engine's, or the group indices are wrong.
  if (static_cast<size_t>(compiled_groups) != groups)
    fail(fmt::format("regex '{}': cannot tell its capture groups apart ({} counted, {} compiled)", pattern,
                     groups, compiled_groups));
  return out;
}

void bind(ConfigSection& s, TaskSpec& spec) {
  spec.where = s.where();
  if (s.read("name", spec.name) && !valid_task_name(spec.name))
    s.error("name", fmt::format("'{}' is not a valid task name", spec.name),
            "use lowercase letters, digits, '_' and '-' (the name becomes part of file names)");
  s.read_choice("format", spec.format, {"jsonl", "tsv", "regex"}, Need::Required);
  s.read_path("path", spec.path, PathMust::BeFile, Need::Required);
  s.read("prompt_field", spec.prompt_field);
  s.read("completion_field", spec.completion_field);
  s.read("prompt_column", spec.prompt_column, Range<int64_t>::between(0, 1 << 16));
  s.read("completion_column", spec.completion_column, Range<int64_t>::between(0, 1 << 16));
  bool have_regex = s.read("regex", spec.regex);
  read_prompt_format(s, spec);
  s.read("loss_on_prompt", spec.loss_on_prompt);
  s.read_choice("on_bad_line", spec.on_bad_line, {"fail", "skip"});
  s.read("max_examples", spec.max_examples, Range<int64_t>::at_least(0));
  s.read("val_fraction", spec.val_fraction, Range<double>::between(0.0, 1.0));
  s.read("test_fraction", spec.test_fraction, Range<double>::between(0.0, 1.0));
  int64_t seed = static_cast<int64_t>(spec.split_seed);
  if (s.read("split_seed", seed, Range<int64_t>::at_least(0))) spec.split_seed = static_cast<uint64_t>(seed);
  s.read("seq_len", spec.seq_len, Range<int64_t>::between(0, 1 << 24));
  s.finish();

  if (spec.format == "jsonl") {
    if (spec.prompt_field.empty())
      s.error("prompt_field", "must not be empty", "name the JSON field, e.g. prompt");
    if (spec.completion_field.empty())
      s.error("completion_field", "must not be empty", "name the JSON field, e.g. completion");
    if (!spec.prompt_field.empty() && spec.prompt_field == spec.completion_field)
      s.error("completion_field",
              fmt::format("the prompt and the completion both come from field '{}'", spec.prompt_field),
              "name two different fields");
  }
  if (spec.format == "tsv" && spec.prompt_column == spec.completion_column)
    s.error("completion_column",
            fmt::format("the prompt and the completion both come from column {}", spec.prompt_column),
            "name two different 0-based columns, e.g. prompt_column: 0 and completion_column: 1");
  if (spec.format == "regex" && !have_regex) {
    s.error("regex", "format: regex needs a regex with the named groups prompt and completion", kRegexHint);
  } else if (spec.format == "regex") {
    try {
      translate_task_regex(spec.regex, s.where("regex"));
    } catch (const BadInput& e) {
      for (const Problem& p : e.problems()) s.error("regex", p.message, p.hint);
    }
  } else if (have_regex && !spec.format.empty()) {
    // Without format: regex it would be ignored silently.
    s.error("regex", fmt::format("a regex is only used with format: regex, not {}", spec.format),
            "set format: regex, or remove the regex");
  }
  check_prompt_format(s, spec);
  if (spec.val_fraction + spec.test_fraction >= 1.0)
    s.error("test_fraction",
            fmt::format("val_fraction {} + test_fraction {} leave nothing to train on", spec.val_fraction,
                        spec.test_fraction),
            "hold out a few percent each, e.g. 0.05");
}

std::optional<TaskSpec> task_format_from_recipe(const ConfigNode& recipe_root, const Location& where) {
  if (!recipe_root.is_map() || !recipe_root.find("task")) return std::nullopt;
  Diagnostics diag;
  ConfigSection root(&recipe_root, "", diag, where);
  ConfigSection s = root.child("task");
  TaskSpec spec;
  spec.where = s.where();
  s.read("name", spec.name);
  read_prompt_format(s, spec);
  check_prompt_format(s, spec);
  diag.throw_if_any();
  return spec;
}

}  // namespace plinth::data
