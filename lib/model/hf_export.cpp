#include "model/hf_export.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <set>

#include "model/safetensors.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace plinth::model {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

std::string hf_config_json(const ModelConfig& c, const HfTokenIds& ids) {
  auto token = [](int64_t id) { return id < 0 ? json(nullptr) : json(id); };
  json j = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.dim},
      {"intermediate_size", c.resolved_ffn()},
      {"num_hidden_layers", c.layers},
      {"num_attention_heads", c.heads},
      {"num_key_value_heads", c.resolved_kv_heads()},
      {"head_dim", c.head_dim()},
      {"max_position_embeddings", c.context},
      {"rms_norm_eps", c.norm_eps},
      {"rope_theta", c.rope_theta},
      {"rope_scaling", nullptr},
      {"hidden_act", "silu"},
      {"attention_bias", false},
      {"mlp_bias", false},
      {"attention_dropout", 0.0},
      {"tie_word_embeddings", c.tie_embeddings},
      {"initializer_range", c.init_std},
      {"bos_token_id", token(ids.bos)},
      {"eos_token_id", token(ids.eos)},
      {"torch_dtype", "float32"},
      {"use_cache", true},
  };
  return j.dump(2) + "\n";
}

void export_hf(const Llama& model, const fs::path& dir, const HfTokenIds& ids) {
  NamedTensors tensors;
  for (const auto& item : model->named_parameters())
    tensors.emplace_back(item.key(), item.value().detach().to(torch::kCPU, torch::kFloat32));
  fs::create_directories(dir);
  write_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
  write_file_atomic(dir / "config.json", hf_config_json(model->config(), ids));
}

void load_hf_weights(Llama& model, const fs::path& path) {
  const fs::path file = fs::is_directory(path) ? path / "model.safetensors" : path;
  const std::string where = file.string();
  auto weights = read_safetensors(file);
  auto params = model->named_parameters();

  std::vector<Problem> problems;
  auto bad = [&](std::string message, std::string hint) {
    problems.push_back(Problem{Location{where}, "", std::move(message), std::move(hint)});
  };
  for (const auto& item : params) {
    auto it = weights.find(item.key());
    if (it == weights.end()) {
      bad(fmt::format("tensor '{}' is missing", item.key()),
          item.key() == "lm_head.weight"
              ? "the weights come from a tied model: set model.tie_embeddings: true"
              : "the weights were made for another model shape; check the model section");
    } else if (it->second.sizes() != item.value().sizes()) {
      bad(fmt::format("tensor '{}' has shape [{}], the model expects [{}]", item.key(),
                      fmt::join(it->second.sizes(), ", "), fmt::join(item.value().sizes(), ", ")),
          "the weights were made for another model shape; check vocab_size, dim, heads, kv_heads, ffn");
    } else if (!it->second.is_floating_point()) {
      bad(fmt::format("tensor '{}' holds integers, not weights", item.key()), "");
    }
  }
  for (const auto& [name, t] : weights)
    if (!params.contains(name) && !(name == "lm_head.weight" && model->config().tie_embeddings))
      bad(fmt::format("tensor '{}' is not a parameter of this model", name),
          name == "lm_head.weight"
              ? "the weights come from an untied model: set model.tie_embeddings: false"
              : "the weights were made for another model (more layers?); check the model section");
  if (!problems.empty()) throw BadInput(std::move(problems));

  torch::NoGradGuard no_grad;
  for (auto& item : params) item.value().copy_(weights.at(item.key()));
}

}  // namespace plinth::model
