// One Trainer for pretraining and fine-tuning: AdamW with decay / no-decay groups,
// warmup + schedule, gradient accumulation, global-norm clipping, bf16 autocast with fp32
// master weights, periodic validation, checkpoints that resume bit-exactly on the CPU,
// metrics.jsonl + loss.svg, and a clean stop on SIGINT / SIGTERM.
//
// Fine-tuning: only parameters with requires_grad() are optimized, clipped and counted in the
// gradient norm (freezing and LoRA set it before the Trainer is made); checkpoints still hold
// every parameter, so a resumed fine-tune restores them all. Regularizers (regularizers.h) add
// their penalty to the loss once per optimizer step.
//
// Run directory (written by rank 0 alone in a data-parallel run):
//   recipe.yaml        the merged recipe this run was started (or last resumed) with
//   metrics.jsonl      see metrics_log.h
//   loss.svg           training and per-domain validation loss against step
//   checkpoints/       see checkpoint_files.h
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/checkpoint_file.h"
#include "model/llama.h"
#include "train/batch_source.h"
#include "train/regularizers.h"
#include "train/step_gradients.h"
#include "train/step_probe.h"
#include "train/train_spec.h"
#include "train/val_loss.h"

namespace plinth::train {

class DataParallel;

struct TrainerOptions {
  TrainSpec spec;                  // spec.run_dir must be set (the command resolves the default)
  uint64_t tokenizer_hash = 0;     // recorded in checkpoints; resume refuses another tokenizer
  std::string recipe_yaml;         // merged recipe: run_dir/recipe.yaml and every checkpoint
  EvalFn evaluate;                 // per-domain validation loss; null = no validation
  double peak_flops = 0;           // device peak FLOP/s at this precision; 0 = unknown (no MFU shown)
  std::string label = "pretrain";  // progress line and plot title
  int64_t row_tokens = 0;          // tokens per batch row (throughput, MFU); 0 = the model's context
  // Called after every optimizer step with the number of steps done and that step's loss
  // (tests use it to raise a signal at a chosen step).
  std::function<void(int64_t step, double loss)> after_step;
  // Penalties added to the loss once per optimizer step (their gradient joins the micro-batches'
  // before clipping); their sum is logged as "penalty". Make them before the Trainer, right after
  // loading the base weights.
  std::vector<std::shared_ptr<Regularizer>> regularizers;
  // Distillation to the base (step_gradients.h): weight 0 = off. distill_reference is the frozen
  // base of a full fine-tune (its `reference`); null with LoRA: the adapters switched off. Its
  // mean KL per distilled position is logged as "distill_kl".
  DistillTerm distill;
  model::Llama distill_reference{nullptr};
  std::string checkpoint_kind = "plinth-train";  // meta "kind"; resume refuses another kind
  // Written into every checkpoint's meta (e.g. the base checkpoint of a fine-tune). Keys the
  // trainer writes itself ("kind", "step", "model_config", ...) are refused (Failure).
  std::map<std::string, std::string> extra_meta;
  // Measured at step 0, every probe->every() steps and the last step, each time with a validation,
  // a metrics line and a checkpoint (step_probe.h); its state is in every checkpoint. Null: none.
  std::shared_ptr<StepProbe> probe;
  // Data-parallel training (data_parallel.h): spec.batch_size is the whole micro-batch of all
  // ranks, each rank computes on its share of the rows and the gradients are summed over the
  // ranks, so the run equals one process's up to float rounding. Every rank trains, validates
  // and stops at the same step (a stop signal on any rank stops all, after the same step);
  // only the lead (rank 0) writes the run directory. Null: one process.
  std::shared_ptr<DataParallel> data_parallel;
};

struct TrainResult {
  int64_t start_step = 0;      // steps already done when run() began (resumed runs)
  int64_t end_step = 0;        // steps done when run() returned
  int signal = 0;              // SIGINT / SIGTERM that stopped the run, else 0
  int64_t skipped_steps = 0;   // diverged steps skipped (train.on_divergence: skip), whole run
  int rollbacks = 0;           // rollbacks this run() (train.on_divergence: rollback)
  double last_loss = 0;        // training loss of the last step (penalties excluded)
  double last_penalty = 0;     // the regularizers' penalty at the last step (0 without any)
  DomainLosses last_val;       // the last validation losses (empty when none ran this run)
  int64_t last_val_step = -1;  // the step they were measured at
  std::filesystem::path last_checkpoint;
  std::filesystem::path best_checkpoint;  // empty unless keep_best and a validation ran
  double seconds = 0;
  double tokens_per_s = 0;  // training throughput, validation and checkpoints excluded
  double step_seconds = 0;  // of `seconds`, those spent in this run()'s training steps
};

class Trainer {
 public:
  // Moves the model to spec.device (BadInput when cuda is asked for and absent) and builds the
  // optimizer over the parameters that require grad (BadInput when none does). The model is
  // shared: the caller may keep its handle and read the weights.
  Trainer(model::Llama model, std::unique_ptr<BatchSource> batches, TrainerOptions options);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Restores weights, optimizer state, step, generator states, the batch cursor and the best
  // validation loss from a checkpoint this trainer's kind wrote. BadInput when the checkpoint
  // is unreadable, of another kind, or made with another tokenizer or model shape (the message
  // names what differs).
  void resume(const std::filesystem::path& checkpoint);
  // Resumes from the newest intact step checkpoint of spec.run_dir. A damaged one (cut short,
  // checksum mismatch: model::DamagedCheckpoint) is renamed to <name>.damaged with a warning and
  // the one before it is tried. Returns the checkpoint resumed; BadInput when none is left.
  std::filesystem::path resume_latest();

  // Trains from the current step to spec.steps, or until SIGINT / SIGTERM (then the step in
  // flight is finished and checkpointed). Throws BadInput on a fresh start in a run directory
  // that already holds checkpoints (resume it, or choose another run_dir).
  TrainResult run();

  // One optimizer step exactly as run() takes it (its micro-batches, the penalties, clipping,
  // the update; a diverged step is not applied), with no validation, checkpoint, metrics or
  // progress line: what plinth bench train times. Returns the step's loss.
  double step_once();

  int64_t step() const;
  model::Llama& model();
  torch::optim::AdamW& optimizer();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plinth::train
