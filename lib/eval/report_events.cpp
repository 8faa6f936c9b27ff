#include "eval/report_events.h"

#include <chrono>
#include <cmath>
#include <string>

namespace plinth::eval {

TensorBoardEvent report_event(const ForgettingReport& report) {
  TensorBoardEvent e;
  e.wall_time = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  e.step = report.tuned_step >= 0 ? report.tuned_step : 0;
  auto put = [&](const std::string& tag, double value, const Interval& ci) {
    if (std::isfinite(value)) e.scalars.push_back({tag, static_cast<float>(value)});
    if (std::isfinite(ci.lo)) e.scalars.push_back({tag + "/low", static_cast<float>(ci.lo)});
    if (std::isfinite(ci.hi)) e.scalars.push_back({tag + "/high", static_cast<float>(ci.hi)});
  };
  for (const auto& d : report.domains) put("eval/forgetting/" + d.name, d.forgetting_pct, d.forgetting_ci);
  put("eval/forgetting/mean", report.mean_forgetting_pct, report.mean_forgetting_ci);
  if (report.task) put("eval/task_gain", report.task->gain_pct(), report.task->gain_ci);
  return e;
}

void write_report_events(const ForgettingReport& report, const std::filesystem::path& dir) {
  TensorBoardWriter(dir, {report_event(report)});
}

}  // namespace plinth::eval
