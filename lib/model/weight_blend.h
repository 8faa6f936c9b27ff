// Models between a base and its fine-tune, made from their weights: the interpolation
// θ(α) = (1 − α)·θ_base + α·θ_tuned (WiSE-FT; for a LoRA fine-tune, whose tuned.ckpt holds
// W + s·BA, that is the adapter's update scaled by α), and the tuned model with some of its
// parts put back to the base's weights (which part of the fine-tune carries the forgetting).
// `plinth merge` writes the first as a checkpoint; the forgetting report scores both in memory
// (finetune/variant_eval.h). Includes torch.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "model/checkpoint_file.h"
#include "model/llama.h"

namespace plinth::model {

// (1 − α)·base + α·tuned, elementwise in the tensors' dtype. α = 0 returns base's values and
// α = 1 tuned's, bit for bit (0·x + 1·y = y exactly for finite x; the ends are copied outright).
torch::Tensor blend(const torch::Tensor& base, const torch::Tensor& tuned, double alpha);

// `plinth merge`: every "model/" tensor blended, the tuned checkpoint's meta kept (model_config, recipe,
// tokenizer_hash, step) and the merge recorded ("merge_base", "merge_tuned", "merge_alpha");
// optimizer and generator state are left out (a merged model is not a training state).
// BadInput naming both files when the two are not the same model: another model_config, another
// tokenizer (tokenizer_hash), a weight missing from one or of another shape.
CheckpointContents merge_checkpoints(const CheckpointContents& base, const std::filesystem::path& base_file,
                                     const CheckpointContents& tuned, const std::filesystem::path& tuned_file,
                                     double alpha);

// out's parameters := blend(base, tuned, α), in out's dtype and on its device. The three models
// have the same shape (Failure otherwise: a caller bug).
void blend_weights(LlamaImpl& out, const LlamaImpl& base, const LlamaImpl& tuned, double alpha);

// A part of the model whose weights attribution restores to the base's as one: a block, the
// embeddings, the final norm, the output head, or (for LoRA) one projection kind in every block.
struct WeightPart {
  std::string name;                     // "block 2", "embeddings", "q_proj (all blocks)"
  std::vector<std::string> parameters;  // its parameters' names (named_parameters())
  bool changed = false;                 // some weight differs between base and tuned
};

// The parts of the model, in order: embeddings (the output head too when tied), each block, the
// final norm, the output head (untied), then with `module_groups` each projection kind (q_proj,
// k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj) across the blocks. `changed` compares
// base and tuned bit for bit: a part the fine-tune left alone (frozen, not adapted) needs no
// scoring, restoring it changes nothing.
std::vector<WeightPart> weight_parts(const LlamaImpl& base, const LlamaImpl& tuned, bool module_groups);

// out := tuned with the parameters of `parts` taken from base.
void restore_parts(LlamaImpl& out, const LlamaImpl& base, const LlamaImpl& tuned,
                   const std::vector<const WeightPart*>& parts);

// A model of `like`'s shape, on its device and in its dtype, in eval mode, its weights tuned's.
Llama model_like(const LlamaImpl& like);

}  // namespace plinth::model
