#include "eval/run_comparison.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <tuple>

#include "eval/report_html.h"
#include "util/atomic_file.h"
#include "util/svg_charts.h"
#include "util/text.h"

namespace plinth::eval {

namespace {

namespace fs = std::filesystem;

std::string pct(double v, const Interval& ci = {}) {
  return pct_with_interval(v, ci, 1);
}

// The run directory a report file sits in (runs/a/report.json -> runs/a), absolute.
fs::path run_dir_of(const fs::path& report_file) {
  return fs::absolute(report_file).lexically_normal().parent_path();
}

// "+44.5% ± 1.2": the mean of the values and their sample standard deviation.
std::string mean_and_spread(const std::vector<double>& v) {
  double mean = 0;
  for (double x : v) mean += x / double(v.size());
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean) / double(v.size() - 1);
  if (!std::isfinite(mean)) return "n/a";
  return fmt::format("{:+.1f}% ± {:.1f}", mean, std::sqrt(var));
}

// The run directory a pipeline's seed ran from: "<dir>-seed<N>" gives "<dir>"; "" for any other
// run. Runs of one recipe differ in more than their seed when they are a sweep's points
// ("<dir>-rank4-lr1e-3"), so only the seeds' own directories say that a spread is training noise.
std::string seeds_of(const std::string& run) {
  const size_t at = run.rfind("-seed");
  if (at == std::string::npos || at + 5 == run.size()) return "";
  for (size_t i = at + 5; i < run.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(run[i]))) return "";
  return run.substr(0, at);
}

// Runs of the same recipe and method that a pipeline's seeds: made (each seed's run): mean and
// spread of their figures, which says how much of a difference between methods training noise
// alone makes.
std::string seed_spread_markdown(const std::vector<ComparedRun>& runs) {
  using Group = std::tuple<std::string, std::string, std::string>;  // (recipe, method, seeds' dir)
  auto group_of = [](const ComparedRun& r) {
    return Group{r.report.recipe_name, r.report.method, seeds_of(r.report.run)};
  };
  std::vector<Group> groups;  // first seen first
  for (const auto& r : runs)
    if (const Group key = group_of(r);
        !std::get<2>(key).empty() && std::find(groups.begin(), groups.end(), key) == groups.end())
      groups.push_back(key);
  std::string out;
  for (const auto& group : groups) {
    const auto& [recipe, method, dir] = group;
    std::vector<double> gain, mean, worst;
    for (const auto& r : runs)
      if (group_of(r) == group) {
        gain.push_back(r.report.task_gain_pct());
        mean.push_back(r.report.mean_forgetting_pct);
        worst.push_back(r.report.worst_forgetting_pct);
      }
    if (gain.size() < 2) continue;
    out += fmt::format("| {} | {} | {} | {} | {} | {} |\n", markdown_cell(recipe),
                       markdown_cell(method.empty() ? "n/a" : method), gain.size(), mean_and_spread(gain),
                       mean_and_spread(mean), mean_and_spread(worst));
  }
  if (out.empty()) return out;
  return "\n## Over training seeds\n\nRuns of the same recipe and method (one per seed): mean ± standard "
         "deviation "
         "over the runs. This spread is training noise, which the intervals above (over documents) do not "
         "include.\n\n| recipe | method | runs | task gain | mean forgetting | worst domain's forgetting |\n"
         "|---|---|---:|---:|---:|---:|\n" +
         out;
}

}  // namespace

std::vector<ComparedRun> load_runs(const std::vector<fs::path>& paths) {
  if (paths.empty())
    throw BadInput("no runs to compare", "name run directories: plinth report runs/a runs/b");
  std::vector<ComparedRun> runs;
  for (const auto& p : paths) {
    ComparedRun run;
    run.report_file = report_path(p);
    run.report = load_report(p);
    run.label = run.report.run.empty() ? run_dir_of(run.report_file).filename().string() : run.report.run;
    runs.push_back(std::move(run));
  }
  // Two runs of the same name (the same recipe run twice into different directories): the
  // directory tells them apart.
  for (size_t i = 0; i < runs.size(); ++i) {
    bool clash = false;
    for (size_t j = 0; j < runs.size(); ++j) clash = clash || (i != j && runs[i].label == runs[j].label);
    if (clash)
      runs[i].label = fmt::format("{} ({})", runs[i].label, run_dir_of(runs[i].report_file).string());
  }
  return runs;
}

namespace {

// The runs' capability suites side by side: a row per suite (there may be one per domain and
// kind), a column per run, each cell acc base -> tuned and the change in points with its
// interval. "" when no run has a suite.
std::string suites_comparison_markdown(const std::vector<ComparedRun>& runs) {
  std::vector<std::string> suites;
  for (const auto& r : runs)
    for (const auto& s : r.report.suites)
      if (std::find(suites.begin(), suites.end(), s.name) == suites.end()) suites.push_back(s.name);
  if (suites.empty()) return "";
  std::string out = "\n| suite |", rule = "|---|";
  for (const auto& run : runs) out += " " + markdown_cell(run.label) + " |", rule += "---:|";
  out += "\n" + rule + "\n";
  for (const auto& name : suites) {
    out += "| " + markdown_cell(name) + " |";
    for (const auto& run : runs) {
      const SuiteResult* suite = run.report.find_suite(name);
      const SuiteAccuracy s = suite ? headline(*suite) : SuiteAccuracy{};
      if (!suite || !std::isfinite(s.base)) {
        out += " – |";
        continue;
      }
      const std::string metric = s.metric == "acc" ? "" : s.metric + " ";
      out += fmt::format(" {}{:.1f}% → {:.1f}% ({}) |", metric, 100 * s.base, 100 * s.tuned,
                         num_with_interval(s.change_points(), s.change_ci, 1, true));
    }
    out += "\n";
  }
  out +=
      "\nEach suite's headline accuracy (lm-evaluation-harness's acc unless named: acc_norm, "
      "acc_mutual_info), base → tuned; (change in points, "
      "[paired bootstrap interval over questions]); – : the run has no such suite.\n";
  return out;
}

}  // namespace

std::string comparison_markdown(const std::vector<ComparedRun>& runs) {
  std::vector<std::string> domains;
  for (const auto& r : runs)
    for (const auto& d : r.report.domains)
      if (std::find(domains.begin(), domains.end(), d.name) == domains.end()) domains.push_back(d.name);

  std::string out =
      "| run | method | task gain | exact match base → tuned | mean forgetting | worst domain | mean KL | "
      "top-1 agreement | task KL |";
  std::string rule = "|---|---|---:|---:|---:|---|---:|---:|---:|";
  for (const auto& d : domains) out += " " + markdown_cell(d) + " |", rule += "---:|";
  out += "\n" + rule + "\n";
  for (const auto& run : runs) {
    const ForgettingReport& r = run.report;
    std::string em = "n/a";
    if (r.task && std::isfinite(r.task->base_exact_match) && std::isfinite(r.task->tuned_exact_match))
      em = fmt::format("{:.1f}% → {:.1f}%", 100 * r.task->base_exact_match, 100 * r.task->tuned_exact_match);
    std::string task_kl = "n/a";
    if (r.task && r.task->has_divergence())
      task_kl = num_with_interval(r.task->kl_per_token, r.task->kl_ci, 4);
    out += fmt::format(
        "| {} | {} | {} | {} | {} | {} {} | {} | {} | {} |", markdown_cell(run.label),
        markdown_cell(r.method.empty() ? "n/a" : r.method),
        pct(r.task_gain_pct(), r.task ? r.task->gain_ci : Interval{}), em,
        pct(r.mean_forgetting_pct, r.mean_forgetting_ci), markdown_cell(r.worst_domain),
        pct(r.worst_forgetting_pct, r.worst_forgetting_ci),
        std::isfinite(r.mean_kl) ? fmt::format("{:.4f}", r.mean_kl) : "n/a",
        std::isfinite(r.mean_top1_agreement) ? fmt::format("{:.1f}%", 100 * r.mean_top1_agreement) : "n/a",
        task_kl);
    for (const auto& name : domains) {
      const DomainForgetting* d = r.find_domain(name);
      out += " " + (d ? pct(d->forgetting_pct, d->forgetting_ci) : std::string("–")) + " |";
    }
    out += "\n";
  }
  out +=
      "\ntask gain: 100 × (base − tuned) / base task loss, higher = learned more. forgetting: 100 × (tuned − "
      "base) / "
      "base bits per byte, lower = forgot less; mean: domains weighted equally. – : the run has no such "
      "domain. [brackets]: paired bootstrap intervals (each report's confidence); a run without them has a "
      "schema-1 report. mean KL: KL(base ‖ tuned) per token, nats, averaged over domains. task KL: the same "
      "on the completion tokens of the task's test examples (how far the fine-tune moved on its own task).\n";
  out += suites_comparison_markdown(runs);
  out += seed_spread_markdown(runs);
  for (const auto& run : runs)
    for (const auto& f : run.report.flags)
      out += fmt::format("\n**Warning ({}):** {}.\n", markdown_cell(run.label), f);
  return out;
}

ScatterChart comparison_chart(const std::vector<ComparedRun>& runs) {
  ScatterChart chart;
  chart.title = "Learning vs forgetting (up and to the left is better; bars: intervals)";
  chart.x_label = "mean forgetting, % bits per byte (lower is better)";
  chart.y_label = "task gain, % loss reduction (higher is better)";
  for (const auto& run : runs) {
    const std::string& method = run.report.method;
    std::string label =
        method.empty() || run.label == method ? run.label : fmt::format("{} ({})", run.label, method);
    chart.points.push_back(tuned_point(run.report, std::move(label)));
  }
  return chart;
}

std::string comparison_svg(const std::vector<ComparedRun>& runs) {
  return render_svg(comparison_chart(runs));
}

fs::path common_parent(const std::vector<ComparedRun>& runs) {
  fs::path common;
  for (size_t i = 0; i < runs.size(); ++i) {
    fs::path parent = run_dir_of(runs[i].report_file).parent_path();
    if (i == 0) {
      common = parent;
      continue;
    }
    fs::path shared;
    auto a = common.begin(), b = parent.begin();
    for (; a != common.end() && b != parent.end() && *a == *b; ++a, ++b) shared /= *a;
    common = shared;
  }
  return common.empty() ? fs::path("/") : common;
}

void write_comparison(const std::vector<ComparedRun>& runs, const fs::path& dir) {
  write_file_atomic(dir / "comparison.md", comparison_markdown(runs));
  write_file_atomic(dir / "comparison.svg", comparison_svg(runs));
  // The runs' interpolation curves on one chart, when any run has one (eval.interpolate).
  std::vector<LabelledReport> labelled;
  for (const auto& run : runs) labelled.push_back({run.label, &run.report});
  std::error_code ec;
  if (const std::string overlay = interpolation_overlay_svg(labelled); !overlay.empty())
    write_file_atomic(dir / "interpolation.svg", overlay);
  else
    fs::remove(dir / "interpolation.svg", ec);  // an earlier comparison's
  write_file_atomic(dir / "comparison.html", comparison_html(runs, dir));  // after the files it links
  link_runs_to_comparison(runs, dir);
}

}  // namespace plinth::eval
