// A Hugging Face model folder's config.json, for the Llama family plinth's model covers
// (LlamaForCausalLM, and MistralForCausalLM without a sliding window): read when a fine-tune,
// eval or import starts from such a folder, written by `plinth export`. No torch here.
//
// Mapping (HF key -> ModelConfig): vocab_size, hidden_size -> dim, num_hidden_layers ->
// layers, num_attention_heads -> heads, num_key_value_heads -> kv_heads (absent: = heads),
// intermediate_size -> ffn, max_position_embeddings -> context, tie_word_embeddings (absent:
// false, transformers' default), rope_theta (absent: 10000), rms_norm_eps (absent: 1e-6).
// What plinth's model does not compute is refused by name, never ignored: rope_scaling of any
// type, attention or MLP biases, an activation other than silu, a head_dim other than
// hidden_size / num_attention_heads, a sliding window shorter than the context.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "model/model_config.h"

namespace plinth::model {

// Token ids of config.json; -1 where it has none (null or absent).
struct HfTokenIds {
  int64_t bos = 1;
  int64_t eos = 2;
};

struct HfConfig {
  ModelConfig model;
  HfTokenIds ids;
  std::string architecture;  // "LlamaForCausalLM", ...
  std::string dtype;         // torch_dtype / dtype as stored ("bfloat16", ...), "" when absent
};

// Whether `path` is a directory holding config.json (a Hugging Face model folder).
bool is_hf_model_dir(const std::filesystem::path& path);

// config.json's text for `config` (what `plinth export` writes).
std::string hf_config_json(const ModelConfig& config, const HfTokenIds& ids = {});

// Parses config.json's text; BadInput listing every problem, each naming `file` and the key.
HfConfig hf_config_from_json(const std::string& text, const std::filesystem::path& file);
// Reads dir/config.json (or the file itself when `path` is not a directory).
HfConfig read_hf_config(const std::filesystem::path& path);

}  // namespace plinth::model
