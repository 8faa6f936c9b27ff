// plinth report RUN_DIR... [--out DIR]: the forgetting reports of several fine-tuned runs side
// by side: a Markdown table on stdout and in comparison.md, comparison.html (the same as a web page
// with every run's curves and a link to its report), and comparison.svg, task gain against
// mean forgetting with one point per run: the trade-off to choose a method by.
#include <fmt/format.h>

#include <filesystem>

#include "command.h"
#include "eval/run_comparison.h"
#include "util/error.h"
#include "util/log.h"

namespace plinth {

namespace {

struct ReportArgs {
  std::vector<std::string> runs;
  std::string out;
};

void run_report(const ReportArgs& a) {
  std::vector<std::filesystem::path> paths(a.runs.begin(), a.runs.end());
  std::vector<eval::ComparedRun> runs = eval::load_runs(paths);
  const std::filesystem::path out = a.out.empty() ? eval::common_parent(runs) : std::filesystem::path(a.out);
  std::error_code ec;
  if (std::filesystem::exists(out, ec) && !std::filesystem::is_directory(out, ec))
    throw BadInput(
        fmt::format("--out {} is a file, but a directory is expected (comparison.md, .svg and .html go "
                    "into it)",
                    out.string()),
        "name a directory, new or existing");
  eval::write_comparison(runs, out);
  fmt::print("{}", eval::comparison_markdown(runs));
  log::info("wrote {}, comparison.svg and comparison.html", (out / "comparison.md").string());
}

}  // namespace

void add_report_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "report", "Compare fine-tuned runs: task gain against forgetting, per domain (table + SVG plot)");
  static ReportArgs a;
  cmd->add_option("runs", a.runs, "Run directories holding report.json (or report.json files)")->required();
  cmd->add_option("--out", a.out,
                  "Directory for comparison.md, .svg and .html (default: the deepest directory holding "
                  "every run, e.g. runs/ for runs/a runs/b)");
  cmd->footer(
      "Example:\n"
      "  plinth report runs/ft-full runs/ft-lora runs/ft-replay\n"
      "Each run's report.json is written by plinth eval on its fine-tuning recipe. The plot puts mean\n"
      "forgetting (% bits per byte) on x and task gain (% task-loss reduction) on y: up and to the\n"
      "left is better.");
  cmd->callback([] { run_report(a); });
}

}  // namespace plinth
