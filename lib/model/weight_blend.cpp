#include "model/weight_blend.h"

#include <fmt/format.h>

#include <map>
#include <set>

#include "model/checkpoint_model.h"
#include "util/error.h"
#include "util/text.h"

namespace plinth::model {

namespace fs = std::filesystem;

torch::Tensor blend(const torch::Tensor& base, const torch::Tensor& tuned, double alpha) {
  if (alpha == 0) return base.clone();
  if (alpha == 1) return tuned.clone();
  return base.mul(1.0 - alpha).add_(tuned, alpha);
}

namespace {

std::string dims(const torch::Tensor& t) {
  std::string out;
  for (int64_t d : t.sizes()) out += (out.empty() ? "" : ", ") + std::to_string(d);
  return "(" + out + ")";
}

// The model_config as model_config_json writes it, so that two spellings of one shape compare
// equal.
std::string normalised_config(const CheckpointContents& c, const fs::path& file) {
  return model_config_json(model_config_from_json(c.meta_or_throw("model_config", file), file));
}

}  // namespace

CheckpointContents merge_checkpoints(const CheckpointContents& base, const fs::path& base_file,
                                     const CheckpointContents& tuned, const fs::path& tuned_file,
                                     double alpha) {
  const std::string hint = "merge a fine-tune with the base it was tuned from (finetune.base of its recipe)";
  std::vector<Problem> problems;
  auto bad = [&](std::string message) {
    Problem p;
    p.message = std::move(message);
    p.hint = hint;
    problems.push_back(std::move(p));
  };
  const std::string base_config = normalised_config(base, base_file);
  const std::string tuned_config = normalised_config(tuned, tuned_file);
  if (base_config != tuned_config)
    bad(fmt::format("{} and {} are models of different shapes: model_config {} against {}",
                    base_file.string(), tuned_file.string(), base_config, tuned_config));
  const std::string base_tok = checkpoint_tokenizer_hash(base), tuned_tok = checkpoint_tokenizer_hash(tuned);
  if (!base_tok.empty() && !tuned_tok.empty() && base_tok != tuned_tok)
    bad(
        fmt::format("{} was trained with tokenizer {} and {} with tokenizer {}: their token ids mean "
                    "different things",
                    base_file.string(), base_tok, tuned_file.string(), tuned_tok));

  std::map<std::string, const torch::Tensor*> base_weights;
  for (const auto& [name, t] : base.tensors)
    if (starts_with(name, "model/")) base_weights[name] = &t;
  CheckpointContents out;
  out.meta = tuned.meta;
  // The recipe stays: it names the tokenizer commands load. The data cursor is a training state.
  for (const char* key : {"sampler_cursor", "kind"}) out.meta.erase(key);
  out.meta["merge_base"] = base_file.string();
  out.meta["merge_tuned"] = tuned_file.string();
  out.meta["merge_alpha"] = fmt::format("{}", alpha);
  std::set<std::string> seen;
  for (const auto& [name, t] : tuned.tensors) {
    if (!starts_with(name, "model/")) continue;
    seen.insert(name);
    auto b = base_weights.find(name);
    if (b == base_weights.end()) {
      bad(fmt::format("weight '{}' of {} is not in {}", name.substr(6), tuned_file.string(),
                      base_file.string()));
      continue;
    }
    if (!b->second->sizes().equals(t.sizes())) {
      bad(fmt::format("weight '{}' has shape {} in {} and {} in {}", name.substr(6), dims(*b->second),
                      base_file.string(), dims(t), tuned_file.string()));
      continue;
    }
    if (problems.empty()) {
      const torch::ScalarType dtype = t.scalar_type();
      out.tensors.emplace_back(name,
                               blend(b->second->to(torch::kFloat32), t.to(torch::kFloat32), alpha).to(dtype));
    }
  }
  for (const auto& [name, t] : base_weights)
    if (!seen.count(name))
      bad(fmt::format("weight '{}' of {} is not in {}", name.substr(6), base_file.string(),
                      tuned_file.string()));
  if (problems.size() > 8) problems.resize(8);  // the first few say it: not the same model
  if (!problems.empty()) throw BadInput(std::move(problems));
  return out;
}

namespace {

void check_same_shape(const LlamaImpl& a, const LlamaImpl& b, const char* what) {
  if (model_config_json(a.config()) != model_config_json(b.config()))
    throw Failure(fmt::format("{}: the models have different shapes", what));
}

}  // namespace

void blend_weights(LlamaImpl& out, const LlamaImpl& base, const LlamaImpl& tuned, double alpha) {
  check_same_shape(out, base, "blend_weights");
  check_same_shape(out, tuned, "blend_weights");
  torch::NoGradGuard no_grad;
  const auto b = base.named_parameters(), t = tuned.named_parameters();
  for (auto& p : out.named_parameters()) {
    const torch::Tensor& bw = b[p.key()];
    const torch::Tensor& tw = t[p.key()];
    // In fp32 whatever the models' precision: bf16 products would round each term.
    p.value().copy_(blend(bw.to(torch::kFloat32), tw.to(torch::kFloat32), alpha));
  }
}

std::vector<WeightPart> weight_parts(const LlamaImpl& base, const LlamaImpl& tuned, bool module_groups) {
  check_same_shape(base, tuned, "weight_parts");
  const ModelConfig& c = base.config();
  std::vector<WeightPart> parts;
  parts.push_back({c.tie_embeddings ? "embeddings (and the tied output head)" : "embeddings",
                   {"model.embed_tokens.weight"},
                   false});
  for (int i = 0; i < c.layers; ++i) parts.push_back({fmt::format("block {}", i), {}, false});
  parts.push_back({"final norm", {"model.norm.weight"}, false});
  if (!c.tie_embeddings) parts.push_back({"output head", {"lm_head.weight"}, false});
  const std::vector<std::string> kinds = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                          "gate_proj", "up_proj", "down_proj"};
  const size_t first_group = parts.size();
  if (module_groups)
    for (const auto& k : kinds) parts.push_back({k + " (all blocks)", {}, false});

  const auto b = base.named_parameters(), t = tuned.named_parameters();
  for (const auto& p : t) {
    const std::string& name = p.key();
    if (starts_with(name, "model.layers.")) {
      const size_t dot = name.find('.', 13);
      const int layer = std::stoi(name.substr(13, dot - 13));
      parts[1 + static_cast<size_t>(layer)].parameters.push_back(name);
      if (module_groups)
        for (size_t k = 0; k < kinds.size(); ++k)
          if (name.find("." + kinds[k] + ".") != std::string::npos)
            parts[first_group + k].parameters.push_back(name);
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& part : parts)
    for (const auto& name : part.parameters) part.changed = part.changed || !torch::equal(b[name], t[name]);
  return parts;
}

void restore_parts(LlamaImpl& out, const LlamaImpl& base, const LlamaImpl& tuned,
                   const std::vector<const WeightPart*>& parts) {
  check_same_shape(out, base, "restore_parts");
  check_same_shape(out, tuned, "restore_parts");
  std::set<std::string> restored;
  for (const WeightPart* part : parts) restored.insert(part->parameters.begin(), part->parameters.end());
  torch::NoGradGuard no_grad;
  const auto b = base.named_parameters(), t = tuned.named_parameters();
  for (auto& p : out.named_parameters()) p.value().copy_(restored.count(p.key()) ? b[p.key()] : t[p.key()]);
}

Llama model_like(const LlamaImpl& like) {
  Llama net(like.config());
  const torch::Tensor first = like.parameters().front();
  net->to(first.device(), first.scalar_type());
  net->eval();
  torch::NoGradGuard no_grad;
  const auto src = like.named_parameters();
  for (auto& p : net->named_parameters()) p.value().copy_(src[p.key()]);
  return net;
}

}  // namespace plinth::model
