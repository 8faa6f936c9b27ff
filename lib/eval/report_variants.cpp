#include "eval/report_variants.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "eval/document_sample.h"
#include "eval/forgetting_report.h"
#include "eval/json_numbers.h"
#include "eval/report_json_reader.h"
#include "util/error.h"
#include "util/nan.h"
#include "util/svg_charts.h"
#include "util/svg_heatmap.h"

namespace plinth::eval {

namespace {

using nlohmann::json;
// a - b, replicate by replicate (the same draws on both sides: a paired difference).
std::vector<double> minus(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> out(std::min(a.size(), b.size()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = a[i] - b[i];
  return out;
}

// 100 * (1 - sum(w * nll) / sum(w * base)) per replicate: a task gain, as derive_task computes it.
std::vector<double> gain_replicates(const Resamples& r, const std::vector<double>& nll,
                                    const std::vector<double>& base) {
  std::vector<double> g = r.ratio(nll, base);
  for (double& v : g) v = 100.0 * (1.0 - v);
  return g;
}

// A part the fine-tune left alone: restoring it gives the tuned model itself.
void derive_unchanged(const ForgettingReport& r, ReportVariant& v) {
  for (size_t i = 0; i < r.domains.size(); ++i) {
    const DomainForgetting& d = r.domains[i];
    v.domains[i] = {d.forgetting_pct, d.forgetting_ci, 0.0, Interval{0.0, 0.0}};
  }
  v.mean_forgetting_pct = r.mean_forgetting_pct, v.mean_forgetting_ci = r.mean_forgetting_ci;
  v.worst_domain = r.worst_domain;
  v.worst_forgetting_pct = r.worst_forgetting_pct, v.worst_forgetting_ci = r.worst_forgetting_ci;
  v.mean_recovered_pts = 0, v.mean_recovered_ci = Interval{0.0, 0.0};
  if (r.task) {
    v.task_gain_pct = r.task->gain_pct(), v.task_gain_ci = r.task->gain_ci;
    v.task_gain_lost_pts = 0, v.task_gain_lost_ci = Interval{0.0, 0.0};
    v.exact_match = r.task->tuned_exact_match;
  }
}

void derive_variant(const ForgettingReport& r, ReportVariant& v) {
  const double c = r.sample.confidence;
  v.domains.assign(r.domains.size(), VariantDomain{});
  v.worst_domain.clear();
  v.worst_forgetting_pct = v.mean_forgetting_pct = v.mean_recovered_pts = kNaN;
  v.mean_forgetting_ci = v.worst_forgetting_ci = v.mean_recovered_ci = Interval{};
  v.task_gain_pct = v.task_gain_lost_pts = v.exact_match = kNaN;
  v.task_gain_ci = v.task_gain_lost_ci = Interval{};
  if (v.unchanged) return derive_unchanged(r, v);

  std::vector<std::vector<double>> reps(r.domains.size()), recovered(r.domains.size());
  std::vector<const std::vector<double>*> rep_ptrs, recovered_ptrs;
  double sum_f = 0;
  bool complete = true;
  for (size_t i = 0; i < r.domains.size(); ++i) {
    const DomainForgetting& d = r.domains[i];
    auto it = v.domain_nll.find(d.name);
    if (d.docs.size() == 0 || it == v.domain_nll.end() || it->second.size() != d.docs.size()) {
      complete = false;
      continue;
    }
    const std::vector<double>& nll = it->second;
    VariantDomain& vd = v.domains[i];
    // As derive_domain computes a domain's forgetting, operation for operation: the variant made
    // of the tuned model's own columns (α = 1) shows the report's figure to the last bit.
    const double ln2 = std::log(2.0), bytes = double(d.docs.total_bytes());
    const double base_bpb = sum(d.docs.base_nll) / bytes / ln2, variant_bpb = sum(nll) / bytes / ln2;
    vd.forgetting_pct = 100.0 * (variant_bpb - base_bpb) / base_bpb;
    vd.recovered_pts = d.forgetting_pct - vd.forgetting_pct;
    // The report's own draws for this domain (derive_domain's seed): replicate b of the variant and
    // of the tuned model resample the same documents.
    const Resamples rs(d.docs.size(), r.sample.resamples, bootstrap_seed(r.sample.seed, "domain:" + d.name));
    reps[i] = rs.change_pct(nll, d.docs.base_nll);
    recovered[i] = minus(d.forgetting_replicates, reps[i]);
    vd.forgetting_ci = percentile_interval(reps[i], c);
    vd.recovered_ci = percentile_interval(recovered[i], c);
    rep_ptrs.push_back(&reps[i]), recovered_ptrs.push_back(&recovered[i]);
    sum_f += vd.forgetting_pct;
    const bool worse = v.worst_domain.empty() ||
                       (!std::isnan(v.worst_forgetting_pct) &&
                        (std::isnan(vd.forgetting_pct) || vd.forgetting_pct > v.worst_forgetting_pct));
    if (worse) v.worst_domain = d.name, v.worst_forgetting_pct = vd.forgetting_pct;
  }
  if (complete && !r.domains.empty()) {
    v.mean_forgetting_pct = sum_f / double(r.domains.size());
    v.mean_recovered_pts = r.mean_forgetting_pct - v.mean_forgetting_pct;
    v.mean_forgetting_ci = percentile_interval(replicate_mean(rep_ptrs), c);
    v.worst_forgetting_ci = percentile_interval(replicate_max(rep_ptrs), c);
    v.mean_recovered_ci = percentile_interval(replicate_mean(recovered_ptrs), c);
  }

  if (r.task && r.task->has_examples() && v.task_nll.size() == r.task->index.size()) {
    const TaskResult& t = *r.task;
    const Resamples rs(t.index.size(), r.sample.resamples, bootstrap_seed(r.sample.seed, "task"));
    const std::vector<double> g = gain_replicates(rs, v.task_nll, t.base_nll);
    double tokens = 0;
    for (uint64_t n : t.tokens) tokens += double(n);
    const double base_loss = sum(t.base_nll) / tokens, variant_loss = sum(v.task_nll) / tokens;
    v.task_gain_pct = 100.0 * (base_loss - variant_loss) / base_loss;  // as TaskResult::gain_pct
    v.task_gain_ci = percentile_interval(g, c);
    v.task_gain_lost_pts = t.gain_pct() - v.task_gain_pct;
    v.task_gain_lost_ci = percentile_interval(minus(gain_replicates(rs, t.tuned_nll, t.base_nll), g), c);
  }
  if (!v.task_correct.empty()) {
    double correct = 0;
    for (bool ok : v.task_correct) correct += ok;
    v.exact_match = correct / double(v.task_correct.size());
  }
}

json variant_json(const ForgettingReport& r, const ReportVariant& v) {
  json nll = json::object(), domains = json::object();
  for (const auto& [name, column] : v.domain_nll) nll[name] = numbers_or_null(column);
  for (size_t i = 0; i < r.domains.size() && i < v.domains.size(); ++i) {
    const VariantDomain& d = v.domains[i];
    domains[r.domains[i].name] = {{"forgetting_pct", number_or_null(d.forgetting_pct)},
                                  {"forgetting_ci", interval_json(d.forgetting_ci)},
                                  {"recovered_pts", number_or_null(d.recovered_pts)},
                                  {"recovered_ci", interval_json(d.recovered_ci)}};
  }
  json task_nll = nullptr, task_correct = nullptr;
  if (!v.task_nll.empty()) task_nll = numbers_or_null(v.task_nll);
  if (!v.task_correct.empty()) task_correct = v.task_correct;
  return {{"label", v.label},
          {"alpha", number_or_null(v.alpha)},
          {"unchanged", v.unchanged},
          {"domain_nll", std::move(nll)},
          {"task_nll", std::move(task_nll)},
          {"task_correct", std::move(task_correct)},
          {"mean_forgetting_pct", number_or_null(v.mean_forgetting_pct)},
          {"mean_forgetting_ci", interval_json(v.mean_forgetting_ci)},
          {"worst_domain", v.worst_domain},
          {"worst_forgetting_pct", number_or_null(v.worst_forgetting_pct)},
          {"worst_forgetting_ci", interval_json(v.worst_forgetting_ci)},
          {"mean_recovered_pts", number_or_null(v.mean_recovered_pts)},
          {"mean_recovered_ci", interval_json(v.mean_recovered_ci)},
          {"task_gain_pct", number_or_null(v.task_gain_pct)},
          {"task_gain_ci", interval_json(v.task_gain_ci)},
          {"task_gain_lost_pts", number_or_null(v.task_gain_lost_pts)},
          {"task_gain_lost_ci", interval_json(v.task_gain_lost_ci)},
          {"exact_match", number_or_null(v.exact_match)},
          {"domains", std::move(domains)}};
}

std::vector<ReportVariant> read_list(const json& j, const std::string& key, const JsonReader& rd,
                                     const ForgettingReport& r) {
  std::vector<ReportVariant> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;  // absent in reports written before it existed
  const json& list = rd.array(j, key, "");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = fmt::format("{}[{}]", key, i);
    ReportVariant v;
    v.label = rd.string(list[i], "label", path);
    v.alpha = rd.number(list[i], "alpha", path);
    v.unchanged = rd.boolean(list[i], "unchanged", path);
    const json& nll = rd.at(list[i], "domain_nll", path);
    if (!nll.is_object()) rd.fail(fmt::format("'{}.domain_nll' is not an object", path));
    for (const auto& d : r.domains) {
      if (v.unchanged) break;
      const std::string dp = path + ".domain_nll";
      v.domain_nll[d.name] = rd.numbers(nll, d.name, dp);
      rd.same_length(d.docs.size(), v.domain_nll[d.name].size(), dp + "." + d.name);
    }
    const size_t examples = r.task ? r.task->index.size() : 0;
    if (!rd.at(list[i], "task_nll", path).is_null()) {
      v.task_nll = rd.numbers(list[i], "task_nll", path);
      rd.same_length(examples, v.task_nll.size(), path + ".task_nll");
    }
    if (!rd.at(list[i], "task_correct", path).is_null()) {
      v.task_correct = rd.booleans(list[i], "task_correct", path);
      rd.same_length(examples, v.task_correct.size(), path + ".task_correct");
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::string pct_cell(double v, const Interval& ci, int decimals = 2) {
  return pct_with_interval(v, ci, decimals);
}

std::string pts_cell(double v, const Interval& ci) {
  return num_with_interval(v, ci, 2, true);
}

std::string em_cell(double f) {
  return std::isfinite(f) ? fmt::format("{:.1f}%", 100 * f) : "n/a";
}

// A scatter point at (mean forgetting, task gain) with both intervals.
ScatterPoint trade_off_point(const ReportVariant& v, std::string label, int color) {
  ScatterPoint p;
  p.label = std::move(label);
  p.x = v.mean_forgetting_pct, p.y = v.task_gain_pct;
  p.x_lo = v.mean_forgetting_ci.lo, p.x_hi = v.mean_forgetting_ci.hi;
  p.y_lo = v.task_gain_ci.lo, p.y_hi = v.task_gain_ci.hi;
  p.color = color;
  return p;
}

std::string alpha_label(double alpha) {
  return fmt::format("α={:g}", alpha);
}

}  // namespace

void derive_variants(ForgettingReport& r) {
  for (auto* list : {&r.interpolation, &r.attribution})
    for (auto& v : *list) derive_variant(r, v);
}

void add_variants_json(const ForgettingReport& r, json& j) {
  for (const auto& [key, list] :
       {std::pair{"interpolation", &r.interpolation}, std::pair{"attribution", &r.attribution}}) {
    if (list->empty()) {
      j[key] = nullptr;
      continue;
    }
    json a = json::array();
    for (const auto& v : *list) a.push_back(variant_json(r, v));
    j[key] = std::move(a);
  }
}

void read_variants_json(const json& j, const JsonReader& reader, ForgettingReport& r) {
  r.interpolation = read_list(j, "interpolation", reader, r);
  r.attribution = read_list(j, "attribution", reader, r);
}

std::string variants_markdown(const ForgettingReport& r) {
  std::string out;
  const std::string brackets =
      r.has_intervals() ? fmt::format(
                              " [brackets]: {:g}% paired bootstrap intervals over the same documents and "
                              "examples as above.",
                              100 * r.sample.confidence)
                        : "";
  if (!r.interpolation.empty()) {
    out += "## Interpolation between base and tuned\n\n";
    out +=
        "Weights (1 − α)·base + α·tuned, scored on the same documents and task examples as the report "
        "(α = 0 is the base, 1 the tuned model)." +
        brackets + "\n\n";
    out += "| α | task gain | exact match | mean forgetting | worst domain |\n|---:|---:|---:|---:|---|\n";
    for (const auto& v : r.interpolation)
      out +=
          fmt::format("| {:g} | {} | {} | {} | {} {} |\n", v.alpha, pct_cell(v.task_gain_pct, v.task_gain_ci),
                      em_cell(v.exact_match), pct_cell(v.mean_forgetting_pct, v.mean_forgetting_ci),
                      v.worst_domain, pct_cell(v.worst_forgetting_pct, v.worst_forgetting_ci));
    out += "\n";
  }
  if (!r.attribution.empty()) {
    out += "## Where the forgetting comes from\n\n";
    out +=
        "Each row: the tuned model with that part put back to the base's weights. recovered: points of a "
        "domain's forgetting that go away (positive: the part carries forgetting); task gain lost: points of "
        "task gain that go with it (positive: the part carries the task)." +
        brackets + "\n\n";
    out += "| part | task gain lost | mean recovered |";
    std::string rule = "|---|---:|---:|";
    for (const auto& d : r.domains) out += " " + d.name + " |", rule += "---:|";
    out += "\n" + rule + "\n";
    for (const auto& v : r.attribution) {
      if (v.unchanged) {
        out += fmt::format("| {} | unchanged by the fine-tune |{}\n", v.label,
                           std::string(r.domains.size() + 1, '|'));
        continue;
      }
      out += fmt::format("| {} | {} | {} |", v.label, pts_cell(v.task_gain_lost_pts, v.task_gain_lost_ci),
                         pts_cell(v.mean_recovered_pts, v.mean_recovered_ci));
      for (const auto& d : v.domains) out += " " + pts_cell(d.recovered_pts, d.recovered_ci) + " |";
      out += "\n";
    }
    out += "\n";
  }
  return out;
}

std::string interpolation_svg(const ForgettingReport& r) {
  if (r.interpolation.empty()) return "";
  ScatterChart chart;
  chart.title = fmt::format("{}: interpolating base → tuned{}", r.run.empty() ? "interpolation" : r.run,
                            r.method.empty() ? "" : " (" + r.method + ")");
  chart.x_label = "forgetting % (lower is better)";
  chart.y_label = r.has_intervals()
                      ? fmt::format("task gain % (bars: {:g}% intervals)", 100 * r.sample.confidence)
                      : "task gain %";
  ScatterCurve mean{"mean forgetting over domains", {}, 0}, worst{"worst domain's forgetting", {}, 1};
  for (const auto& v : r.interpolation) {
    mean.points.push_back(chart.points.size());
    chart.points.push_back(trade_off_point(v, alpha_label(v.alpha), 0));
    ScatterPoint w = trade_off_point(v, "", 1);
    w.x = v.worst_forgetting_pct, w.x_lo = v.worst_forgetting_ci.lo, w.x_hi = v.worst_forgetting_ci.hi;
    worst.points.push_back(chart.points.size());
    chart.points.push_back(std::move(w));
  }
  chart.curves = {mean, worst};
  return render_svg(chart);
}

std::string attribution_svg(const ForgettingReport& r) {
  if (r.attribution.empty()) return "";
  HeatMap m;
  m.title = fmt::format("{}: forgetting recovered by restoring each part to the base",
                        r.run.empty() ? "attribution" : r.run);
  for (const auto& d : r.domains) m.columns.push_back(d.name);
  m.columns.push_back("mean");
  m.columns.push_back("task gain lost");
  m.column_group.assign(r.domains.size() + 1, 0);
  m.column_group.push_back(1);
  for (const auto& v : r.attribution) {
    m.rows.push_back(v.label);
    std::vector<double> row;
    std::vector<std::string> text;
    for (const auto& d : v.domains) row.push_back(v.unchanged ? kNaN : d.recovered_pts);
    row.push_back(v.unchanged ? kNaN : v.mean_recovered_pts);
    row.push_back(v.unchanged ? kNaN : v.task_gain_lost_pts);
    for (double x : row)
      text.push_back(v.unchanged ? "·" : std::isfinite(x) ? fmt::format("{:+.2f}", x) : "n/a");
    m.values.push_back(std::move(row));
    m.text.push_back(std::move(text));
  }
  m.note =
      "points of forgetting recovered (blue: the part carries forgetting) and of task gain lost (blue: the "
      "part "
      "carries the task); · = unchanged by the fine-tune";
  return render_svg(m);
}

ScatterPoint tuned_point(const ForgettingReport& report, std::string label) {
  ScatterPoint p{std::move(label), report.mean_forgetting_pct, report.task_gain_pct()};
  p.x_lo = report.mean_forgetting_ci.lo, p.x_hi = report.mean_forgetting_ci.hi;
  if (report.task) p.y_lo = report.task->gain_ci.lo, p.y_hi = report.task->gain_ci.hi;
  return p;
}

std::string interpolation_overlay_svg(const std::vector<LabelledReport>& runs) {
  ScatterChart chart;
  chart.title = "task gain against forgetting, interpolating each run from its base (α = 0) to tuned (α = 1)";
  chart.x_label = "mean forgetting % (lower is better)";
  chart.y_label = "task gain % (higher is better; bars: intervals)";
  int color = 0;
  bool any_curve = false;
  for (const auto& run : runs) {
    if (!run.report) continue;
    const ForgettingReport& r = *run.report;
    ScatterCurve curve{run.label, {}, color};
    for (const auto& v : r.interpolation) {
      curve.points.push_back(chart.points.size());
      chart.points.push_back(trade_off_point(v, fmt::format("{:g}", v.alpha), color));
    }
    if (r.interpolation.empty()) {
      // A run scored without eval.interpolate (replay, say) is still a choice to weigh against
      // the curves: its tuned model alone, as a point (none without a task gain to place it).
      if (!r.task || !std::isfinite(r.task_gain_pct()) || !std::isfinite(r.mean_forgetting_pct)) continue;
      ScatterPoint p = tuned_point(r, "tuned");
      p.color = color;
      curve.points.push_back(chart.points.size());
      chart.points.push_back(std::move(p));
    } else {
      any_curve = true;
    }
    chart.curves.push_back(std::move(curve));
    ++color;
  }
  if (!any_curve) return "";
  return render_svg(chart);
}

}  // namespace plinth::eval
