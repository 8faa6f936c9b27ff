// One checkpoint = one file: named tensors plus string metadata, so a run can be resumed,
// evaluated or exported from that file alone (Marian and flashlight keep the config inside
// the model; so do we). Layout: magic "PLCKPT01", u32 version, u64 header bytes, a JSON header
// {"meta": {k: v}, "tensors": [{"name", "dtype", "shape", "offset", "bytes"}]}, the raw tensor
// bytes, and an XXH3 checksum of everything before it. Written atomically.
//
// Conventions (train writes, eval/export read):
//   tensors "model/<HF name>"          weights (fp32 master copy)
//   tensors "optim/..."                optimizer state (train only)
//   tensors "rng/..."                  generator states (train only)
//   meta    "model_config"             ModelConfig as JSON (see model_config_json below)
//   meta    "step", "tokenizer_hash" (16 hex digits), "recipe" (merged YAML), "sampler_cursor"
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "model/model_config.h"
#include "util/error.h"

namespace plinth::model {

// The file is not a whole, intact checkpoint (cut short, checksum mismatch, malformed header,
// not a checkpoint at all): resuming can fall back to an older one. A BadInput, so everything
// else reports it as bad input (exit 2).
class DamagedCheckpoint : public BadInput {
 public:
  using BadInput::BadInput;
};

struct CheckpointContents {
  std::map<std::string, std::string> meta;
  std::vector<std::pair<std::string, torch::Tensor>> tensors;  // CPU, contiguous

  const torch::Tensor* find(const std::string& name) const;
  const std::string& meta_or_throw(const std::string& key, const std::filesystem::path& file) const;
  // meta_or_throw(key) read as a number: BadInput naming the file and the key when the text is
  // not all one ("12x" is not).
  int64_t meta_int(const std::string& key, const std::filesystem::path& file) const;
  double meta_double(const std::string& key, const std::filesystem::path& file) const;
};

// A meta value's text as a whole number, nullopt unless all of it is one: the one reading of
// the numbers a checkpoint stores, for callers with their own message.
std::optional<int64_t> parse_meta_int(const std::string& text);

void write_checkpoint(const std::filesystem::path& path, const CheckpointContents& contents);
// Commands that take a model read it with read_model_checkpoint (hf_import.h), which also takes
// a Hugging Face model folder.
// BadInput naming the file: missing, not a checkpoint, truncated, checksum mismatch,
// newer version. Hint: which checkpoint to use instead / how to make one.
CheckpointContents read_checkpoint(const std::filesystem::path& path);
// Only the meta entries, from the header (no tensor is read and the checksum is not verified):
// cheap, for deciding whether a run is stale. The same errors as read_checkpoint for the part read.
std::map<std::string, std::string> read_checkpoint_meta(const std::filesystem::path& path);

std::string model_config_json(const ModelConfig& config);
ModelConfig model_config_from_json(const std::string& json, const std::filesystem::path& file);

}  // namespace plinth::model
