#include "finetune/run_listing.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "finetune/finetune_spec.h"
#include "finetune/run_state.h"
#include "finetune/sweep_plan.h"
#include "recipe/recipe_loader.h"
#include "train/checkpoint_files.h"
#include "util/atomic_file.h"
#include "util/config_section.h"
#include "util/error.h"
#include "util/json_number.h"

namespace plinth::finetune {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

bool is_run_dir(const fs::path& d) {
  std::error_code ec;
  return fs::is_regular_file(d / "recipe.yaml", ec) || fs::is_regular_file(d / "metrics.jsonl", ec) ||
         fs::is_regular_file(sweep_point_path(d), ec);
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
  FinetuneSpec spec;
  bind(section, spec);
  if (diag.empty()) {
    row.method = method_label(spec);
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

// The state from the run's files: finished, evaluated (or its report older than tuned.ckpt: the
// model was trained again after its eval, judged by the files' times, as make judges, since
// hashing every model would not be instant), trained without tuned.ckpt, interrupted at its
// newest checkpoint's step, or not started.
std::string progress_state(const fs::path& run, const RunRow& row) {
  std::error_code ec;
  const bool finetune = row.kind == "fine-tune" || row.kind == "sweep point";
  const fs::path tuned = tuned_checkpoint_path(run);
  if (finetune && fs::exists(tuned, ec)) {
    if (!fs::exists(run / "report.json", ec)) return "finished";
    const auto model_time = fs::last_write_time(tuned, ec);
    const auto report_time = fs::last_write_time(run / "report.json", ec);
    return !ec && model_time > report_time ? "finished, report older than tuned.ckpt" : "evaluated";
  }
  if (row.step >= 0 && row.steps >= 0 && row.step >= row.steps)
    return finetune ? "trained, no tuned.ckpt" : "finished";
  if (row.step >= 0) return fmt::format("interrupted at step {}", row.step);
  return "not started";
}

RunRow describe(const fs::path& run, const fs::path& root, StalenessProbe& probe) {
  RunRow row;
  row.dir = run.lexically_relative(root).string();
  if (row.dir.empty() || row.dir == ".") row.dir = run.string();
  try {
    std::error_code ec;
    if (fs::exists(run / "recipe.yaml", ec)) read_recipe(run / "recipe.yaml", row);
    if (const auto mark = read_sweep_point(run)) {
      row.kind = "sweep point";
      row.sweep_label = mark->label;
    }
    const auto checkpoints = train::list_step_checkpoints(run);
    if (!checkpoints.empty()) row.step = checkpoints.back().first;
    if (fs::exists(run / "metrics.jsonl", ec)) read_metrics(run / "metrics.jsonl", row);
    if (fs::exists(run / "report.json", ec)) read_report(run / "report.json", row);
    row.state = progress_state(run, row);
    row.stale_because = probe.stale_because(run, row.kind != "pretrain");
    if (!row.stale_because.empty()) row.state = "stale because " + row.stale_because;
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
  json j = {{"dir", r.dir}, {"kind", r.kind}};
  j["sweep_label"] = r.sweep_label.empty() ? json(nullptr) : json(r.sweep_label);
  j["method"] = r.method;
  j["state"] = r.state;
  j["stale_because"] = r.stale_because.empty() ? json(nullptr) : json(r.stale_because);
  j["step"] = r.step >= 0 ? json(r.step) : json(nullptr);
  j["steps"] = r.steps >= 0 ? json(r.steps) : json(nullptr);
  j["best_val_loss"] = number_or_null<json>(r.best_val);
  for (const auto& [key, v] :
       {std::pair{"task_gain_pct", &r.task_gain}, std::pair{"mean_forgetting_pct", &r.forgetting}})
    j[key] = *v ? json{{"value", (**v)[0]}, {"ci", {(**v)[1], (**v)[2]}}} : json(nullptr);
  return j;
}

}  // namespace

std::vector<RunRow> list_runs(const fs::path& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw BadInput(fmt::format("{} is not a directory", root.string()),
                   "name the folder that holds run directories (default runs/)");
  std::vector<fs::path> runs;
  find_runs(root, 3, runs);
  StalenessProbe probe;  // one for the listing: a base several runs share is hashed once at most
  std::vector<RunRow> rows;
  rows.reserve(runs.size());
  for (const fs::path& r : runs) rows.push_back(describe(r, root, probe));
  return rows;
}

std::string runs_json(const std::vector<RunRow>& rows) {
  json out = json::array();
  for (const RunRow& r : rows) out.push_back(to_json(r));
  return out.dump(2) + "\n";
}

std::string runs_table(const std::vector<RunRow>& rows, const fs::path& root) {
  if (rows.empty()) return fmt::format("no runs under {}\n", root.string());
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
  std::string out;
  for (const auto& line : table) {
    for (size_t c = 0; c < line.size(); ++c)
      out += c + 1 < line.size() ? fmt::format("{:<{}}  ", line[c], width[c]) : line[c];
    out += "\n";
  }
  return out;
}

}  // namespace plinth::finetune
