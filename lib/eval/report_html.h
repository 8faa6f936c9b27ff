// The reports as web pages: report.html beside a fine-tune's report.md (plinth eval, plinth
// attribute) and comparison.html beside a comparison.md (plinth report, plinth sweep, plinth
// run). Each is one self-contained file (util/html_page.h): the Markdown's tables and intervals,
// the same charts as the .svg files drawn inline, the run's training curves (its loss.svg, losses
// above and forgetting below), and relative links from a comparison to each run's report and
// back. No torch here.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "eval/forgetting_report.h"
#include "eval/run_comparison.h"
#include "eval/sweep_report.h"

namespace plinth::eval {

// report.html of a report whose files are in `run_dir` (read for its loss.svg, for which of
// report.md, report.json and loss.svg to link, and for the comparison pages that list the run).
std::string report_html(const ForgettingReport& report, const std::filesystem::path& run_dir);

// comparison.html to be written into `dir`: links to each run's report.html (report.md when the
// run was evaluated by a plinth without pages) relative to `dir`.
std::string comparison_html(const std::vector<ComparedRun>& runs, const std::filesystem::path& dir);
std::string sweep_html(const SweepComparison& sweep, const std::filesystem::path& dir);

// Links each run's report.html back to the comparison written into `dir`: the directory goes
// into <run_dir>/comparisons.json (relative to the run; pages since deleted are not linked) and
// report.html is written again from the run's report. A run without report.html, or compared
// by a report file not named report.json, is left alone; one whose directory cannot be written
// is warned about, and the comparison stands.
void link_runs_to_comparison(const std::vector<ComparedRun>& runs, const std::filesystem::path& dir);

}  // namespace plinth::eval
