// A model ready to run from one checkpoint file (checkpoint_file.h conventions): the
// checkpoint's own model_config (it is self-describing), its "model/<HF name>" weights, on a
// device and in a precision. Shared by eval, generate and export. Includes torch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "model/checkpoint_file.h"
#include "model/llama.h"

namespace plinth::eval {

// The "tokenizer_hash" meta, "" when the checkpoint has none.
std::string checkpoint_tokenizer_hash(const model::CheckpointContents& ckpt);

// BadInput (exit 2) naming both hashes when the checkpoint was trained with another tokenizer
// than `tokenizer_hash`; `tokenizer_file` names where the expected one came from.
// A checkpoint without the meta is accepted: nothing to compare against.
void check_tokenizer(const model::CheckpointContents& ckpt, const std::filesystem::path& checkpoint,
                     uint64_t tokenizer_hash, const std::string& tokenizer_file);

// The tokenizer model file a checkpoint goes with: `explicit_file` when not empty, else
// tokenizer.model + ".model" of the recipe stored in its "recipe" meta, default_prefix + ".model"
// when that recipe leaves the key at its default (the caller knows the default: eval does not
// depend on lib/tokenizer). Relative paths are as the recipe wrote them, i.e. from the run's
// working directory. BadInput, with a --tokenizer hint, when the checkpoint stores no recipe or
// the file it names does not exist. The caller still checks the hash (check_tokenizer).
std::filesystem::path checkpoint_tokenizer_file(const model::CheckpointContents& ckpt,
                                                const std::filesystem::path& checkpoint,
                                                const std::string& explicit_file,
                                                const std::string& default_prefix);

// The checkpoint's "step" meta, -1 when absent or not a number.
int64_t checkpoint_step(const model::CheckpointContents& ckpt);

// Builds the model the checkpoint describes and copies its weights in, in fp32 on the CPU,
// in eval mode. BadInput naming the file when the model_config is missing or invalid, a weight
// is missing, has another shape, or a "model/" tensor belongs to no parameter.
model::Llama model_from_checkpoint(const model::CheckpointContents& ckpt, const std::filesystem::path& file);

}  // namespace plinth::eval
