#include "util/error.h"

#include <fmt/format.h>

namespace plinth {

std::string Location::str() const {
  if (file.empty()) return {};
  if (line <= 0) return file;
  if (column <= 0) return fmt::format("{}:{}", file, line);
  return fmt::format("{}:{}:{}", file, line, column);
}

Problem problem(std::string message, std::string hint) {
  Problem p;
  p.message = std::move(message);
  p.hint = std::move(hint);
  return p;
}

Problem key_problem(std::string key, std::string message, std::string hint) {
  Problem p;
  p.key = std::move(key);
  p.message = std::move(message);
  p.hint = std::move(hint);
  return p;
}

std::string Problem::str() const {
  std::string out;
  if (where.known()) out += where.str() + ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  if (!hint.empty()) out += "\n  hint: " + hint;
  return out;
}

static std::string join_problems(const std::vector<Problem>& problems) {
  std::string out;
  for (const auto& p : problems) {
    if (!out.empty()) out += '\n';
    out += p.str();
  }
  return out;
}

BadInput::BadInput(std::vector<Problem> problems)
    : Error(join_problems(problems)), problems_(std::move(problems)) {}

BadInput::BadInput(std::string message, std::string hint, Location where)
    : BadInput(std::move(where), "", std::move(message), std::move(hint)) {}

BadInput::BadInput(Location where, std::string key, std::string message, std::string hint)
    : BadInput(std::vector<Problem>{
          Problem{std::move(where), std::move(key), std::move(message), std::move(hint)}}) {}

void Diagnostics::throw_if_any() const {
  if (!problems_.empty()) throw BadInput(problems_);
}

}  // namespace plinth
