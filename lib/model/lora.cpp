#include "model/lora.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "util/error.h"
#include "util/regex.h"
#include "util/text.h"

namespace plinth::model {

namespace {

using NamedProjection = std::pair<std::string, std::shared_ptr<ProjectionImpl>>;

// Every Projection in the model with its full module name ("model.layers.0.self_attn.q_proj"),
// in registration order.
std::vector<NamedProjection> projections(const LlamaImpl& model) {
  std::vector<NamedProjection> out;
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/false))
    if (auto p = std::dynamic_pointer_cast<ProjectionImpl>(item.value())) out.emplace_back(item.key(), p);
  return out;
}

bool is_lora_name(const std::string& name) {
  return ends_with(name, ".lora_A") || ends_with(name, ".lora_B");
}

void set_all_requires_grad(LlamaImpl& model, bool requires_grad) {
  for (auto& p : model.parameters()) p.set_requires_grad(requires_grad);
}

// "model.layers.0.self_attn.q_proj, ..., model.layers.0.mlp.down_proj (and the same in layers
// 1 to N-1)": the names a target regex is searched in, without repeating every layer.
std::string targetable_names(const std::vector<NamedProjection>& all, int layers) {
  std::vector<std::string> first;
  for (const auto& [name, p] : all)
    if (starts_with(name, "model.layers.0.")) first.push_back(name);
  std::string text = fmt::format("{}", fmt::join(first, ", "));
  if (layers == 2) text += " (and the same in layer 1)";
  if (layers > 2) text += fmt::format(" (and the same in layers 1 to {})", layers - 1);
  return text;
}

}  // namespace

std::vector<std::string> attach_lora(LlamaImpl& model, const LoraOptions& options, uint64_t seed) {
  std::vector<Problem> problems;
  if (options.rank < 1)
    problems.push_back(key_problem("lora.rank",
                                   fmt::format("rank is {}; it must be at least 1", options.rank),
                                   "use a small rank such as 8 or 16"));
  if (!(options.alpha > 0) || !std::isfinite(options.alpha))
    problems.push_back(key_problem("lora.alpha",
                                   fmt::format("alpha is {}; it must be positive", options.alpha),
                                   "the usual choice is alpha = 2 * rank (e.g. 16 for rank 8)"));
  if (!(options.dropout >= 0 && options.dropout < 1))
    problems.push_back(key_problem("lora.dropout",
                                   fmt::format("dropout is {}; it must be in [0, 1)", options.dropout),
                                   "use 0 (no dropout) or a small value such as 0.05"));
  if (options.targets.empty())
    problems.push_back(key_problem("lora.targets", "no target modules given",
                                   "list regexes of the projections to adapt, e.g. [q_proj, v_proj]"));
  if (has_lora(model))
    problems.push_back(key_problem("lora", "the model already has LoRA adapters",
                                   "attach adapters once; merge_lora or remove_lora before attaching again"));

  const auto all = projections(model);
  std::vector<std::string> short_names;  // "q_proj", ..., for did-you-mean
  for (const auto& [name, p] : all) {
    std::string leaf = name.substr(name.rfind('.') + 1);
    if (std::find(short_names.begin(), short_names.end(), leaf) == short_names.end())
      short_names.push_back(leaf);
  }
  std::vector<bool> chosen(all.size(), false);
  for (size_t t = 0; t < options.targets.size(); ++t) {
    const std::string& target = options.targets[t];
    const std::string key = fmt::format("lora.targets[{}]", t);
    std::optional<Regex> re;
    try {
      re.emplace(target);
    } catch (const RegexError& e) {
      problems.push_back(key_problem(key, invalid_regex("target", target, e),
                                     "escape special characters, e.g. 'layers\\.0\\.' for layer 0"));
      continue;
    }
    bool matched = false;
    for (size_t i = 0; i < all.size(); ++i)
      if (re->search(all[i].first)) chosen[i] = matched = true;
    if (matched) continue;
    std::string hint =
        "a target is a regex searched in these module names: " + targetable_names(all, model.config().layers);
    if (target.find("lm_head") != std::string::npos || target.find("embed") != std::string::npos)
      hint = "lm_head and the embeddings cannot carry LoRA adapters (freeze or train them instead); " + hint;
    const std::string suggestion = did_you_mean(target, short_names);
    problems.push_back(key_problem(key,
                                   fmt::format("LoRA target '{}' matches no module{}", target,
                                               suggestion.empty() ? "" : "; " + suggestion),
                                   std::move(hint)));
  }
  if (!problems.empty()) throw BadInput(std::move(problems));

  set_all_requires_grad(model, false);
  auto generator = at::detail::createCPUGenerator(seed);
  std::vector<std::string> adapted;
  for (size_t i = 0; i < all.size(); ++i) {
    if (!chosen[i]) continue;
    all[i].second->attach_adapter(options.rank, options.alpha, options.dropout, generator);
    adapted.push_back(all[i].first);
  }
  return adapted;
}

void merge_lora(LlamaImpl& model) {
  for (auto& [name, p] : projections(model)) p->merge_adapter();
  set_all_requires_grad(model, true);
}

void remove_lora(LlamaImpl& model) {
  for (auto& [name, p] : projections(model)) p->remove_adapter();
  set_all_requires_grad(model, true);
}

bool has_lora(const LlamaImpl& model) {
  for (const auto& [name, p] : projections(model))
    if (p->has_adapter()) return true;
  return false;
}

LoraAdaptersOff::LoraAdaptersOff(LlamaImpl& model) : model_(model) {
  for (const auto& [name, p] : projections(model_)) p->set_adapter_enabled(false);
}

LoraAdaptersOff::~LoraAdaptersOff() {
  for (const auto& [name, p] : projections(model_)) p->set_adapter_enabled(true);
}

std::vector<std::pair<std::string, torch::Tensor>> lora_parameters(LlamaImpl& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : model.named_parameters())
    if (is_lora_name(item.key())) out.emplace_back(item.key(), item.value());
  return out;
}

void load_lora_parameters(LlamaImpl& model, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                          const std::string& source) {
  const Location where{source};
  auto params = lora_parameters(model);
  if (params.empty())
    throw BadInput("the model has no LoRA adapters to load adapter weights into",
                   "attach_lora with the options the adapters were trained with, then load them", where);

  std::map<std::string, torch::Tensor> expected(params.begin(), params.end());
  std::vector<std::string> expected_names;
  for (const auto& [name, t] : params) expected_names.push_back(name);
  std::vector<Problem> problems;
  auto bad = [&](std::string message, std::string hint) {
    problems.push_back(Problem{where, "", std::move(message), std::move(hint)});
  };
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    auto it = expected.find(name);
    if (it == expected.end()) {
      const std::string suggestion = did_you_mean(name, expected_names);
      bad(fmt::format("tensor '{}' is not a LoRA adapter of this model{}", name,
                      suggestion.empty() ? "" : "; " + suggestion),
          "attach_lora with the targets the adapters were trained with");
    } else if (!seen.insert(name).second) {
      bad(fmt::format("tensor '{}' is given twice", name), "");
    } else if (t.sizes() != it->second.sizes()) {
      bad(fmt::format("tensor '{}' has shape [{}], the adapter expects [{}]", name,
                      fmt::join(t.sizes(), ", "), fmt::join(it->second.sizes(), ", ")),
          "attach_lora with the rank the adapters were trained with");
    } else if (!t.is_floating_point()) {
      bad(fmt::format("tensor '{}' holds integers, not weights", name), "");
    }
  }
  for (const auto& name : expected_names)
    if (!seen.count(name))
      bad(fmt::format("tensor '{}' is missing", name),
          "the adapters were trained with other targets; attach_lora with the same targets");
  if (!problems.empty()) throw BadInput(std::move(problems));

  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : tensors) expected.at(name).copy_(t);
}

}  // namespace plinth::model
