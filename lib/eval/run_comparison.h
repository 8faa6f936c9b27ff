// `plinth report RUN_DIR...`: the forgetting reports of several runs side by side, to choose a
// method by its learning/forgetting trade-off: one Markdown table (task gain, exact match, mean
// and worst forgetting, every domain's forgetting) and one scatter plot of task gain against mean
// forgetting, a labelled point per run (up and to the left is better). No torch here.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "eval/forgetting_report.h"
#include "util/svg_charts.h"

namespace plinth::eval {

struct ComparedRun {
  std::string label;  // the report's run name, made unique among the runs compared
  std::filesystem::path report_file;
  ForgettingReport report;
};

// Each path: a run directory holding report.json, or a report file. BadInput for a directory
// without report.json (hint: run plinth eval on it) and for a malformed or other-schema report.
std::vector<ComparedRun> load_runs(const std::vector<std::filesystem::path>& paths);

// Columns: run, method, task gain %, exact match base -> tuned, mean forgetting %, worst domain %,
// then one forgetting % column per domain (the union of every run's domains, first seen first),
// each with its interval; then, for a pipeline's seeds' runs of one recipe and method
// (<dir>-seed<N>), their mean +- standard deviation.
std::string comparison_markdown(const std::vector<ComparedRun>& runs);
// x = mean forgetting %, y = task gain %; a run without task results is left out of the plot.
std::string comparison_svg(const std::vector<ComparedRun>& runs);
// That plot before rendering: one point per run, in order, with both intervals (a sweep adds
// its frontier to it).
ScatterChart comparison_chart(const std::vector<ComparedRun>& runs);

// Where `plinth report` writes by default: the deepest directory that holds every run directory
// (runs/a and runs/b -> runs; a single run's parent).
std::filesystem::path common_parent(const std::vector<ComparedRun>& runs);

// <dir>/comparison.md, comparison.svg and comparison.html (report_html.h), atomically;
// interpolation.svg (every run's interpolation curve on one chart) when some run's report has one.
void write_comparison(const std::vector<ComparedRun>& runs, const std::filesystem::path& dir);

}  // namespace plinth::eval
