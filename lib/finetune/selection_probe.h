// The fine-tune's checkpoint selection while it trains (select:, select_spec.h): a panel at
// step 0 and every select.every steps scores a fixed sample of every pretraining domain's
// validation documents (plinth eval's sampling and scoring, eval/domain_scorer.h, with
// select.panel_tokens per domain, in the training's precision: ScoreOptions::bf16) and takes the task
// validation loss the trainer has just computed; selection_rule.h decides which step is kept so far.
//
// Keeping the candidate: when a panel makes its own step the selection, <run_dir>/selected.ckpt
// is written atomically with that step's weights (every parameter, LoRA adapters unmerged), once
// the step checkpoint recording the decision is on disk. The panels travel in every step
// checkpoint's meta ("select_panels"), so a resumed run restores them and decides as an
// uninterrupted one; a resume from the step whose selected.ckpt a crash kept from being written
// writes it from the restored weights. Data-parallel: rank r of W scores the domains d with
// d mod W == r and the per-domain numbers are summed over the ranks (one rank's value plus
// zeros), so every rank decides on the numbers one process computes; rank 0 alone writes.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "eval/domain_scorer.h"
#include "finetune/finetune_recipe.h"
#include "finetune/selection_rule.h"
#include "train/step_probe.h"

namespace plinth::train {
class DataParallel;
}

namespace plinth::finetune {

class SelectionProbe : public train::StepProbe {
 public:
  // `shards`: the val shards of every pretraining domain, in recipe order. `meta`: what
  // selected.ckpt carries besides its own keys (model_config, tokenizer_hash, ...).
  SelectionProbe(SelectSpec spec, std::filesystem::path run_dir, std::shared_ptr<DomainShards> shards,
                 eval::ScoreOptions options, train::DataParallel* dp,
                 std::map<std::string, std::string> meta);

  int64_t every() const override { return spec_.every; }
  void measure(model::Llama& model, int64_t step, const train::DomainLosses& val,
               train::MetricsRecord& record) override;
  void committed(model::Llama& model, int64_t step) override;
  std::map<std::string, std::string> state() const override;
  void restore(const model::CheckpointContents& checkpoint, const std::filesystem::path& file,
               model::Llama& model, int64_t step) override;

  const std::vector<Panel>& panels() const { return panels_; }
  Selection selection() const { return select_step(panels_, spec_); }
  double panel_seconds() const { return panel_seconds_; }  // this process's panels, in seconds

  // Loads selected.ckpt into `model` (after training). Failure when it does not hold the
  // selected step (written by another run, or lost with a damaged newest checkpoint).
  void load_selected(model::LlamaImpl& model) const;

 private:
  std::filesystem::path selected_path() const;
  void write_selected(model::LlamaImpl& model, int64_t step) const;

  SelectSpec spec_;
  std::filesystem::path run_dir_;
  std::shared_ptr<DomainShards> shards_;
  eval::ScoreOptions options_;
  train::DataParallel* dp_;
  std::map<std::string, std::string> meta_;
  std::vector<Panel> panels_;
  int64_t selected_ = 0;        // the step selected so far
  bool write_pending_ = false;  // the last panel selected its own step: write it once committed
  double panel_seconds_ = 0;
};

// <run_dir>/selected.ckpt and <run_dir>/selection.json.
std::filesystem::path selected_checkpoint_path(const std::filesystem::path& run_dir);
std::filesystem::path selection_report_path(const std::filesystem::path& run_dir);

// selection.json: the rule (with `precision`, the panels' and the training's: fp32 | bf16), the
// chosen step and why, the last step for comparison, every panel with its forgetting, and what
// the panels cost against the training steps.
std::string selection_report(const SelectSpec& spec, const std::string& precision,
                             const std::vector<Panel>& panels, const Selection& chosen, double panel_seconds,
                             double step_seconds);

}  // namespace plinth::finetune
