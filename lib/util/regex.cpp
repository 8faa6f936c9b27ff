#include "util/regex.h"

#include <fmt/format.h>
#include <re2/re2.h>

#include <cctype>

namespace plinth {

const char* const kRegexSyntaxHint =
    "write an RE2 (Perl-like) regular expression, without back-references or lookaround; in YAML, "
    "single quotes keep '\\' as is";

namespace {

std::string explain(const std::string& reason) {
  // RE2 names the construct ("invalid perl operator: (?="); say why it is refused.
  const char* const linear = "plinth's regexes match in time linear in the line";
  if (reason.find("(?=") != std::string::npos || reason.find("(?!") != std::string::npos)
    return fmt::format("{} (lookahead is not supported: {})", reason, linear);
  if (reason.find("(?<") != std::string::npos)
    return fmt::format("{} (lookbehind is not supported: {}; a named group is written (?P<name>...))", reason,
                       linear);
  const std::string escape = "invalid escape sequence: \\";
  size_t at = reason.find(escape);
  if (at != std::string::npos && at + escape.size() < reason.size() &&
      std::isdigit(static_cast<unsigned char>(reason[at + escape.size()])))
    return fmt::format("{} (back-references are not supported: {})", reason, linear);
  return reason;
}

}  // namespace

std::string invalid_regex(std::string_view what, std::string_view pattern, const RegexError& e) {
  if (what.empty()) return fmt::format("'{}' is not a valid regex: {}", pattern, e.what());
  return fmt::format("{} '{}' is not a valid regex: {}", what, pattern, e.what());
}

Regex::Regex(const std::string& pattern) {
  RE2::Options options;
  options.set_log_errors(false);  // the error reaches the user in our message, not on stderr
  re_ = std::make_unique<RE2>(pattern, options);
  if (!re_->ok()) throw RegexError(explain(re_->error()));
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

bool Regex::search(std::string_view text) const {
  return RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *re_);
}

bool Regex::search(std::string_view text, std::vector<std::string_view>& groups) const {
  const int n = re_->NumberOfCapturingGroups();
  std::vector<re2::StringPiece> found(static_cast<size_t>(n) + 1);  // [0] is the whole match
  if (!re_->Match(re2::StringPiece(text.data(), text.size()), 0, text.size(), RE2::UNANCHORED, found.data(),
                  n + 1))
    return false;
  groups.assign(static_cast<size_t>(n), {});
  for (int i = 1; i <= n; ++i)
    if (found[i].data() != nullptr) groups[i - 1] = std::string_view(found[i].data(), found[i].size());
  return true;
}

int Regex::capture_groups() const {
  return re_->NumberOfCapturingGroups();
}

}  // namespace plinth
