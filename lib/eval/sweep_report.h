// The comparison of a sweep (`plinth sweep`, a pipeline's `sweep:`): the grid points' forgetting
// reports side by side, with the learning/forgetting frontier (pareto.h) marked, so the choice
// is among the frontier's points only. Written to <out>/comparison.md (a table of the grid's
// values, task gain and mean forgetting with intervals, frontier and dominated-beyond-doubt
// columns, then `plinth report`'s full table) and comparison.svg (`plinth report`'s plot, the
// frontier's points ringed and joined by a line, whiskers for both intervals). No torch here.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "eval/pareto.h"
#include "eval/run_comparison.h"

namespace plinth::eval {

struct SweepComparison {
  std::vector<std::string> keys;                 // the grid's keys, in grid order
  std::vector<ComparedRun> runs;                 // one per point; label = the point's label
  std::vector<std::vector<std::string>> values;  // per run, one value per key
  // A screened sweep (plinth sweep --screen): the fraction of the eval sample the screen scored,
  // the confidence of its intervals, and per run the point that dominated it beyond doubt on the
  // screen (its full eval skipped: runs[i] then holds the screen's report). Such a point is
  // shown with the screen's figures and takes no part in the frontier.
  double screen = 0;  // 0: not screened
  double screen_confidence = 0;
  std::vector<std::optional<size_t>> screened_out;  // empty, or one per run

  bool is_screened_out(size_t i) const { return i < screened_out.size() && screened_out[i].has_value(); }
};

// The trade-off a report stands for: task gain and mean forgetting with their intervals.
TradeOff trade_off(const ForgettingReport& report);

std::string sweep_markdown(const SweepComparison& sweep);
std::string sweep_svg(const SweepComparison& sweep);
// <dir>/comparison.md, comparison.svg and comparison.html (report_html.h), atomically.
void write_sweep_comparison(const SweepComparison& sweep, const std::filesystem::path& dir);

}  // namespace plinth::eval
