// A regular expression from a user's recipe (a task regex, a corpus separator, LoRA targets,
// frozen layers), matched by RE2. RE2 takes time linear in the text whatever the pattern;
// std::regex backtracks recursively: "(a*)*b" on 25 characters ran past 20 s, and
// "^(.+) :: (.+)$" on a 30 KB line overflowed the stack (docs/architecture.md, "Platform
// traps"). A pattern in a recipe must not be able to hang or crash a run.
//
// Syntax: RE2's (Perl-like: classes, \d \w \s \b, lazy quantifiers, (?:...), (?i)). Not
// supported, because they need backtracking: back-references (\1) and lookaround ((?=...),
// (?!...), (?<=...)). Patterns and text are UTF-8: '.' is one character, not one byte.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace re2 {
class RE2;
}

namespace plinth {

// A pattern RE2 refuses; what() is RE2's reason, with a word on the unsupported constructs.
class RegexError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The hint of every message about a bad pattern in a recipe.
extern const char* const kRegexSyntaxHint;

// "<what> '<pattern>' is not a valid regex: <e's reason>": the message of every pattern from a
// recipe that does not compile. `what` names the pattern's role ("separator", "LoRA target"), or
// is empty where the problem's key or position already says it.
std::string invalid_regex(std::string_view what, std::string_view pattern, const RegexError& e);

class Regex {
 public:
  explicit Regex(const std::string& pattern);  // throws RegexError
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  // Whether the pattern matches anywhere in `text` ('^' and '$' anchor to its ends).
  bool search(std::string_view text) const;
  // The same; on a match, groups[i] is capture group i + 1 of the leftmost match (empty for
  // a group that took no part). The views point into `text`.
  bool search(std::string_view text, std::vector<std::string_view>& groups) const;

  int capture_groups() const;

 private:
  std::unique_ptr<re2::RE2> re_;
};

}  // namespace plinth
