#include "train/metrics_log.h"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_number.h"
#include "util/svg_plot.h"

namespace plinth::train {

namespace fs = std::filesystem;
// Ordered: keys stay in the order written (step first, domains in recipe order).
using json = nlohmann::ordered_json;

namespace {

double number_or_none(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : MetricsRecord::kNone;
}

// j[key] = {domain: value} (null for a non-finite one) and j[key + "_mean"] = the mean of the
// finite ones; nothing when `values` is empty.
void put_domains(json& j, const std::string& key, const std::vector<std::pair<std::string, double>>& values) {
  if (values.empty()) return;
  json v = json::object();
  double sum = 0;
  int n = 0;
  for (const auto& [domain, x] : values) {
    v[domain] = number_or_null<json>(x);
    if (std::isfinite(x)) sum += x, ++n;
  }
  j[key] = v;
  if (n) j[key + "_mean"] = sum / n;
}

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::vector<std::pair<std::string, double>> domains_or_none(const json& j, const char* key) {
  std::vector<std::pair<std::string, double>> out;
  if (auto v = j.find(key); v != j.end() && v->is_object())
    for (const auto& [domain, x] : v->items())
      out.emplace_back(domain, x.is_number() ? x.get<double>() : MetricsRecord::kNone);
  return out;
}

// One line per domain of `values` (a record's val_loss or forgetting) against step.
std::vector<PlotSeries> domain_series(const std::vector<MetricsRecord>& records,
                                      std::vector<std::pair<std::string, double>> MetricsRecord::*values,
                                      const std::string& prefix) {
  std::vector<PlotSeries> out;
  std::map<std::string, size_t> index;
  for (const auto& r : records)
    for (const auto& [domain, y] : r.*values) {
      auto [it, added] = index.emplace(domain, out.size());
      if (added) out.push_back(PlotSeries{prefix + domain, {}, true});
      out[it->second].points.emplace_back(static_cast<double>(r.step), y);
    }
  return out;
}

}  // namespace

std::string MetricsRecord::to_json() const {
  json j = json::object();
  j["step"] = step;
  auto put = [&](const char* key, double v) {
    if (std::isfinite(v)) j[key] = v;
  };
  put("loss", loss);
  put("penalty", penalty);
  put("replay_share", replay_share);
  put("distill_kl", distill_kl);
  put("skipped_steps", skipped_steps);
  put("lr_scale", lr_scale);
  put("lr", lr);
  put("grad_norm", grad_norm);
  put("tokens_per_s", tokens_per_s);
  put("elapsed_s", elapsed_s);
  put_domains(j, "val_loss", val_loss);
  put_domains(j, "forgetting", forgetting);
  put("panel_s", panel_s);
  put("wall_time", wall_time);
  return j.dump();
}

std::vector<MetricsRecord> read_metrics(const fs::path& file) {
  std::vector<MetricsRecord> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer()) continue;
    MetricsRecord r;
    r.step = j["step"].get<int64_t>();
    r.loss = number_or_none(j, "loss");
    r.penalty = number_or_none(j, "penalty");
    r.replay_share = number_or_none(j, "replay_share");
    r.distill_kl = number_or_none(j, "distill_kl");
    r.skipped_steps = number_or_none(j, "skipped_steps");
    r.lr_scale = number_or_none(j, "lr_scale");
    r.lr = number_or_none(j, "lr");
    r.grad_norm = number_or_none(j, "grad_norm");
    r.tokens_per_s = number_or_none(j, "tokens_per_s");
    r.elapsed_s = number_or_none(j, "elapsed_s");
    r.val_loss = domains_or_none(j, "val_loss");
    r.forgetting = domains_or_none(j, "forgetting");
    r.panel_s = number_or_none(j, "panel_s");
    r.wall_time = number_or_none(j, "wall_time");
    out.push_back(std::move(r));
  }
  return out;
}

TensorBoardEvent tensorboard_event(const MetricsRecord& r) {
  TensorBoardEvent e;
  e.wall_time = r.wall_time;
  e.step = r.step;
  auto put = [&](std::string tag, double v) {
    if (std::isfinite(v)) e.scalars.push_back({std::move(tag), static_cast<float>(v)});
  };
  put("train/loss", r.loss);
  put("train/lr", r.lr);
  put("train/grad_norm", r.grad_norm);
  put("train/tokens_per_s", r.tokens_per_s);
  put("train/elapsed_s", r.elapsed_s);
  put("train/penalty", r.penalty);
  put("train/replay_share", r.replay_share);
  put("train/distill_kl", r.distill_kl);
  put("train/skipped_steps", r.skipped_steps);
  put("train/lr_scale", r.lr_scale);
  // Per domain, then the mean of the finite values (metrics.jsonl's <key>_mean).
  auto put_domains = [&](const std::string& group,
                         const std::vector<std::pair<std::string, double>>& values) {
    double sum = 0;
    int n = 0;
    for (const auto& [domain, x] : values) {
      put(group + "/" + domain, x);
      if (std::isfinite(x)) sum += x, ++n;
    }
    if (n) put(group + "/mean", sum / n);
  };
  put_domains("val", r.val_loss);
  put_domains("forgetting", r.forgetting);
  put("forgetting/panel_s", r.panel_s);
  return e;
}

MetricsLog::MetricsLog(fs::path file, int64_t keep_through_step, fs::path tensorboard_dir)
    : file_(std::move(file)), tensorboard_dir_(std::move(tensorboard_dir)) {
  std::error_code ec;
  if (keep_through_step >= 0 && fs::exists(file_, ec))
    for (auto& r : read_metrics(file_))
      if (r.step <= keep_through_step) records_.push_back(std::move(r));
  rewrite();
}

void MetricsLog::rewind(int64_t keep_through_step) {
  while (!records_.empty() && records_.back().step > keep_through_step) records_.pop_back();
  rewrite();
}

void MetricsLog::rewrite() {
  if (out_.is_open()) out_.close();
  std::string kept;
  for (const auto& r : records_) kept += r.to_json() + "\n";
  write_file_atomic(file_, kept);
  out_.open(file_, std::ios::app);
  if (!out_) throw Failure(fmt::format("cannot append to {}: {}", file_.string(), std::strerror(errno)));
  if (tensorboard_dir_.empty()) return;
  tensorboard_.reset();  // its file is closed before the new one replaces it
  std::vector<TensorBoardEvent> events;
  events.reserve(records_.size());
  for (const auto& r : records_) {
    events.push_back(tensorboard_event(r));
    // A line from before metrics.jsonl held wall_time: the time of the resume stands in.
    if (!std::isfinite(events.back().wall_time)) events.back().wall_time = unix_seconds();
  }
  tensorboard_ = std::make_unique<TensorBoardWriter>(tensorboard_dir_, events);
}

void MetricsLog::append(MetricsRecord record) {
  if (!std::isfinite(record.wall_time)) record.wall_time = unix_seconds();
  out_ << record.to_json() << '\n';
  out_.flush();
  if (!out_) throw Failure(fmt::format("cannot append to {}: {}", file_.string(), std::strerror(errno)));
  // metrics.jsonl first: a kill between the two leaves the event file a line behind, never ahead.
  if (tensorboard_) tensorboard_->append(tensorboard_event(record));
  records_.push_back(std::move(record));
}

void MetricsLog::write_plot(const fs::path& svg, const std::string& title) const {
  LineChart chart;
  chart.title = title;
  chart.x_label = "step";
  chart.y_label = "loss (nats per token)";
  PlotSeries train{"train", {}, false};
  for (const auto& r : records_)
    if (std::isfinite(r.loss)) train.points.emplace_back(static_cast<double>(r.step), r.loss);
  chart.series.push_back(std::move(train));
  for (auto& s : domain_series(records_, &MetricsRecord::val_loss, "val "))
    chart.series.push_back(std::move(s));
  std::vector<PlotSeries> forgetting = domain_series(records_, &MetricsRecord::forgetting, "");
  if (forgetting.empty()) return write_svg(svg, chart);
  // The panel's curves on their own axis (percent), below the losses and on the same steps.
  LineChart panel;
  panel.title = "forgetting on the selection panel (vs step 0)";
  panel.x_label = "step";
  panel.y_label = "forgetting (%)";
  PlotSeries mean{"mean", {}, false};
  for (const auto& r : records_)
    if (!r.forgetting.empty()) {
      double sum = 0;
      int n = 0;
      for (const auto& [domain, pct] : r.forgetting)
        if (std::isfinite(pct)) sum += pct, ++n;
      if (n) mean.points.emplace_back(static_cast<double>(r.step), sum / n);
    }
  panel.series.push_back(std::move(mean));
  for (auto& s : forgetting) panel.series.push_back(std::move(s));
  write_svg(svg, std::vector<LineChart>{chart, panel});
}

}  // namespace plinth::train
