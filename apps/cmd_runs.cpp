// plinth runs [DIR] [--json]: the runs under a directory (default runs/), one line each: kind,
// method, state, steps, best validation loss, and for an evaluated fine-tune its task gain and
// mean forgetting with their intervals. Reads only what the runs wrote (recipe.yaml,
// metrics.jsonl, the checkpoint file names, tuned.ckpt's presence, report.json): no model is
// loaded, so it is instant on hundreds of runs. A run whose files do not parse is listed as
// damaged, with the reason, and the others still are. No torch here.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "command.h"
#include "finetune/finetune_spec.h"
#include "recipe/recipe_loader.h"
#include "train/checkpoint_files.h"
#include "util/atomic_file.h"
#include "util/config_section.h"
#include "util/error.h"

namespace plinth {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

struct RunRow {
  std::string dir;         // relative to the listed directory
  std::string kind = "?";  // pretrain | fine-tune
  std::string method;      // fine-tunes: full, lora+replay, ...
  std::string state;       // finished | evaluated | interrupted at step N | not started | damaged: why
  int64_t step = -1;       // the newest checkpoint's (-1: none)
  int64_t steps = -1;      // train.steps of its recipe (-1: unknown)
  double best_val = std::numeric_limits<double>::quiet_NaN();  // lowest val_loss_mean in metrics.jsonl
  std::optional<std::array<double, 3>> task_gain;              // value, interval low, high (%)
  std::optional<std::array<double, 3>> forgetting;             // mean forgetting, low, high (%)
};

bool is_run_dir(const fs::path& d) {
  std::error_code ec;
  return fs::is_regular_file(d / "recipe.yaml", ec) || fs::is_regular_file(d / "metrics.jsonl", ec);
}

// Run directories under `root`, depth first in name order, not descending into a run's own folders.
void find_runs(const fs::path& dir, int depth, std::vector<fs::path>& out) {
  if (is_run_dir(dir)) {
    out.push_back(dir);
    return;
  }
  if (depth == 0) return;
  std::vector<fs::path> children;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec))
    if (it->is_directory(ec)) children.push_back(it->path());
  std::sort(children.begin(), children.end());
  for (const fs::path& c : children) find_runs(c, depth - 1, out);
}

// kind, method and train.steps from the recipe the run stored.
void read_recipe(const fs::path& file, RunRow& row) {
  const ConfigNode root = recipe::parse_yaml(read_file(file), file.string());
  if (const ConfigNode* train = root.find("train"))
    if (const ConfigNode* steps = train->find("steps"); steps && steps->is_scalar())
      row.steps = std::stoll(steps->text());
  const ConfigNode* finetune = root.find("finetune");
  row.kind = finetune ? "fine-tune" : "pretrain";
  if (!finetune) return;
  // The method's name as reports give it; a recipe of another plinth version that no longer binds
  // still shows its method key.
  Diagnostics diag;
  ConfigSection section(finetune, "finetune", diag, Location{file.string()});
  finetune::FinetuneSpec spec;
  finetune::bind(section, spec);
  if (diag.empty()) {
    row.method = finetune::method_label(spec);
  } else if (const ConfigNode* m = finetune->find("method"); m && m->is_scalar()) {
    row.method = m->text();
  }
}

// The lowest mean validation loss metrics.jsonl logged.
void read_metrics(const fs::path& file, RunRow& row) {
  std::ifstream in(file);
  int line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (line.empty()) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception&) {
      // A kill can cut the last line short; any other line that does not parse is damage.
      if (in.peek() == EOF) break;
      throw BadInput(fmt::format("{}:{} is not JSON", file.string(), line_number));
    }
    if (j.contains("val_loss_mean") && j["val_loss_mean"].is_number())
      row.best_val = std::isnan(row.best_val) ? j["val_loss_mean"].get<double>()
                                              : std::min(row.best_val, j["val_loss_mean"].get<double>());
  }
}

std::array<double, 3> with_interval(const json& value, const json& ci) {
  return {value.get<double>(), ci.at(0).get<double>(), ci.at(1).get<double>()};
}

// Task gain and mean forgetting of an evaluated fine-tune.
void read_report(const fs::path& file, RunRow& row) {
  try {
    const json r = json::parse(read_file(file));
    if (r.contains("method") && r["method"].is_string()) row.method = r["method"].get<std::string>();
    if (r.contains("task") && r["task"].contains("gain_pct") && r["task"].contains("gain_ci"))
      row.task_gain = with_interval(r["task"]["gain_pct"], r["task"]["gain_ci"]);
    const json& o = r.at("overall");
    row.forgetting = with_interval(o.at("mean_forgetting_pct"), o.at("mean_forgetting_ci"));
  } catch (const json::exception& e) {
    throw BadInput(fmt::format("{}: {}", file.string(), e.what()));
  }
}

RunRow describe(const fs::path& run, const fs::path& root) {
  RunRow row;
  row.dir = run.lexically_relative(root).string();
  if (row.dir.empty() || row.dir == ".") row.dir = run.string();
  try {
    if (fs::exists(run / "recipe.yaml")) read_recipe(run / "recipe.yaml", row);
    const auto checkpoints = train::list_step_checkpoints(run);
    if (!checkpoints.empty()) row.step = checkpoints.back().first;
    if (fs::exists(run / "metrics.jsonl")) read_metrics(run / "metrics.jsonl", row);
    const bool tuned = fs::exists(run / "tuned.ckpt"), report = fs::exists(run / "report.json");
    if (report) read_report(run / "report.json", row);
    if (row.kind == "fine-tune" && tuned)
      row.state = report ? "evaluated" : "finished";
    else if (row.step >= 0 && row.steps >= 0 && row.step >= row.steps)
      row.state = row.kind == "fine-tune" ? "trained, no tuned.ckpt" : "finished";
    else if (row.step >= 0)
      row.state = fmt::format("interrupted at step {}", row.step);
    else
      row.state = "not started";
  } catch (const std::exception& e) {  // BadInput, yaml, json, filesystem: this run only
    row.state = fmt::format("damaged: {}", e.what());
  }
  return row;
}

std::string percent(const std::optional<std::array<double, 3>>& v) {
  if (!v) return "";
  return fmt::format("{:+.1f}% [{:+.1f}, {:+.1f}]", (*v)[0], (*v)[1], (*v)[2]);
}

json to_json(const RunRow& r) {
  json j = {{"dir", r.dir}, {"kind", r.kind}, {"method", r.method}, {"state", r.state}};
  j["step"] = r.step >= 0 ? json(r.step) : json(nullptr);
  j["steps"] = r.steps >= 0 ? json(r.steps) : json(nullptr);
  j["best_val_loss"] = std::isnan(r.best_val) ? json(nullptr) : json(r.best_val);
  for (const auto& [key, v] :
       {std::pair{"task_gain_pct", &r.task_gain}, std::pair{"mean_forgetting_pct", &r.forgetting}})
    j[key] = *v ? json{{"value", (**v)[0]}, {"ci", {(**v)[1], (**v)[2]}}} : json(nullptr);
  return j;
}

void list_runs(const std::string& dir_arg, bool as_json) {
  const fs::path root = dir_arg.empty() ? fs::path("runs") : fs::path(dir_arg);
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw BadInput(fmt::format("{} is not a directory", root.string()),
                   "name the folder that holds run directories (default runs/)");
  std::vector<fs::path> runs;
  find_runs(root, 3, runs);
  std::vector<RunRow> rows;
  for (const fs::path& r : runs) rows.push_back(describe(r, root));
  if (as_json) {
    json out = json::array();
    for (const RunRow& r : rows) out.push_back(to_json(r));
    fmt::print("{}\n", out.dump(2));
    return;
  }
  if (rows.empty()) {
    fmt::print("no runs under {}\n", root.string());
    return;
  }
  const std::vector<std::string> head{"run",   "kind",     "method",    "state",
                                      "steps", "best val", "task gain", "mean forgetting"};
  std::vector<std::vector<std::string>> table{head};
  for (const RunRow& r : rows)
    table.push_back({r.dir, r.kind, r.method, r.state,
                     r.step < 0    ? ""
                     : r.steps < 0 ? fmt::format("{}", r.step)
                                   : fmt::format("{}/{}", r.step, r.steps),
                     std::isnan(r.best_val) ? "" : fmt::format("{:.4f}", r.best_val), percent(r.task_gain),
                     percent(r.forgetting)});
  std::vector<size_t> width(head.size(), 0);
  for (const auto& line : table)
    for (size_t c = 0; c < line.size(); ++c) width[c] = std::max(width[c], line[c].size());
  for (const auto& line : table) {
    std::string out;
    for (size_t c = 0; c < line.size(); ++c)
      out += c + 1 < line.size() ? fmt::format("{:<{}}  ", line[c], width[c]) : line[c];
    fmt::print("{}\n", out);
  }
}

}  // namespace

void add_runs_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("runs", "List the runs under a directory: kind, method, state, results");
  static std::string dir;
  static bool as_json = false;
  cmd->add_option("dir", dir, "The folder holding run directories (default: runs)");
  cmd->add_flag("--json", as_json, "One JSON array of the runs, for scripts");
  cmd->footer(
      "Reads what the runs wrote (recipe.yaml, metrics.jsonl, checkpoint names, report.json), never a "
      "model.\n"
      "A run whose files do not parse is listed as damaged, with the reason.\n"
      "Example:\n  plinth runs\n  plinth runs runs/ --json");
  cmd->callback([] { list_runs(dir, as_json); });
}

}  // namespace plinth
