#include "data/corpus_spec.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "data/corpus_reader.h"
#include "util/regex.h"

namespace plinth::data {

static const std::vector<std::pair<std::string, DocumentRule>> kRules = {
    {"file", DocumentRule::File},
    {"blank_line", DocumentRule::BlankLine},
    {"separator", DocumentRule::Separator},
    {"start", DocumentRule::Start},
    {"line", DocumentRule::Line}};

void bind(ConfigSection& s, SourceSpec& spec) {
  spec.where = s.where();
  bool have_path = s.read("path", spec.path, Need::Required);
  s.read_choice("format", spec.format, {"auto", "text", "jsonl", "tsv"});
  s.read("field", spec.field);
  s.read("column", spec.column, Range<int64_t>::at_least(0));
  std::vector<std::string> rule_names;
  for (const auto& [name, value] : kRules) rule_names.push_back(name);
  std::string rule;
  if (s.read_choice("documents", rule, rule_names))
    for (const auto& [name, value] : kRules)
      if (name == rule) spec.documents = value;
  bool have_separator = s.read("separator", spec.separator);
  s.read("include", spec.include);
  s.read("exclude", spec.exclude);
  s.read_bytes("max_bytes", spec.max_bytes);
  s.read_choice("on_binary", spec.on_binary, {"error", "skip"});
  s.read_choice("on_bad_record", spec.on_bad_record, {"error", "skip"});
  s.finish();

  if (spec.field.empty()) s.error("field", "must not be empty", "name the JSONL field, e.g. text");
  bool uses_separator = spec.documents == DocumentRule::Separator || spec.documents == DocumentRule::Start;
  if (uses_separator && spec.separator.empty()) {
    s.error("separator", fmt::format("documents: {} needs a separator regex", rule),
            spec.documents == DocumentRule::Separator
                ? "add the line pattern that ends a document, e.g. separator: '^%$'"
                : "add the line pattern that begins a document, e.g. separator: '^\\S'");
  } else if (uses_separator) {
    try {
      Regex compiled(spec.separator);
    } catch (const RegexError& e) {
      s.error("separator", invalid_regex("", spec.separator, e), kRegexSyntaxHint);
    }
  } else if (have_separator) {
    // Without these rules the separator would be ignored silently and the files read whole.
    s.error("separator", "a separator is only used with documents: separator or start",
            "add documents: separator (the line ends a document) or documents: start (it "
            "begins one)");
  }

  if (have_path && spec.path.empty()) {
    s.error("path", "must not be empty", "name a file, a directory or a glob");
  } else if (have_path) {
    try {
      list_source_files(spec);
    } catch (const BadInput& e) {
      for (const Problem& p : e.problems()) s.error("path", p.message, p.hint);
    }
  }
}

static bool valid_domain_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

void bind(ConfigSection& s, DomainSpec& spec) {
  spec.where = s.where();
  if (s.read("name", spec.name, Need::Required) && !valid_domain_name(spec.name))
    s.error("name", fmt::format("'{}' is not a valid domain name", spec.name),
            "use lowercase letters, digits, '_' and '-' (the name becomes part of file names)");
  else if (spec.name == "mean")  // beside the domains: TensorBoard's val/mean, the reports' mean rows
    s.error("name",
            "'mean' is not a domain name: it names the mean over the domains in the reports and in "
            "TensorBoard (val/mean)",
            "choose another name for this domain");
  s.read("weight", spec.weight, Range<double>::at_least(0.0));
  s.read_bytes("max_bytes", spec.max_bytes);
  size_t problems_before = s.diagnostics().problems().size();
  bool listed = s.has("sources");
  std::vector<ConfigSection> sources = s.list("sources", Need::Required);
  if (listed && sources.empty() && s.diagnostics().problems().size() == problems_before)
    s.error("sources", "lists no source", "add at least one '- path: ...' item");
  spec.sources.clear();
  for (ConfigSection& item : sources) {
    SourceSpec source;
    bind(item, source);
    spec.sources.push_back(std::move(source));
  }
  s.finish();
}

}  // namespace plinth::data
