// Hugging Face layout of a plinth model: dir/model.safetensors (float32, HF Llama names) and
// dir/config.json for transformers' LlamaForCausalLM (AutoModelForCausalLM.from_pretrained(dir)).
// Includes torch (through llama.h): include it only from torch-heavy files.
#pragma once

#include <cstdint>
#include <filesystem>

#include "model/llama.h"

namespace plinth::model {

// Token ids written to config.json; a negative id is written as null.
struct HfTokenIds {
  int64_t bos = 1;
  int64_t eos = 2;
};

// Writes both files atomically, creating `dir`. Tied models have no lm_head.weight (HF's
// tie_word_embeddings re-ties it on load).
void export_hf(const Llama& model, const std::filesystem::path& dir, const HfTokenIds& ids = {});

// config.json's text for `config`.
std::string hf_config_json(const ModelConfig& config, const HfTokenIds& ids = {});

// Loads weights by HF name from a model.safetensors file, or from a directory holding one.
// Every parameter must be present with its shape (BadInput naming the tensor otherwise);
// unknown tensors are BadInput too, except lm_head.weight for a tied model (HF may write it).
// Values are converted to each parameter's dtype and device.
void load_hf_weights(Llama& model, const std::filesystem::path& path);

}  // namespace plinth::model
