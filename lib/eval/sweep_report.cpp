#include "eval/sweep_report.h"

#include <fmt/format.h>

#include "util/atomic_file.h"

namespace plinth::eval {

namespace {

std::vector<TradeOff> trade_offs(const SweepComparison& sweep) {
  std::vector<TradeOff> points;
  for (const auto& run : sweep.runs) points.push_back(trade_off(run.report));
  return points;
}

std::string cell(std::string s) {
  for (size_t at = s.find('|'); at != std::string::npos; at = s.find('|', at + 2)) s.replace(at, 1, "\\|");
  return s;
}

}  // namespace

TradeOff trade_off(const ForgettingReport& report) {
  TradeOff t;
  t.gain = report.task_gain_pct();
  t.forgetting = report.mean_forgetting_pct;
  if (report.task) t.gain_ci = report.task->gain_ci;
  t.forgetting_ci = report.mean_forgetting_ci;
  return t;
}

std::string sweep_markdown(const SweepComparison& sweep) {
  const std::vector<TradeOff> points = trade_offs(sweep);
  const std::vector<bool> on = pareto_frontier(points);
  const auto beaten = dominated_beyond_doubt(points);

  std::string out = "| point |";
  std::string rule = "|---|";
  for (const auto& key : sweep.keys) out += " " + cell(key) + " |", rule += "---:|";
  out += " task gain | mean forgetting | frontier | dominated beyond doubt by |\n";
  rule += "---:|---:|:---:|---|\n";
  out += rule;
  for (size_t i = 0; i < sweep.runs.size(); ++i) {
    out += "| " + cell(sweep.runs[i].label) + " |";
    for (size_t k = 0; k < sweep.keys.size(); ++k)
      out += " " + cell(k < sweep.values[i].size() ? sweep.values[i][k] : "") + " |";
    out += fmt::format(" {} | {} | {} | {} |\n", pct_with_interval(points[i].gain, points[i].gain_ci, 1),
                       pct_with_interval(points[i].forgetting, points[i].forgetting_ci, 1),
                       on[i] ? "**yes**" : "", beaten[i] ? cell(sweep.runs[*beaten[i]].label) : "");
  }
  std::string path;
  for (size_t i : frontier_order(points)) path += (path.empty() ? "" : " → ") + sweep.runs[i].label;
  out += fmt::format(
      "\nfrontier: no other point has task gain ≥ and mean forgetting ≤ with one of them strictly better; "
      "from least forgetting to most: {}. Choose among these. dominated beyond doubt: another point's "
      "task-gain interval lies wholly above this one's and its mean-forgetting interval wholly below, so "
      "the sampling noise cannot explain the difference. A point without a task gain (n/a) is not "
      "compared.\n\n## Every figure\n\n",
      path.empty() ? "none" : path);
  return out + comparison_markdown(sweep.runs);
}

std::string sweep_svg(const SweepComparison& sweep) {
  const std::vector<TradeOff> points = trade_offs(sweep);
  const std::vector<bool> on = pareto_frontier(points);
  ScatterChart chart = comparison_chart(sweep.runs);
  chart.title = "Sweep: learning vs forgetting (ringed and joined: the frontier; bars: intervals)";
  for (size_t i = 0; i < chart.points.size(); ++i) {
    chart.points[i].label = sweep.runs[i].label;
    chart.points[i].marked = on[i];
  }
  chart.line = frontier_order(points);
  chart.line_label = "frontier";
  return render_svg(chart);
}

void write_sweep_comparison(const SweepComparison& sweep, const std::filesystem::path& dir) {
  write_file_atomic(dir / "comparison.md", sweep_markdown(sweep));
  write_file_atomic(dir / "comparison.svg", sweep_svg(sweep));
}

}  // namespace plinth::eval
