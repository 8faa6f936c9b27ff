// The recipe's `finetune:` section: which base to start from, what trains (full, LoRA, frozen
// parts) and what keeps the model near its base (replay of pretraining data, EWC, L2-SP).
// No torch here, so recipe binding and --print-config need not include it.
//
//   finetune:
//     base: runs/quickstart        # a run directory (its best.ckpt, else its latest) or a .ckpt
//     method: full                 # full | lora
//     lora: {rank: 8, alpha: 16, dropout: 0, targets: [q_proj, v_proj]}   # method lora only
//     freeze: {embeddings: false, first_layers: 0, patterns: []}           # method full only
//     replay:
//       fraction: 0.25             # share of each batch's scored targets from pretraining data; 0 = off
//       source: data               # data (the pretraining shards) | generated (text the base writes)
//       domains:                   # source data; absent = the pretraining mixture's own weights
//         - {name: literature, weight: 1}
//       documents: 512             # source generated: samples, each at most max_tokens (0 = the
//       max_tokens: 0              # context), at temperature, top_p, from seed
//     ewc: {lambda: 0, fisher_sequences: 128}                              # lambda 0 = off
//     l2sp: {alpha: 0}                                                      # alpha 0 = off
//     distill: {weight: 0, on: task}   # KL to the base on the task's rows (replay's, generated); 0 = off
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "model/finetune_options.h"
#include "util/config_section.h"

namespace plinth::finetune {

struct ReplaySpec {
  // [0, 1): share of each batch's scored targets (of its loss and gradient) that replays
  // pretraining data (train/task_batches.h, ReplayBatches); 0 = off.
  double fraction = 0.0;
  // data: windows of the base's pretraining shards; generated: windows of documents the base
  // samples itself before training (finetune/generated_replay.h), for a base without its data.
  std::string source = "data";
  // source data: domain name -> weight (>= 0, not all 0), in recipe order; empty = the
  // pretraining weights.
  std::vector<std::pair<std::string, double>> domains;
  // source generated: how many documents, each started as the tokenizer starts a document and
  // ended by EOS or after max_tokens (0: the model's context), sampled at temperature with
  // nucleus top_p from seed. Temperature 1 and top_p 1 sample the base's own distribution, so
  // the replayed targets' gradient is, in expectation, that of KL(p_base || p_tuned).
  int64_t documents = 512;
  int64_t max_tokens = 0;
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t seed = 0;

  bool generated() const { return source == "generated"; }
};

struct EwcSpec {
  double lambda = 0.0;  // >= 0; 0 = off
  // Sequences of the base's training shards the Fisher averages (train/fisher.h).
  int64_t fisher_sequences = 128;
};

struct L2spSpec {
  double alpha = 0.0;  // >= 0; 0 = off
};

// Distillation to the base (Learning without Forgetting): weight · KL(p_base ‖ p_tuned) averaged
// over the positions of the chosen rows, added to the loss (train/step_gradients.h DistillTerm).
struct DistillSpec {
  double weight = 0.0;  // >= 0; 0 = off
  // task (the task's rows, prompts included) | replay (the replayed rows, of either source) |
  // generated (the replayed rows, which must come from replay.source: generated)
  std::string on = "task";
};

struct FinetuneSpec {
  std::string base;             // required: a run directory or a checkpoint file
  std::string method = "full";  // full | lora
  model::LoraOptions lora;      // method lora
  model::FreezeOptions freeze;  // method full
  ReplaySpec replay;
  EwcSpec ewc;
  L2spSpec l2sp;
  DistillSpec distill;

  bool lora_on() const { return method == "lora"; }
  bool freeze_on() const { return freeze.embeddings || freeze.first_layers > 0 || !freeze.patterns.empty(); }
  bool replay_on() const { return replay.fraction > 0; }
  bool ewc_on() const { return ewc.lambda > 0; }
  bool l2sp_on() const { return l2sp.alpha > 0; }
  bool distill_on() const { return distill.weight > 0; }
};

// Reads every key (base required), checks ranges, that regexes parse, and the rules across
// fields: a lora section needs method lora, a freeze section method full; EWC and L2-SP need
// method full (the adapters start at zero; these pull full weights toward the base); replay
// domains need a replay fraction and source data, the generation settings source generated
// (documents >= 1, temperature > 0, top_p in (0, 1]), Fisher settings an EWC lambda,
// distill.on: replay a replay fraction, distill.on: generated generated replay. Reports unknown keys.
// Whether base exists is checked when it is used (resolve_base_checkpoint): a pipeline may
// pretrain it first.
void bind(ConfigSection& s, FinetuneSpec& spec);

// "full", "lora", then "+freeze", "+replay" (or "+genreplay" from generated documents), "+ewc",
// "+l2sp", "+distill" for each one on, in that order (e.g. "full+replay+ewc"): the method's
// name in reports.
std::string method_label(const FinetuneSpec& spec);

// The checkpoint `base` names: a .ckpt file as is; a run directory's checkpoints/best.ckpt,
// else its latest step checkpoint. BadInput (key finetune.base) when it is neither.
std::filesystem::path resolve_base_checkpoint(const std::string& base);

}  // namespace plinth::finetune
