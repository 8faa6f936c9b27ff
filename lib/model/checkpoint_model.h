// A model ready to run from one checkpoint file (checkpoint_file.h conventions): the
// checkpoint's own model_config (it is self-describing) and its "model/<HF name>" weights, and
// the meta every reader checks (step, tokenizer); a resumed run's model check. Shared by eval,
// generate, export, the fine-tune's base and the Trainer. Includes torch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "model/checkpoint_file.h"
#include "model/llama.h"

namespace plinth::model {

// The "tokenizer_hash" meta, "" when the checkpoint has none.
std::string checkpoint_tokenizer_hash(const CheckpointContents& ckpt);

// BadInput (exit 2) naming both hashes when the checkpoint was trained with another tokenizer
// than `tokenizer_hash`; `tokenizer_file` names where the expected one came from.
// A checkpoint without the meta is accepted: nothing to compare against.
void check_tokenizer(const CheckpointContents& ckpt, const std::filesystem::path& checkpoint,
                     uint64_t tokenizer_hash, const std::string& tokenizer_file);

// The checkpoint's "step" meta, -1 when absent or not a number.
int64_t checkpoint_step(const CheckpointContents& ckpt);

// BadInput naming every field that differs when the checkpoint holds another model than `config`,
// or (tokenizer_hash != 0) was made with another tokenizer: what a resumed run checks first.
void check_checkpoint_compatible(const CheckpointContents& ckpt, const std::filesystem::path& file,
                                 const ModelConfig& config, uint64_t tokenizer_hash);

// Copies the checkpoint's "model/<name>" tensors into `model`'s parameters (a resumed run, the
// step a select: panel chose). BadInput naming the file when a parameter's tensor is missing or
// has another shape; tensors the model has no parameter for are model_from_checkpoint's check.
void load_model_weights(LlamaImpl& model, const CheckpointContents& ckpt, const std::filesystem::path& file);

// Builds the model the checkpoint describes and copies its weights in, in fp32 on the CPU,
// in eval mode. BadInput naming the file when the model_config is missing or invalid, a weight
// is missing, has another shape, or a "model/" tensor belongs to no parameter.
Llama model_from_checkpoint(const CheckpointContents& ckpt, const std::filesystem::path& file);

}  // namespace plinth::model
