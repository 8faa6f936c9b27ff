// `plinth finetune`: a pretrained base specialised on a task, by full fine-tuning or LoRA,
// optionally with frozen parameters, replay of the pretraining mixture, EWC or L2-SP
// (recipes/finetune/). Writes <train.run_dir>: the trainer's checkpoints, metrics.jsonl and
// loss.svg (task validation loss), then tuned.ckpt (LoRA merged) and, for LoRA, adapter.ckpt.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "finetune/finetune_recipe.h"

namespace plinth::finetune {

// What a fine-tune is made from, as checkpoint meta: base_checkpoint, base_hash (its file's
// hash), method, task_hash (the task file's), shards_hash (data::shards_fingerprint), and where
// its recipe came from (recipe_file, recipe_overrides: run_state.h recipe_source). Every step
// checkpoint and tuned.ckpt carry it; `plinth run` redoes a run whose record differs from now,
// and `plinth runs` shows it as stale.
std::map<std::string, std::string> finetune_provenance(const FinetuneRecipe& f,
                                                       const std::filesystem::path& base_ckpt);

// Runs the fine-tune (continuing from the newest checkpoint when `resume`). BadInput for a
// missing base, another tokenizer or data: section than the base's, a bad task, --resume with
// nothing to resume; StoppedBySignal after SIGINT / SIGTERM (the checkpoint is written).
// Launched data-parallel (torchrun, plinth launch), every rank trains and rank 0 writes; returns
// whether this process is the one that wrote (always, for one process).
bool run_finetune(const FinetuneRecipe& f, bool resume);

}  // namespace plinth::finetune
