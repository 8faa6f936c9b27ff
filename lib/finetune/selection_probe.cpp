#include "finetune/selection_probe.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "model/checkpoint_file.h"
#include "model/checkpoint_model.h"
#include "train/data_parallel.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/json_number.h"
#include "util/log.h"

namespace plinth::finetune {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

constexpr const char* kPanelsKey = "select_panels";
constexpr const char* kSelectedKind = "plinth-selected";

std::string format_forgetting(const std::vector<std::pair<std::string, double>>& f) {
  std::string s;
  for (const auto& [name, pct] : f) s += fmt::format("{}{} {:+.2f}%", s.empty() ? "" : ", ", name, pct);
  return s;
}

// One panel with its forgetting against the step-0 one, for selection.json.
json panel_json(const Panel& p, const Panel& base) {
  const auto f = panel_forgetting(p, base);
  json domains = json::object();
  for (const auto& [name, pct] : f) domains[name] = number_or_null<json>(pct);
  return {{"step", p.step},
          {"task_val_loss", number_or_null<json>(p.task_val_loss)},
          {"forgetting_mean_pct", number_or_null<json>(mean_forgetting(f))},
          {"forgetting_worst_pct", number_or_null<json>(worst_forgetting(f))},
          {"forgetting_pct", domains}};
}

}  // namespace

fs::path selected_checkpoint_path(const fs::path& run_dir) {
  return run_dir / "selected.ckpt";
}

fs::path selection_report_path(const fs::path& run_dir) {
  return run_dir / "selection.json";
}

SelectionProbe::SelectionProbe(SelectSpec spec, fs::path run_dir, std::shared_ptr<DomainShards> shards,
                               eval::ScoreOptions options, train::DataParallel* dp,
                               std::map<std::string, std::string> meta)
    : spec_(spec),
      run_dir_(std::move(run_dir)),
      shards_(std::move(shards)),
      options_(options),
      dp_(dp),
      meta_(std::move(meta)) {}

void SelectionProbe::measure(model::Llama& model, int64_t step, const train::DomainLosses& val,
                             train::MetricsRecord& record) {
  const auto start = std::chrono::steady_clock::now();
  Panel p;
  p.step = step;
  p.task_val_loss = val.empty() ? std::nan("") : val.front().second;
  for (size_t d = 0; d < shards_->domains.size(); ++d) {
    const auto& [name, shard] = shards_->domains[d];
    double nll = 0;  // nats per token; this rank's domains only, the others' come from the sum
    if (train::scores_batch(dp_, static_cast<int64_t>(d)))
      nll = eval::score_domain(model, *shard, name, options_).loss();
    p.nll.emplace_back(name, train::sum_over_ranks(dp_, nll));
  }
  panels_.push_back(p);
  const Selection now = select_step(panels_, spec_);
  write_pending_ = now.step == step && (step == 0 || now.step != selected_);
  selected_ = now.step;
  record.forgetting = panel_forgetting(p, panels_.front());
  record.panel_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  panel_seconds_ += record.panel_s;
  log::info("step {} panel: task val loss {:.4f}, forgetting mean {:+.2f}% ({}){}", step, p.task_val_loss,
            mean_forgetting(record.forgetting), format_forgetting(record.forgetting),
            step > 0 && now.step == step ? " (selected so far)" : "");
}

void SelectionProbe::committed(model::Llama& model, int64_t step) {
  if (!write_pending_) return;
  write_pending_ = false;
  if (!dp_ || dp_->lead()) write_selected(*model, step);
}

std::map<std::string, std::string> SelectionProbe::state() const {
  return {{kPanelsKey, panels_to_json(panels_)}};
}

void SelectionProbe::restore(const model::CheckpointContents& checkpoint, const fs::path& file,
                             model::Llama& model, int64_t step) {
  auto it = checkpoint.meta.find(kPanelsKey);
  if (it == checkpoint.meta.end())
    throw BadInput(fmt::format("checkpoint {} holds no selection panels: the run was started without a "
                               "select: section, so it has no step-0 panel to measure forgetting against",
                               file.string()),
                   "resume it without select:, or start the run again with select: in a new train.run_dir");
  panels_ = panels_from_json(it->second, file.string());
  if (panels_.empty() || panels_.front().step != 0)
    throw BadInput(fmt::format("checkpoint {}: the selection panels do not start at step 0", file.string()),
                   "use another checkpoint, or start the run again in a new train.run_dir");
  selected_ = select_step(panels_, spec_).step;
  write_pending_ = false;
  // Killed between the step checkpoint and selected.ckpt: the restored weights are the selection's.
  const fs::path selected = selected_checkpoint_path(run_dir_);
  std::error_code ec;
  std::string on_disk = "none";
  if (fs::exists(selected, ec)) {
    try {
      on_disk = model::read_checkpoint_meta(selected).at("step");
    } catch (const std::exception&) {
      on_disk = "unreadable";
    }
  }
  if (on_disk == std::to_string(selected_)) return;
  if (selected_ == step) {
    if (!dp_ || dp_->lead()) write_selected(*model, step);
  } else {
    log::warn(
        "{} holds step {}, the panels select step {}: it is written again if a panel selects a step "
        "again, otherwise the run cannot end with the selected weights",
        selected.string(), on_disk, selected_);
  }
}

void SelectionProbe::write_selected(model::LlamaImpl& model, int64_t step) const {
  model::CheckpointContents c;
  c.meta = meta_;
  c.meta["kind"] = kSelectedKind;
  c.meta["step"] = std::to_string(step);
  for (const auto& item : model.named_parameters())
    c.tensors.emplace_back("model/" + item.key(), item.value().detach().to(torch::kCPU).contiguous());
  model::write_checkpoint(selected_checkpoint_path(run_dir_), c);
}

void SelectionProbe::load_selected(model::LlamaImpl& model) const {
  const fs::path file = selected_checkpoint_path(run_dir_);
  const model::CheckpointContents c = model::read_checkpoint(file);
  const auto step = c.meta.find("step");
  if (c.meta.count("kind") == 0 || c.meta.at("kind") != kSelectedKind || step == c.meta.end() ||
      step->second != std::to_string(selected_))
    throw Failure(
        fmt::format("{} does not hold step {}, the step select: chose ({}); fine-tune again in a new "
                    "train.run_dir",
                    file.string(), selected_, step == c.meta.end() ? "no step" : "step " + step->second));
  model::load_model_weights(model, c, file);
}

std::string selection_report(const SelectSpec& spec, const std::string& precision,
                             const std::vector<Panel>& panels, const Selection& chosen, double panel_seconds,
                             double step_seconds) {
  json j = json::object();
  j["selected_step"] = chosen.step;
  j["within_budget"] = chosen.within_budget;
  j["reason"] = chosen.reason;
  j["rule"] = {
      {"every", spec.every},
      {"max_forgetting_pct", spec.max_forgetting > 0 ? json(100 * spec.max_forgetting) : json(nullptr)},
      {"max_worst_forgetting_pct",
       spec.max_worst_forgetting > 0 ? json(100 * spec.max_worst_forgetting) : json(nullptr)},
      {"panel_tokens", spec.panel_tokens},
      {"panel_precision", precision},
      {"budget_on", "the mean of the domains' forgetting (and the worst domain's, when set)"}};
  json all = json::array();
  for (const auto& p : panels) {
    json one = panel_json(p, panels.front());
    if (p.step == chosen.step) j["selected"] = one;
    all.push_back(std::move(one));
  }
  if (!panels.empty()) j["last"] = all.back();
  j["panels"] = all;
  j["cost"] = {
      {"panel_s", panel_seconds},
      {"train_steps_s", step_seconds},
      {"panel_share_of_training", step_seconds > 0 ? json(panel_seconds / step_seconds) : json(nullptr)}};
  return j.dump(2) + "\n";
}

}  // namespace plinth::finetune
