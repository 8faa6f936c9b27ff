// A fine-tuning recipe bound whole, and what `plinth finetune` and `plinth eval` (of a
// fine-tuned run) share: the base checkpoint, the task's examples split and tokenized, and the
// pretraining shards the base was trained on (replay, EWC's Fisher, the forgetting eval).
//
// A fine-tuning recipe includes the data recipe of its base (tokenizer + domains) and adds
//   finetune:  base run / checkpoint and the method (train/finetune_spec.h)
//   task:      the task's file, format, template and split (data/task_spec.h)
//   train:     steps, lr, ... as for pretraining (train/train_spec.h)
//   eval:      how base and tuned are scored (eval/eval_spec.h)
//   gate:      the forgetting budget copied into report.json (eval/gate_spec.h)
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
#include "eval/evaluator.h"
#include "eval/gate_spec.h"
#include "model/checkpoint_file.h"
#include "recipe_binding.h"
#include "tokenizer/tokenizer.h"
#include "train/finetune_spec.h"
#include "train/train_spec.h"

namespace plinth {

struct FinetuneRecipe {
  Recipe recipe;  // tokenizer + data: the base's domains
  train::TrainSpec train;
  train::FinetuneSpec finetune;
  data::TaskSpec task;
  eval::EvalSpec eval;
  std::optional<eval::GateThresholds> gate;
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

// The tokenizer the recipe names, loaded; BadInput with the command to make it when missing.
tokenizer::Tokenizer load_recipe_tokenizer(const Recipe& r);

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

// Opened shards of some of the recipe's domains, checked against the tokenizer; BadInput
// naming the missing ones and `why` (e.g. "replay draws from the pretraining shards").
struct DomainShards {
  std::deque<data::ShardReader> readers;  // stable addresses
  std::vector<std::pair<std::string, const data::ShardReader*>> domains;
};
DomainShards open_domain_shards(const Recipe& r, const std::vector<std::string>& names,
                                const std::string& split, uint64_t tokenizer_hash, const std::string& why);

// What `plinth eval` scores for any checkpoint of this recipe's tokenizer: every domain's val
// shard with the recipe's eval: options (BadInput naming missing shards), words counted in the
// decoded text, a progress line per domain. `checkpoint` is left for the caller.
eval::EvalRequest domain_eval_request(const Recipe& r, const tokenizer::Tokenizer& tok,
                                      const eval::EvalSpec& spec);

// `plinth eval` of a fine-tuned run: base and tuned on every domain and on the task's test
// split -> <run_dir>/report.json, report.md, report.svg (eval/forgetting_report.h).
void run_finetune_eval(const FinetuneRecipe& f, const tokenizer::Tokenizer& tok);

}  // namespace plinth
