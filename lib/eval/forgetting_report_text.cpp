// report.md and report.svg: a ForgettingReport for people (forgetting_report.h).
#include "eval/forgetting_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "eval/report_variants.h"
#include "util/nan.h"
#include "util/svg_charts.h"
#include "util/svg_plot.h"
#include "util/text.h"

namespace plinth::eval {

namespace {

std::string pct(double v, int decimals = 2) {
  return std::isfinite(v) ? fmt::format("{:+.{}f}%", v, decimals) : "n/a";
}
std::string num(double v, int decimals = 4) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : "n/a";
}

// A Markdown table cell: no pipes or line breaks inside, visible when empty.
std::string md_cell(const std::string& s, size_t max_chars = 80) {
  std::string out = markdown_cell(s);
  if (out.size() > max_chars) {
    size_t cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
    out = out.substr(0, cut) + "…";
  }
  return out.empty() ? "(empty)" : "`" + out + "`";
}

}  // namespace

std::string pct_with_interval(double v, const Interval& ci, int decimals) {
  std::string out = pct(v, decimals);
  if (std::isfinite(v) && ci.known())
    out += fmt::format(" [{:+.{}f}, {:+.{}f}]", ci.lo, decimals, ci.hi, decimals);
  return out;
}

std::string num_with_interval(double v, const Interval& ci, int decimals, bool sign) {
  if (!std::isfinite(v)) return "n/a";
  std::string out = sign ? fmt::format("{:+.{}f}", v, decimals) : fmt::format("{:.{}f}", v, decimals);
  if (ci.known())
    out += sign ? fmt::format(" [{:+.{}f}, {:+.{}f}]", ci.lo, decimals, ci.hi, decimals)
                : fmt::format(" [{:.{}f}, {:.{}f}]", ci.lo, decimals, ci.hi, decimals);
  return out;
}

namespace {

// The title, what was compared, the report's warnings and how its sample was drawn.
std::string intro_markdown(const ForgettingReport& r) {
  std::string out = fmt::format("# Forgetting report: {}\n\n", r.run.empty() ? "(unnamed run)" : r.run);
  out += fmt::format("Recipe `{}`, method `{}`.\n", r.recipe_name, r.method.empty() ? "n/a" : r.method);
  auto step = [](int64_t s) { return s >= 0 ? fmt::format(" (step {})", s) : std::string(); };
  out += fmt::format("Base `{}`{}, tuned `{}`{}.\n\n", r.base_checkpoint, step(r.base_step),
                     r.tuned_checkpoint, step(r.tuned_step));
  for (const auto& f : r.flags) out += fmt::format("**Warning:** {}.\n\n", f);
  const bool ci = r.has_intervals();
  if (ci)
    out += fmt::format(
        "Each domain: a random sample of its validation documents (seed {}), base and tuned scored on the "
        "same windows{}; [brackets]: {:g}% paired bootstrap intervals ({} resamples over documents).\n\n",
        r.sample.seed, r.sample.precision == "bf16" ? " with bf16 weights (eval.precision)" : "",
        100 * r.sample.confidence, r.sample.resamples);
  else
    out += fmt::format(
        "Schema {} report: no per-document scores, so no intervals (run plinth eval again).\n\n", r.schema);
  return out;
}

// The per-domain table with its mean row, and the headline sentence.
std::string domains_markdown(const ForgettingReport& r) {
  const bool ci = r.has_intervals();
  std::string out;
  out +=
      "| domain | documents | tokens | base bits/byte | tuned bits/byte | Δ bits/byte | forgetting | KL "
      "(nats/token) | top-1 agreement |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& d : r.domains) {
    std::string reached;
    if (ci && r.sample.target_ci > 0 && !d.target_reached)
      reached = fmt::format(" (target ±{:g} not reached)", 100 * r.sample.target_ci);
    out += fmt::format(
        "| {} | {} | {} | {} | {} | {} | {}{} | {} | {} |\n", d.name, d.documents, with_commas(d.tokens),
        num(d.base_bpb), num(d.tuned_bpb), num_with_interval(d.delta_bpb, d.delta_bpb_ci, 4, true),
        pct_with_interval(d.forgetting_pct, d.forgetting_ci), reached, num_with_interval(d.kl, d.kl_ci, 4),
        std::isfinite(d.top1_agreement)
            ? num_with_interval(100 * d.top1_agreement, d.agreement_ci.scaled(100), 1) + "%"
            : "n/a");
  }
  out += fmt::format(
      "| **mean** | | | {} | {} | {} | {} | {} | {} |\n\n", num(r.mean_base_bpb), num(r.mean_tuned_bpb),
      std::isfinite(r.mean_tuned_bpb - r.mean_base_bpb)
          ? fmt::format("{:+.4f}", r.mean_tuned_bpb - r.mean_base_bpb)
          : "n/a",
      pct_with_interval(r.mean_forgetting_pct, r.mean_forgetting_ci), num(r.mean_kl),
      std::isfinite(r.mean_top1_agreement) ? fmt::format("{:.1f}%", 100 * r.mean_top1_agreement) : "n/a");
  out += fmt::format("Mean forgetting {} over {} domains; worst domain: {} ({}).\n\n",
                     pct_with_interval(r.mean_forgetting_pct, r.mean_forgetting_ci), r.domains.size(),
                     r.worst_domain, pct_with_interval(r.worst_forgetting_pct, r.worst_forgetting_ci));

  return out;
}

// The task's section: loss and exact match, how far the model moved on the task's own tokens,
// and the sampled answers.
std::string task_markdown(const TaskResult& t, uint64_t seed) {
  std::string out;
  out +=
      fmt::format("## Task: {} ({} examples{})\n\n", t.name, t.examples,
                  t.has_examples() ? fmt::format(", a random sample of the test split, seed {}", seed) : "");
  out += "| | base | tuned | change |\n|---|---:|---:|---:|\n";
  out += fmt::format("| loss (nats/token) | {} | {} | task gain {} |\n", num(t.base_loss), num(t.tuned_loss),
                     pct_with_interval(t.gain_pct(), t.gain_ci));
  auto em = [](double f) { return std::isfinite(f) ? fmt::format("{:.1f}%", 100 * f) : "n/a"; };
  out += fmt::format("| exact match | {} | {} | {} points |\n\n", em(t.base_exact_match),
                     em(t.tuned_exact_match),
                     num_with_interval(t.exact_match_gain_points(), t.exact_match_gain_ci, 1, true));
  if (t.has_divergence()) {
    auto share = [](double f, const Interval& ci) {
      if (!std::isfinite(f)) return std::string("n/a");
      return ci.known() ? fmt::format("{:.1f}% [{:.1f}, {:.1f}]", 100 * f, 100 * ci.lo, 100 * ci.hi)
                        : fmt::format("{:.1f}%", 100 * f);
    };
    out +=
        "How far the tuned model moved on the task's own examples (base and tuned on the same tokens):\n\n";
    out += "| tokens | KL(base ‖ tuned), nats/token | top-1 agreement |\n|---|---:|---:|\n";
    out += fmt::format("| completions | {} | {} |\n", num_with_interval(t.kl_per_token, t.kl_ci, 4),
                       share(t.top1_agreement, t.agreement_ci));
    out +=
        fmt::format("| prompts | {} | {} |\n\n", num_with_interval(t.prompt_kl_per_token, t.prompt_kl_ci, 4),
                    share(t.prompt_top1_agreement, t.prompt_agreement_ci));
  }
  if (!t.samples.empty()) {
    out += "| prompt | reference | base | tuned |\n|---|---|---|---|\n";
    auto mark = [](bool ok) { return ok ? " ✓" : " ✗"; };
    for (const auto& s : t.samples)
      out += fmt::format("| {} | {} | {}{} | {}{} |\n", md_cell(s.prompt), md_cell(s.reference),
                         md_cell(s.base_output), mark(s.base_correct), md_cell(s.tuned_output),
                         mark(s.tuned_correct));
    out += "\n";
  }
  return out;
}

}  // namespace

std::string report_markdown(const ForgettingReport& r) {
  std::string out = intro_markdown(r) + domains_markdown(r);
  out += r.task ? task_markdown(*r.task, r.sample.seed) : "No task results in this report.\n\n";
  out += suites_markdown(r.suites);
  if (r.gate) out += fmt::format("Gate thresholds from the recipe: {}.\n\n", describe_thresholds(*r.gate));
  out += variants_markdown(r);
  out +=
      "bits/byte: total NLL / UTF-8 bytes / ln 2 on each domain's sampled validation documents. forgetting: "
      "100 × (tuned − base) / base bits/byte, positive = worse after tuning; mean: domains weighted equally. "
      "KL: mean KL(base ‖ tuned) of the next-token distributions per scored token; top-1 agreement: share of "
      "scored tokens where both models predict the same next token. task gain: 100 × (base − tuned) / base "
      "task loss, positive = learned.\n";
  return out;
}

std::string report_svg(const ForgettingReport& r) {
  BarChart chart;
  chart.title =
      fmt::format("{}: bits per byte before and after tuning{}", r.run.empty() ? "forgetting" : r.run,
                  r.method.empty() ? "" : " (" + r.method + ")");
  chart.y_label = r.has_intervals() ? fmt::format("bits per byte (lower is better; bars: {:g}% interval)",
                                                  100 * r.sample.confidence)
                                    : "bits per byte (lower is better)";
  chart.series = {"base", "tuned"};
  for (const auto& d : r.domains) {
    BarGroup g{d.name, {d.base_bpb, d.tuned_bpb}, pct(d.forgetting_pct, 1), {}};
    if (d.forgetting_ci.known()) {
      g.note = fmt::format("{} [{:+.1f}, {:+.1f}]", pct(d.forgetting_pct, 1), d.forgetting_ci.lo,
                           d.forgetting_ci.hi);
      // The tuned bar's interval is the base plus the paired difference's interval.
      g.errors = {{kNaN, kNaN}, {d.base_bpb + d.delta_bpb_ci.lo, d.base_bpb + d.delta_bpb_ci.hi}};
    }
    chart.groups.push_back(std::move(g));
  }
  chart.width = std::max(860, 140 + 200 + 90 * int(r.domains.size()));
  if (r.suites.empty()) return render_svg(chart);
  // The capability suites below the domains: base and tuned acc, the tuned bar with the interval
  // of the paired change.
  BarChart suites;
  suites.title = "capability suites: accuracy before and after tuning";
  suites.y_label = "acc, % (higher is better)";
  suites.series = {"base", "tuned"};
  bool one_metric = true;
  for (const auto& s : r.suites) one_metric = one_metric && s.metric == r.suites.front().metric;
  if (one_metric) suites.y_label = r.suites.front().metric + ", % (higher is better)";
  for (const auto& suite : r.suites) {
    const SuiteAccuracy s = headline(suite);
    const std::string label = one_metric ? suite.name : suite.name + " (" + s.metric + ")";
    BarGroup g{label, {100 * s.base, 100 * s.tuned}, fmt::format("{:+.1f} pts", s.change_points()), {}};
    if (s.change_ci.known()) {
      g.note =
          fmt::format("{:+.1f} [{:+.1f}, {:+.1f}] pts", s.change_points(), s.change_ci.lo, s.change_ci.hi);
      g.errors = {{kNaN, kNaN}, {100 * s.base + s.change_ci.lo, 100 * s.base + s.change_ci.hi}};
    }
    suites.groups.push_back(std::move(g));
  }
  suites.width = std::max(chart.width, 140 + 200 + 120 * int(r.suites.size()));
  suites.height = 400;
  return stack_svg(
      {{render_svg(chart), chart.width, chart.height}, {render_svg(suites), suites.width, suites.height}});
}
}  // namespace plinth::eval
