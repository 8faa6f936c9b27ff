// Hugging Face layout of a plinth model: dir/model.safetensors (float32, HF Llama names) and
// dir/config.json for transformers' LlamaForCausalLM (AutoModelForCausalLM.from_pretrained(dir)).
// Includes torch (through llama.h): include it only from torch-heavy files.
#pragma once

#include <cstdint>
#include <filesystem>

#include "model/hf_config.h"
#include "model/llama.h"

namespace plinth::model {

// Writes both files atomically, creating `dir`. Tied models have no lm_head.weight (HF's
// tie_word_embeddings re-ties it on load).
void export_hf(const Llama& model, const std::filesystem::path& dir, const HfTokenIds& ids = {});
void export_hf(const LlamaImpl& model, const std::filesystem::path& dir, const HfTokenIds& ids = {});

}  // namespace plinth::model
