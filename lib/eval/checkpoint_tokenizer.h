// Which tokenizer a checkpoint goes with, from the recipe it stores (generate and export, which
// take a checkpoint without a recipe). The model itself: model/checkpoint_model.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "model/checkpoint_file.h"

namespace plinth::eval {

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

}  // namespace plinth::eval
