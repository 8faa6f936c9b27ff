// A fine-tuning recipe bound whole, and what `plinth finetune` (finetune_run.h) and `plinth
// eval` of a fine-tuned run (finetune_eval.h) share: the base checkpoint and its data check, the
// task's examples split and tokenized, and the pretraining shards the base was trained on
// (replay, EWC's Fisher, the forgetting eval). lib/finetune sits above lib/train and lib/eval;
// the apps only parse arguments and call it.
//
// A fine-tuning recipe includes the data recipe of its base (tokenizer + domains) and adds
//   finetune:  base run / checkpoint and the method (finetune/finetune_spec.h)
//   task:      the task's file, format, template and split (data/task_spec.h)
//   train:     steps, lr, ... as for pretraining (train/train_spec.h)
//   eval:      how base and tuned are scored (eval/eval_spec.h)
//   gate:      the forgetting budget copied into report.json (eval/gate_spec.h)
//   select:    which step becomes tuned.ckpt, on a forgetting budget (select_spec.h)
// The model's shape comes from the base checkpoint, not from the recipe.
#pragma once

#include <deque>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "data/shard.h"
#include "data/task_data.h"
#include "data/task_spec.h"
#include "eval/eval_spec.h"
#include "eval/gate_spec.h"
#include "finetune/finetune_spec.h"
#include "finetune/select_spec.h"
#include "model/checkpoint_file.h"
#include "recipe/recipe.h"
#include "tokenizer/tokenizer.h"
#include "train/train_spec.h"

namespace plinth::finetune {

struct FinetuneRecipe {
  Recipe recipe;  // tokenizer + data: the base's domains
  train::TrainSpec train;
  finetune::FinetuneSpec finetune;
  data::TaskSpec task;
  eval::EvalSpec eval;
  std::optional<eval::GateThresholds> gate;
  SelectSpec select;              // off without a select: section
  std::filesystem::path run_dir;  // train.run_dir, default runs/<name>
};

// True when the recipe has a `finetune:` section (eval and run dispatch on it).
bool is_finetune_recipe(const Recipe& r);

// Binds train/finetune/task/eval/gate (every problem at once). `threads` > 0 overrides train.threads.
FinetuneRecipe bind_finetune_recipe(Recipe r, int threads);

// <run_dir>/tuned.ckpt: the fine-tuned weights as a plain model (LoRA merged), what eval,
// generate and export read. <run_dir>/adapter.ckpt: the LoRA tensors alone (method lora).
std::filesystem::path tuned_checkpoint_path(const std::filesystem::path& run_dir);
std::filesystem::path adapter_checkpoint_path(const std::filesystem::path& run_dir);

// tuned_checkpoint_path(f.run_dir), or BadInput saying to fine-tune first when it does not exist.
std::filesystem::path existing_tuned_checkpoint(const FinetuneRecipe& f);

// BadInput (naming each difference) when the recipe's data: section is not the one the base
// checkpoint was pretrained on (its stored recipe): another set of domains, a domain with other
// sources or document rules (weights may differ), another val_fraction or split_seed. Otherwise
// the fine-tune's eval could score documents the base trained on as validation. A base that
// stores no recipe is accepted with a warning.
void check_base_data(const Recipe& r, const model::CheckpointContents& base,
                     const std::filesystem::path& base_file);

// The task's examples, split and tokenized with the recipe's tokenizer.
struct TaskSet {
  data::TaskData data;
  std::vector<data::TokenizedExample> train, val, test;
};
TaskSet load_task_set(const data::TaskSpec& spec, const tokenizer::Tokenizer& tok);

// Tokens per task row (T): task.seq_len when set, else wide enough for 99% of the training
// examples (x is one token shorter than an example), rounded up to a multiple of 8, at most
// `context`; longer examples are cut (data::fit_example). BadInput when task.seq_len exceeds
// the base's context.
int64_t task_row_tokens(const data::TaskSpec& spec, const TaskSet& task, int64_t context);

// Opened shards of some of the recipe's domains, checked against the tokenizer; BadInput
// naming the missing ones and `why` (e.g. "replay draws from the pretraining shards").
struct DomainShards {
  std::deque<data::ShardReader> readers;  // stable addresses
  std::vector<std::pair<std::string, const data::ShardReader*>> domains;
};
DomainShards open_domain_shards(const Recipe& r, const std::vector<std::string>& names,
                                const std::string& split, uint64_t tokenizer_hash, const std::string& why);

}  // namespace plinth::finetune
