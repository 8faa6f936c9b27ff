#include "model/freezing.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <optional>
#include <string>
#include <vector>

#include "util/error.h"
#include "util/regex.h"
#include "util/text.h"

namespace plinth::model {

namespace {

// A few real names, so a user sees what patterns are searched in.
std::string example_names(const std::vector<std::string>& names) {
  std::vector<std::string> examples;
  for (const auto& name : names)
    if (!starts_with(name, "model.layers.") || starts_with(name, "model.layers.0.")) examples.push_back(name);
  return fmt::format("{} (and the same for every layer)", fmt::join(examples, ", "));
}

}  // namespace

int64_t freeze_parameters(LlamaImpl& model, const FreezeOptions& options) {
  auto params = model.named_parameters();
  std::vector<std::string> names;
  for (const auto& item : params) names.push_back(item.key());
  std::vector<bool> chosen(names.size(), false);

  std::vector<Problem> problems;
  const int layers = model.config().layers;
  if (options.first_layers < 0 || options.first_layers > layers)
    problems.push_back(key_problem(
        "freeze.first_layers",
        fmt::format("first_layers is {}, but the model has {} layers", options.first_layers, layers),
        fmt::format("use 0 to {} (the number of decoder layers to freeze, counted from the embeddings)",
                    layers)));
  else
    for (size_t i = 0; i < names.size(); ++i)
      for (int layer = 0; layer < options.first_layers; ++layer)
        if (starts_with(names[i], fmt::format("model.layers.{}.", layer))) chosen[i] = true;

  if (options.embeddings)
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == "model.embed_tokens.weight" || names[i] == "lm_head.weight") chosen[i] = true;

  for (size_t t = 0; t < options.patterns.size(); ++t) {
    const std::string& pattern = options.patterns[t];
    const std::string key = fmt::format("freeze.patterns[{}]", t);
    std::optional<Regex> re;
    try {
      re.emplace(pattern);
    } catch (const RegexError& e) {
      problems.push_back(key_problem(key, invalid_regex("pattern", pattern, e),
                                     "escape special characters, e.g. 'layers\\.0\\.' for layer 0"));
      continue;
    }
    bool matched = false;
    for (size_t i = 0; i < names.size(); ++i)
      if (re->search(names[i])) chosen[i] = matched = true;
    if (!matched)
      problems.push_back(
          key_problem(key, fmt::format("freeze pattern '{}' matches no parameter", pattern),
                      "a pattern is a regex searched in parameter names such as " + example_names(names)));
  }
  if (!problems.empty()) throw BadInput(std::move(problems));

  bool any_left = false;
  for (size_t i = 0; i < names.size(); ++i)
    if (!chosen[i] && params[names[i]].requires_grad()) any_left = true;
  if (!any_left)
    throw BadInput(
        {key_problem("freeze", "these freeze options leave no parameter to train",
                     "freeze fewer layers or patterns (or use LoRA, which trains adapters only)")});

  int64_t frozen = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!chosen[i]) continue;
    params[names[i]].set_requires_grad(false);
    frozen += params[names[i]].numel();
  }
  return frozen;
}

}  // namespace plinth::model
