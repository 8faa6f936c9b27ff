// `plinth finetune`: a pretrained base specialised on a task, by full fine-tuning or LoRA,
// optionally with frozen parameters, replay of the pretraining mixture, EWC or L2-SP
// (recipes/finetune/). Writes <train.run_dir>: the trainer's checkpoints, metrics.jsonl and
// loss.svg (task validation loss), then tuned.ckpt (LoRA merged) and, for LoRA, adapter.ckpt.
#pragma once

#include "finetune/finetune_recipe.h"

namespace plinth::finetune {

// Runs the fine-tune (continuing from the newest checkpoint when `resume`). BadInput for a
// missing base, another tokenizer or data: section than the base's, a bad task, --resume with
// nothing to resume; StoppedBySignal after SIGINT / SIGTERM (the checkpoint is written).
void run_finetune(const FinetuneRecipe& f, bool resume);

}  // namespace plinth::finetune
