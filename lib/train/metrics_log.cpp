#include "train/metrics_log.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "util/atomic_file.h"
#include "util/error.h"
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
  put("skipped_steps", skipped_steps);
  put("lr_scale", lr_scale);
  put("lr", lr);
  put("grad_norm", grad_norm);
  put("tokens_per_s", tokens_per_s);
  put("elapsed_s", elapsed_s);
  if (!val_loss.empty()) {
    json v = json::object();
    double sum = 0;
    int n = 0;
    for (const auto& [domain, loss] : val_loss) {
      v[domain] = std::isfinite(loss) ? json(loss) : json(nullptr);
      if (std::isfinite(loss)) sum += loss, ++n;
    }
    j["val_loss"] = v;
    if (n) j["val_loss_mean"] = sum / n;
  }
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
    r.skipped_steps = number_or_none(j, "skipped_steps");
    r.lr_scale = number_or_none(j, "lr_scale");
    r.lr = number_or_none(j, "lr");
    r.grad_norm = number_or_none(j, "grad_norm");
    r.tokens_per_s = number_or_none(j, "tokens_per_s");
    r.elapsed_s = number_or_none(j, "elapsed_s");
    if (auto v = j.find("val_loss"); v != j.end() && v->is_object())
      for (const auto& [domain, loss] : v->items())
        r.val_loss.emplace_back(domain, loss.is_number() ? loss.get<double>() : MetricsRecord::kNone);
    out.push_back(std::move(r));
  }
  return out;
}

MetricsLog::MetricsLog(fs::path file, int64_t keep_through_step) : file_(std::move(file)) {
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
}

void MetricsLog::append(const MetricsRecord& record) {
  out_ << record.to_json() << '\n';
  out_.flush();
  if (!out_) throw Failure(fmt::format("cannot append to {}: {}", file_.string(), std::strerror(errno)));
  records_.push_back(record);
}

void MetricsLog::write_plot(const fs::path& svg, const std::string& title) const {
  LineChart chart;
  chart.title = title;
  chart.x_label = "step";
  chart.y_label = "loss (nats per token)";
  PlotSeries train{"train", {}, false};
  std::vector<PlotSeries> val;
  std::map<std::string, size_t> val_index;
  for (const auto& r : records_) {
    if (std::isfinite(r.loss)) train.points.emplace_back(static_cast<double>(r.step), r.loss);
    for (const auto& [domain, loss] : r.val_loss) {
      auto [it, added] = val_index.emplace(domain, val.size());
      if (added) val.push_back(PlotSeries{"val " + domain, {}, true});
      val[it->second].points.emplace_back(static_cast<double>(r.step), loss);
    }
  }
  chart.series.push_back(std::move(train));
  for (auto& s : val) chart.series.push_back(std::move(s));
  write_svg(svg, chart);
}

}  // namespace plinth::train
