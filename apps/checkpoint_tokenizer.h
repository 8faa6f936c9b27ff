// The tokenizer of a checkpoint a command was given (generate, score, export): --tokenizer, else
// the one the checkpoint names (a Hugging Face folder's tokenizer.model, or the recipe it
// stores); its hash must match the checkpoint's. Includes torch (through checkpoint_file.h).
#pragma once

#include <filesystem>
#include <string>

#include "model/checkpoint_file.h"
#include "tokenizer/tokenizer.h"

namespace plinth {

tokenizer::Tokenizer checkpoint_tokenizer(const model::CheckpointContents& ckpt,
                                          const std::filesystem::path& checkpoint,
                                          const std::string& tokenizer_arg);

}  // namespace plinth
