#include "finetune/selection_rule.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/json_number.h"

namespace plinth::finetune {

namespace {

using json = nlohmann::ordered_json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Whether a step of forgetting `f` (percent per domain) fits the budget.
bool fits(const SelectSpec& spec, const std::vector<std::pair<std::string, double>>& f) {
  const double mean = mean_forgetting(f), worst = worst_forgetting(f);
  if (spec.max_forgetting > 0 && !(mean <= 100 * spec.max_forgetting)) return false;
  if (spec.max_worst_forgetting > 0 && !(worst <= 100 * spec.max_worst_forgetting)) return false;
  return true;
}

}  // namespace

std::vector<std::pair<std::string, double>> panel_forgetting(const Panel& p, const Panel& base) {
  std::vector<std::pair<std::string, double>> out;
  for (size_t i = 0; i < p.nll.size(); ++i) {
    const double b = i < base.nll.size() ? base.nll[i].second : kNaN;
    out.emplace_back(p.nll[i].first, b > 0 ? 100 * (p.nll[i].second / b - 1) : kNaN);
  }
  return out;
}

double mean_forgetting(const std::vector<std::pair<std::string, double>>& forgetting) {
  double sum = 0;
  int n = 0;
  for (const auto& [name, pct] : forgetting)
    if (std::isfinite(pct)) sum += pct, ++n;
  return n ? sum / n : kNaN;
}

double worst_forgetting(const std::vector<std::pair<std::string, double>>& forgetting) {
  double worst = kNaN;
  for (const auto& [name, pct] : forgetting)
    if (std::isfinite(pct) && !(pct <= worst)) worst = pct;
  return worst;
}

std::string describe_budget(const SelectSpec& spec) {
  std::string s;
  if (spec.max_forgetting > 0) s = fmt::format("mean forgetting <= {:g}%", 100 * spec.max_forgetting);
  if (spec.max_worst_forgetting > 0)
    s += fmt::format("{}worst domain <= {:g}%", s.empty() ? "" : ", ", 100 * spec.max_worst_forgetting);
  return s.empty() ? "no forgetting budget" : s;
}

Selection select_step(const std::vector<Panel>& panels, const SelectSpec& spec) {
  Selection out;
  if (panels.size() < 2) {
    out.reason = "no panel after step 0 yet: the base (step 0) is kept";
    return out;
  }
  const Panel& base = panels.front();
  const Panel* best = nullptr;
  size_t fitting = 0;
  for (size_t i = 1; i < panels.size(); ++i) {
    const Panel& p = panels[i];
    if (!std::isfinite(p.task_val_loss) || !fits(spec, panel_forgetting(p, base))) continue;
    ++fitting;
    if (!best || p.task_val_loss < best->task_val_loss) best = &p;
  }
  if (!best) {
    out.reason = fmt::format("none of the {} panel steps after step 0 kept {}: the base (step 0) is kept",
                             panels.size() - 1, describe_budget(spec));
    return out;
  }
  out.step = best->step;
  out.within_budget = true;
  out.reason = fmt::format(
      "the best task validation loss ({:.4f}) of the {} of {} panel steps after step 0 within the budget "
      "({}); "
      "mean forgetting {:.2f}%",
      best->task_val_loss, fitting, panels.size() - 1, describe_budget(spec),
      mean_forgetting(panel_forgetting(*best, base)));
  return out;
}

std::string panels_to_json(const std::vector<Panel>& panels) {
  json out = json::array();
  for (const auto& p : panels) {
    json nll = json::object();
    for (const auto& [name, v] : p.nll) nll[name] = number_or_null<json>(v);
    out.push_back({{"step", p.step}, {"task_val_loss", number_or_null<json>(p.task_val_loss)}, {"nll", nll}});
  }
  return out.dump();
}

std::vector<Panel> panels_from_json(const std::string& text, const std::string& where) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto bad = [&]() {
    return BadInput(fmt::format("{}: the selection panels are damaged", where),
                    "use another checkpoint, or start the run again in a new train.run_dir");
  };
  if (!j.is_array()) throw bad();
  std::vector<Panel> out;
  auto number = [](const json& v) { return v.is_number() ? v.get<double>() : kNaN; };
  for (const auto& item : j) {
    if (!item.is_object() || !item.contains("step") || !item["step"].is_number_integer() ||
        !item.contains("nll") || !item["nll"].is_object())
      throw bad();
    Panel p;
    p.step = item["step"].get<int64_t>();
    p.task_val_loss = item.contains("task_val_loss") ? number(item["task_val_loss"]) : kNaN;
    for (const auto& [name, v] : item["nll"].items()) p.nll.emplace_back(name, number(v));
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace plinth::finetune
