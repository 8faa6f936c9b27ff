#include "model/hf_peft.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/text.h"

namespace plinth::model {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const char* const kPrefix = "base_model.model.";
const char* const kWeights = "adapter_model.safetensors";
const char* const kConfig = "adapter_config.json";

// "model.layers.0.self_attn.q_proj" -> "^model\.layers\.0\.self_attn\.q_proj$"
std::string exact_regex(const std::string& name) {
  std::string out = "^";
  for (char c : name) {
    if (c == '.') out += '\\';
    out += c;
  }
  return out + "$";
}

}  // namespace

std::string peft_tensor_name(const std::string& plinth_name) {
  return kPrefix + plinth_name + ".weight";
}

std::string plinth_lora_name(const std::string& peft_name) {
  if (!starts_with(peft_name, kPrefix) || !ends_with(peft_name, ".weight")) return "";
  std::string name = peft_name.substr(std::string(kPrefix).size());
  name.resize(name.size() - std::string(".weight").size());
  // PEFT may name the adapter: "...q_proj.lora_A.default.weight" in memory; files drop it.
  if (!ends_with(name, ".lora_A") && !ends_with(name, ".lora_B")) return "";
  return name;
}

PeftAdapter peft_adapter(const NamedTensors& lora_tensors, const LoraOptions& options,
                         std::string base_model) {
  PeftAdapter out;
  out.alpha = options.alpha;
  out.dropout = options.dropout;
  out.base_model = std::move(base_model);
  for (const auto& [name, t] : lora_tensors) {
    out.tensors.emplace_back(name, t.detach().to(torch::kCPU, torch::kFloat32).contiguous());
    if (ends_with(name, ".lora_A")) {
      out.modules.push_back(name.substr(0, name.size() - std::string(".lora_A").size()));
      out.rank = static_cast<int>(t.size(0));
    }
  }
  return out;
}

void write_peft_adapter(const PeftAdapter& a, const fs::path& dir) {
  NamedTensors named;
  for (const auto& [name, t] : a.tensors) named.emplace_back(peft_tensor_name(name), t);
  fs::create_directories(dir);
  write_safetensors(dir / kWeights, named, {{"format", "pt"}});
  json j;
  j["peft_type"] = "LORA";
  j["task_type"] = "CAUSAL_LM";
  j["base_model_name_or_path"] = a.base_model;
  j["r"] = a.rank;
  j["lora_alpha"] = a.alpha;
  j["lora_dropout"] = a.dropout;
  j["target_modules"] = a.modules;
  j["bias"] = "none";
  j["fan_in_fan_out"] = false;
  j["use_rslora"] = false;
  j["use_dora"] = false;
  j["inference_mode"] = true;
  j["init_lora_weights"] = true;
  j["modules_to_save"] = nullptr;
  j["layers_to_transform"] = nullptr;
  j["rank_pattern"] = json::object();
  j["alpha_pattern"] = json::object();
  write_file_atomic(dir / kConfig, j.dump(2) + "\n");
}

PeftAdapter read_peft_adapter(const fs::path& dir) {
  const fs::path config = dir / kConfig;
  json j;
  try {
    j = json::parse(read_file(config));
  } catch (const json::exception& e) {
    throw BadInput(fmt::format("not JSON: {}", e.what()), "re-save the adapter", Location{config.string()});
  }
  auto str = [&](const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
  };
  if (str("peft_type") != "LORA")
    throw BadInput(Location{config.string()}, "peft_type",
                   fmt::format("is {}, not \"LORA\"", j.value("peft_type", json()).dump()),
                   "plinth reads LoRA adapters only");
  for (const char* flag : {"use_rslora", "use_dora", "fan_in_fan_out"})
    if (j.contains(flag) && j[flag].is_boolean() && j[flag].get<bool>())
      throw BadInput(Location{config.string()}, flag,
                     "is true; plinth's LoRA is the plain one (alpha / r, no magnitude vector)");
  if (!str("bias").empty() && str("bias") != "none")
    throw BadInput(Location{config.string()}, "bias",
                   fmt::format("is \"{}\"; plinth's adapters train no biases", str("bias")));
  for (const char* pattern : {"rank_pattern", "alpha_pattern"})
    if (j.contains(pattern) && j[pattern].is_object() && !j[pattern].empty())
      throw BadInput(Location{config.string()}, pattern,
                     "sets per-module ranks or alphas; plinth uses one rank and alpha");
  if (!j.contains("r") || !j["r"].is_number_integer() || !j.contains("lora_alpha") ||
      !j["lora_alpha"].is_number())
    throw BadInput(Location{config.string()}, "r", "r and lora_alpha must be numbers");
  PeftAdapter out;
  out.rank = j["r"].get<int>();
  out.alpha = j["lora_alpha"].get<double>();
  out.dropout =
      j.contains("lora_dropout") && j["lora_dropout"].is_number() ? j["lora_dropout"].get<double>() : 0.0;
  out.base_model = str("base_model_name_or_path");
  const fs::path weights = dir / kWeights;
  for (auto& [name, t] : read_safetensors_file(weights).tensors) {
    const std::string ours = plinth_lora_name(name);
    if (ours.empty())
      throw BadInput(fmt::format("tensor '{}' is not a LoRA A or B weight", name),
                     "plinth reads adapters of attention and MLP projections only (no modules_to_save)",
                     Location{weights.string()});
    if (t.dim() != 2 || (ends_with(ours, ".lora_A") ? t.size(0) : t.size(1)) != out.rank)
      throw BadInput(fmt::format("tensor '{}' has not rank {}", name, out.rank), "",
                     Location{weights.string()});
    if (ends_with(ours, ".lora_A")) out.modules.push_back(ours.substr(0, ours.size() - 7));
    out.tensors.emplace_back(ours, t.to(torch::kFloat32));
  }
  return out;
}

LoraOptions peft_lora_options(const PeftAdapter& a) {
  LoraOptions o;
  o.rank = a.rank;
  o.alpha = a.alpha;
  o.dropout = a.dropout;
  o.targets.clear();
  for (const auto& m : a.modules) o.targets.push_back(exact_regex(m));
  return o;
}

}  // namespace plinth::model
