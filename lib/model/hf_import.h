// A Hugging Face model folder as a plinth model: config.json (hf_config.h) and the weights, in
// one model.safetensors or in the shards model.safetensors.index.json names
// ("model-00001-of-00002.safetensors", ...), in float32, bfloat16 or float16. Files are mapped,
// not read (safetensors.h), so a load holds the model once, in float32, plus the page cache.
// Includes torch (through llama.h): include it only from torch-heavy files.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "model/checkpoint_file.h"
#include "model/hf_config.h"
#include "model/llama.h"

namespace plinth::model {

// Where a folder's weights are: its model.safetensors, or every shard its index names. BadInput
// naming the index for one that is not JSON, names a shard that does not exist, or is absent
// with no model.safetensors beside it.
struct HfWeightFiles {
  std::vector<std::filesystem::path> files;                 // in the index's order of first mention
  std::map<std::string, std::filesystem::path> weight_map;  // tensor -> file; empty: one file
};
HfWeightFiles hf_weight_files(const std::filesystem::path& dir);

// Copies the weights of `path` (a model folder, or one .safetensors file) into the model's
// parameters by HF name, converting the dtype. BadInput listing every problem: a parameter with
// no tensor, a tensor of another shape or an integer dtype, a tensor that is no parameter (a
// tied model's lm_head.weight and the rotary inv_freq buffers older transformers saved are
// skipped), a tensor the index places in another shard than the one holding it.
void load_hf_weights(Llama& model, const std::filesystem::path& path);

// config.json + weights: the model in float32 on the CPU, in eval mode, and the token ids.
struct HfModel {
  Llama model{nullptr};
  HfConfig config;
};
HfModel load_hf_model(const std::filesystem::path& dir);

// The folder's SentencePiece tokenizer: dir/tokenizer.model. BadInput naming the folder when it
// has none: a folder with only tokenizer.json (a byte-level BPE: Llama 3, GPT-2, Qwen) or no
// tokenizer at all is refused, with what is supported.
std::filesystem::path hf_tokenizer_file(const std::filesystem::path& dir);

// A model folder as the contents of a plinth checkpoint (checkpoint_file.h), so every command
// that takes a model takes folders too (through read_model_checkpoint). Tensors
// "model/<HF name>" in float32 (the model's parameters: held once); meta "kind" = "hf-model",
// "model_config", "tokenizer_hash" and "tokenizer_file" (dir/tokenizer.model, with the folder's
// document convention, tokenizer/document_convention.h), "hf_source", "hf_architecture",
// "hf_dtype". No "step" and no "recipe". BadInput as load_hf_model and hf_tokenizer_file, and
// when the tokenizer has more pieces than the model has embeddings.
CheckpointContents read_hf_checkpoint(const std::filesystem::path& dir);
// The same meta, without reading the weights.
std::map<std::string, std::string> read_hf_checkpoint_meta(const std::filesystem::path& dir);

// What a command that takes a model reads: a model folder (read_hf_checkpoint), else a
// checkpoint file (read_checkpoint, with its errors). The dispatch lives here, not in
// checkpoint_file.cpp, so the checkpoint reader stays free of the model and the tokenizer.
CheckpointContents read_model_checkpoint(const std::filesystem::path& path);

// A fingerprint of what a model is made from: the file's hash for a checkpoint; for a folder,
// of config.json, the weight files and the tokenizer (a fine-tune's provenance, plinth run's
// staleness check).
uint64_t model_source_hash(const std::filesystem::path& path);

}  // namespace plinth::model
