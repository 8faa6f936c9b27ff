#include "eval/sweep_report.h"

#include <fmt/format.h>

#include <limits>

#include "eval/report_html.h"
#include "util/atomic_file.h"
#include "util/text.h"

namespace plinth::eval {

namespace {

// A screened-out point's figures come from the screen's smaller sample: they are shown, but the
// frontier is drawn among the fully evaluated points only (a non-finite point is not compared).
std::vector<TradeOff> trade_offs(const SweepComparison& sweep) {
  std::vector<TradeOff> points;
  for (size_t i = 0; i < sweep.runs.size(); ++i) {
    points.push_back(trade_off(sweep.runs[i].report));
    if (sweep.is_screened_out(i)) points.back().gain = std::numeric_limits<double>::quiet_NaN();
  }
  return points;
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
  for (const auto& key : sweep.keys) out += " " + markdown_cell(key) + " |", rule += "---:|";
  out += " task gain | mean forgetting | frontier | dominated beyond doubt by |\n";
  rule += "---:|---:|:---:|---|\n";
  out += rule;
  for (size_t i = 0; i < sweep.runs.size(); ++i) {
    out += "| " + markdown_cell(sweep.runs[i].label) + " |";
    for (size_t k = 0; k < sweep.keys.size(); ++k)
      out += " " + markdown_cell(k < sweep.values[i].size() ? sweep.values[i][k] : "") + " |";
    if (sweep.is_screened_out(i)) {
      const TradeOff screen = trade_off(sweep.runs[i].report);
      out += fmt::format(" {} (screen) | {} (screen) |  | {} (screen: no full eval) |\n",
                         pct_with_interval(screen.gain, screen.gain_ci, 1),
                         pct_with_interval(screen.forgetting, screen.forgetting_ci, 1),
                         markdown_cell(sweep.runs[*sweep.screened_out[i]].label));
      continue;
    }
    out += fmt::format(" {} | {} | {} | {} |\n", pct_with_interval(points[i].gain, points[i].gain_ci, 1),
                       pct_with_interval(points[i].forgetting, points[i].forgetting_ci, 1),
                       on[i] ? "**yes**" : "", beaten[i] ? markdown_cell(sweep.runs[*beaten[i]].label) : "");
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
  if (sweep.screen > 0) {
    size_t dropped = 0;
    for (size_t i = 0; i < sweep.runs.size(); ++i) dropped += sweep.is_screened_out(i) ? 1 : 0;
    out.insert(out.find("\n\n## Every figure"),
               fmt::format("\n\nscreen: every point was first evaluated on {:g}% of its eval sample, with "
                           "intervals at {:.2f}% so that all {} of them hold together at the eval's "
                           "confidence; {} of {} points, dominated beyond doubt there, were not evaluated "
                           "in full (their rows and figures are the screen's).",
                           100 * sweep.screen, 100 * sweep.screen_confidence, 2 * sweep.runs.size(), dropped,
                           sweep.runs.size()));
  }
  return out + comparison_markdown(sweep.runs);
}

std::string sweep_svg(const SweepComparison& sweep) {
  const std::vector<TradeOff> points = trade_offs(sweep);
  const std::vector<bool> on = pareto_frontier(points);
  ScatterChart chart = comparison_chart(sweep.runs);
  chart.title = "Sweep: learning vs forgetting (ringed and joined: the frontier; bars: intervals)";
  for (size_t i = 0; i < chart.points.size(); ++i) {
    chart.points[i].label = sweep.runs[i].label + (sweep.is_screened_out(i) ? " (screen)" : "");
    chart.points[i].marked = on[i];
  }
  chart.line = frontier_order(points);
  chart.line_label = "frontier";
  return render_svg(chart);
}

void write_sweep_comparison(const SweepComparison& sweep, const std::filesystem::path& dir) {
  write_file_atomic(dir / "comparison.md", sweep_markdown(sweep));
  write_file_atomic(dir / "comparison.svg", sweep_svg(sweep));
  write_file_atomic(dir / "comparison.html", sweep_html(sweep, dir));
  link_runs_to_comparison(sweep.runs, dir);
}

}  // namespace plinth::eval
