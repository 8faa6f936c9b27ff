#include "eval/gate.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "eval/document_sample.h"
#include "util/text.h"

namespace plinth::eval {

namespace {

// The two numbers with the fewest decimals (1 to 4) that still tell them apart, so a
// breach never reads "2.0% > 2.0%".
std::pair<std::string, std::string> pair_text(double measured, double limit, const char* unit, int d = 1) {
  auto text = [unit](double v, int d) {
    return std::isfinite(v) ? fmt::format("{:.{}f}{}", v, d, unit) : std::string("n/a");
  };
  while (d < 4 && measured != limit && text(measured, d) == text(limit, d)) ++d;
  return {text(measured, d), text(limit, d)};
}

enum class Verdict { Ok, Inconclusive, Breach };

// A maximum (or, is_minimum, a minimum) checked with the estimate's interval. A non-finite
// estimate never passes; an unknown interval cannot excuse an estimate beyond the limit.
Verdict judge(double value, const Interval& ci, double limit, bool is_minimum) {
  if (!std::isfinite(value)) return Verdict::Breach;
  const bool beyond = is_minimum ? value < limit : value > limit;
  if (!beyond) return Verdict::Ok;
  if (!ci.known()) return Verdict::Breach;
  const bool all_beyond = is_minimum ? ci.hi < limit : ci.lo > limit;
  return all_beyond ? Verdict::Breach : Verdict::Inconclusive;
}

void record(GateResult& result, Verdict v, std::string line) {
  const char* tag = v == Verdict::Ok       ? "ok          "
                    : v == Verdict::Breach ? "BREACH      "
                                           : "inconclusive";
  result.checks.push_back(fmt::format("{} {}", tag, line));
  if (v == Verdict::Breach) result.breaches.push_back(std::move(line));
  if (v == Verdict::Inconclusive) result.inconclusive.push_back(std::move(line));
}

// "7.3% [6.1, 8.4] > 2.0%": value, interval and limit with the same decimals.
std::string compared(double value, const Interval& ci, double limit, Verdict v, bool is_minimum,
                     const char* unit, int min_decimals = 1) {
  auto [val, lim] = pair_text(value, limit, unit, min_decimals);
  int decimals = 1;
  const size_t dot = lim.find('.');
  if (dot != std::string::npos) decimals = int(lim.size() - dot - 1 - std::string(unit).size());
  std::string interval =
      ci.known() ? fmt::format(" [{:.{}f}, {:.{}f}]", ci.lo, decimals, ci.hi, decimals) : "";
  const char* op = v == Verdict::Ok ? (is_minimum ? ">=" : "<=") : (is_minimum ? "<" : ">");
  return fmt::format("{}{} {} {}", val, interval, op, lim);
}

std::string names(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& n : list) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// The report at the gate's confidence: its intervals drawn again when the level differs.
ForgettingReport at_confidence(const ForgettingReport& r, double confidence) {
  ForgettingReport out = r;
  if (out.sample.confidence != confidence) {
    out.sample.confidence = confidence;
    derive(out);
  }
  return out;
}

// Where each unit (document, question) both reports scored sits in each: (report position,
// baseline position).
using Pairs = std::vector<std::pair<size_t, size_t>>;

// What a problem about two samples that do not nest names: "domain 'code'" or "suite 'arc'", the
// units ("documents", "questions"), how to make the samples agree, and whether no unit in common
// is a problem by itself (a suite's questions) or only when neither sample contains the other.
struct UnitSample {
  std::string what;
  const char* units;
  const char* hint;
  bool none_in_common_is_problem;
};

// The units both samples hold, matched by key (a document's index and first token, a question's
// index), in the report's order; a problem when neither sample contains the other (they were
// drawn with another seed, or from other shards).
template <class Key>
Pairs common_units(const std::vector<Key>& now, const std::vector<Key>& before, const UnitSample& sample,
                   const std::string& baseline, std::vector<Problem>& problems) {
  std::map<Key, size_t> in_before;
  for (size_t i = 0; i < before.size(); ++i) in_before[before[i]] = i;
  Pairs pairs;
  for (size_t i = 0; i < now.size(); ++i) {
    auto it = in_before.find(now[i]);
    if (it != in_before.end()) pairs.emplace_back(i, it->second);
  }
  const size_t only_now = now.size() - pairs.size(), only_before = before.size() - pairs.size();
  if ((sample.none_in_common_is_problem && pairs.empty()) || (only_now > 0 && only_before > 0))
    problems.push_back(problem(
        fmt::format("{}: the report and the baseline {} scored other {} ({} of the "
                    "report's {} are not in the baseline, {} of the baseline's {} "
                    "not in the report)",
                    sample.what, baseline, sample.units, only_now, now.size(), only_before, before.size()),
        sample.hint));
  return pairs;
}

// A document's key: its index in the shard and its first scored token.
std::vector<std::pair<uint64_t, uint64_t>> document_keys(const DocumentScores& docs) {
  std::vector<std::pair<uint64_t, uint64_t>> keys;
  for (size_t i = 0; i < docs.size(); ++i) keys.emplace_back(docs.index[i], docs.first_token[i]);
  return keys;
}

// The documents of one domain both scored, or a problem when neither sample contains the other.
Pairs common_documents(const DomainForgetting& now, const DomainForgetting& before,
                       const std::string& baseline, std::vector<Problem>& problems) {
  return common_units(document_keys(now.docs), document_keys(before.docs),
                      {fmt::format("domain '{}'", now.name), "documents",
                       "evaluate both with the same eval.seed on the same prepared shards (the baseline's "
                       "sample: see its sample.seed), or make a new baseline",
                       false},
                      baseline, problems);
}

// Per replicate: 100 * (sum tuned / sum base - 1) of the picked documents, both reports resampled
// with the same draws over their common documents.
std::vector<double> forgetting_on(const DocumentScores& docs, const Pairs& pairs, bool baseline_side,
                                  const Resamples& r) {
  std::vector<double> tuned, base;
  for (const auto& [a, b] : pairs) {
    const size_t i = baseline_side ? b : a;
    tuned.push_back(docs.tuned_nll[i]);
    base.push_back(docs.base_nll[i]);
  }
  return r.change_pct(tuned, base);
}

double point_forgetting(const DocumentScores& docs, const Pairs& pairs, bool baseline_side) {
  double tuned = 0, base = 0;
  for (const auto& [a, b] : pairs) {
    const size_t i = baseline_side ? b : a;
    tuned += docs.tuned_nll[i];
    base += docs.base_nll[i];
  }
  return 100.0 * (tuned / base - 1.0);
}

// The questions of one suite both reports scored, as (report position, baseline position), or
// a problem when neither sample contains the other.
Pairs common_questions(const SuiteResult& now, const SuiteResult& before, const std::string& baseline,
                       std::vector<Problem>& problems) {
  return common_units(now.index, before.index,
                      {fmt::format("suite '{}'", now.name), "questions",
                       "evaluate both with the same eval.seed, eval.suite_questions and suite file, or make "
                       "a new baseline",
                       true},
                      baseline, problems);
}

// The suites' checks: each budgeted suite's drop in its headline metric (suite_result.h), base to tuned (the
// interval of the paired change, turned into a drop), and with a baseline each suite both hold: the accuracy
// this report's tuned model lost against the baseline's tuned model, on the questions both scored.
void check_suites(const ForgettingReport& report, const GateThresholds& t, const ForgettingReport* baseline,
                  const std::vector<Pairs>& question_pairs, double confidence, GateResult& result) {
  for (const auto& [name, limit] : t.suite_max_drop_points) {
    const SuiteAccuracy s = headline(*report.find_suite(name));
    const double drop = -s.change_points();
    const Interval ci{0.0 - s.change_ci.hi, 0.0 - s.change_ci.lo};  // 0.0 - x: no "-0.0"
    Verdict v = judge(drop, ci, limit, false);
    record(result, v,
           fmt::format("suite {}: {} {:.1f}% -> {:.1f}%, drop {} points budget", name, s.metric, 100 * s.base,
                       100 * s.tuned, compared(drop, ci, limit, v, false, "")));
  }
  if (!baseline) return;
  const double tolerance = t.tolerance_pct.value_or(0);
  size_t k = 0;
  for (const SuiteResult& now : report.suites) {
    const SuiteResult* before = baseline->find_suite(now.name);
    if (!before) continue;
    const Pairs& pairs = question_pairs[k++];
    // Both read by this report's headline metric (a baseline lacking its columns was refused above).
    const std::vector<bool> a = answered(now, true, now.metric), b = answered(*before, true, now.metric);
    std::vector<double> lost, ones(pairs.size(), 1.0);
    double now_acc = 0, before_acc = 0;
    for (const auto& [i, j] : pairs) {
      lost.push_back(100.0 * (double(b[j]) - double(a[i])));
      now_acc += a[i];
      before_acc += b[j];
    }
    const auto n = double(pairs.size());
    const Resamples r(pairs.size(), report.sample.resamples,
                      bootstrap_seed(report.sample.seed, "baseline-suite:" + now.name));
    const Interval ci = percentile_interval(r.ratio(lost, ones), confidence);
    const double excess = 100.0 * (before_acc - now_acc) / n;
    Verdict v = judge(excess, ci, tolerance, false);
    record(result, v,
           fmt::format("suite {}: {} {:.1f}% vs baseline {:.1f}% on {} common questions: {} points tolerance",
                       now.name, now.metric, 100 * now_acc / n, 100 * before_acc / n, pairs.size(),
                       compared(excess, ci, tolerance, v, false, "")));
  }
}

[[noreturn]] void needs_intervals(const ForgettingReport& r, const std::string& which) {
  throw BadInput(
      fmt::format(
          "{} has no per-document scores (report schema {}), so its figures have no intervals and the "
          "gate cannot tell a breach from noise",
          which, r.schema),
      "run plinth eval on its fine-tuning recipe again: it writes report.json schema 3");
}

// Every domain and suite the thresholds name must be in the report.
void check_named(const ForgettingReport& report, const GateThresholds& t, std::vector<Problem>& problems) {
  std::vector<std::string> report_domains;
  for (const auto& d : report.domains) report_domains.push_back(d.name);
  for (const auto& [name, pct] : t.domain_max_pct)
    if (!report.find_domain(name)) {
      std::string hint = did_you_mean(name, report_domains);
      problems.push_back(
          problem(fmt::format("the thresholds name domain '{}', which the report does not hold "
                              "(its domains: {})",
                              name, names(report_domains)),
                  hint.empty() ? "fix the domain name in --domain / gate.domains" : hint));
    }
  std::vector<std::string> report_suites;
  for (const auto& s : report.suites) report_suites.push_back(s.name);
  for (const auto& [name, points] : t.suite_max_drop_points)
    if (!report.find_suite(name)) {
      std::string hint = did_you_mean(name, report_suites);
      problems.push_back(problem(
          report_suites.empty()
              ? fmt::format("the thresholds name suite '{}', but the report holds no capability suite", name)
              : fmt::format("the thresholds name suite '{}', which the report does not hold (its suites: {})",
                            name, names(report_suites)),
          !hint.empty()           ? hint
          : report_suites.empty() ? "list the suite under eval.suites in the fine-tuning recipe and run "
                                    "plinth eval again"
                                  : "fix the suite name in --max-acc-drop / gate.max_acc_drop"));
    }
}

// The documents (per domain) and questions (per suite) the report and its baseline share, for
// the paired comparisons; a baseline on other domains, or read by a metric it lacks, is a problem.
void pair_with_baseline(const ForgettingReport& report, const ForgettingReport& baseline,
                        const GateThresholds& t, std::vector<Problem>& problems, std::vector<Pairs>& pairs,
                        std::vector<Pairs>& question_pairs) {
  std::vector<std::string> missing, extra;
  for (const auto& d : report.domains)
    if (!baseline.find_domain(d.name)) missing.push_back(d.name);
  for (const auto& d : baseline.domains)
    if (!report.find_domain(d.name)) extra.push_back(d.name);
  const std::string hint = "compare with a baseline evaluated on the same domains, or drop the baseline";
  if (!missing.empty())
    problems.push_back(problem(
        fmt::format("the baseline {} lacks domains of the report: {}", t.baseline, names(missing)), hint));
  if (!extra.empty())
    problems.push_back(problem(
        fmt::format("the report lacks domains of the baseline {}: {}", t.baseline, names(extra)), hint));
  if (missing.empty() && extra.empty())
    for (const auto& d : report.domains)
      pairs.push_back(common_documents(d, *baseline.find_domain(d.name), t.baseline, problems));
  for (const auto& s : report.suites)
    if (const SuiteResult* before = baseline.find_suite(s.name)) {
      question_pairs.push_back(common_questions(s, *before, t.baseline, problems));
      if (s.metric == "acc_mutual_info" && !before->has_unconditional())
        problems.push_back(problem(
            fmt::format("suite '{}' is read by acc_mutual_info, but the baseline {} has no scores of its "
                        "choices without the query (written by an older plinth)",
                        s.name, t.baseline),
            "evaluate the baseline's run again with this plinth (plinth eval), or read the suite by "
            "acc (eval.suites[].metric)"));
    }
}

// The report's own budgets: each domain's forgetting, the mean forgetting, each domain's KL.
void judge_budgets(const ForgettingReport& report, const GateThresholds& t, GateResult& result) {
  for (const auto& d : report.domains) {
    std::optional<double> limit = t.domain_limit(d.name);
    if (!limit) continue;
    Verdict v = judge(d.forgetting_pct, d.forgetting_ci, *limit, false);
    record(result, v,
           fmt::format("{}: forgetting {} budget", d.name,
                       compared(d.forgetting_pct, d.forgetting_ci, *limit, v, false, "%")));
  }
  if (t.max_mean_forgetting_pct) {
    Verdict v =
        judge(report.mean_forgetting_pct, report.mean_forgetting_ci, *t.max_mean_forgetting_pct, false);
    record(result, v,
           fmt::format("mean forgetting {} budget",
                       compared(report.mean_forgetting_pct, report.mean_forgetting_ci,
                                *t.max_mean_forgetting_pct, v, false, "%")));
  }
  if (t.max_kl)
    for (const auto& d : report.domains) {
      Verdict v = judge(d.kl, d.kl_ci, *t.max_kl, false);
      record(result, v,
             fmt::format("{}: KL {} nats/token limit", d.name,
                         compared(d.kl, d.kl_ci, *t.max_kl, v, false, "", 4)));
    }
}

// Each domain's forgetting against the baseline's on their common documents, and the mean's: the
// excess within the tolerance.
void judge_against_baseline(const ForgettingReport& report, const ForgettingReport& baseline_in,
                            const GateThresholds& t, const std::vector<Pairs>& pairs, double confidence,
                            GateResult& result) {
  const ForgettingReport baseline = at_confidence(baseline_in, confidence);
  const double tolerance = t.tolerance_pct.value_or(0);
  std::vector<std::vector<double>> diffs;
  double mean_now = 0, mean_before = 0;
  for (size_t i = 0; i < report.domains.size(); ++i) {
    const DomainForgetting& now = report.domains[i];
    const DomainForgetting& before = *baseline.find_domain(now.name);
    const Resamples r(pairs[i].size(), report.sample.resamples,
                      bootstrap_seed(report.sample.seed, "baseline:" + now.name));
    std::vector<double> a = forgetting_on(now.docs, pairs[i], false, r),
                        b = forgetting_on(before.docs, pairs[i], true, r);
    for (size_t k = 0; k < a.size(); ++k) a[k] -= b[k];
    const double f_now = point_forgetting(now.docs, pairs[i], false),
                 f_before = point_forgetting(before.docs, pairs[i], true);
    mean_now += f_now / double(report.domains.size());
    mean_before += f_before / double(report.domains.size());
    const double excess = f_now - f_before;
    const Interval ci = percentile_interval(a, confidence);
    Verdict v = judge(excess, ci, tolerance, false);
    auto [n, bl] = pair_text(f_now, f_before, "%");
    record(result, v,
           fmt::format("{}: forgetting {} vs baseline {} on {} common documents: {} points tolerance",
                       now.name, n, bl, pairs[i].size(), compared(excess, ci, tolerance, v, false, "")));
    diffs.push_back(std::move(a));
  }
  std::vector<const std::vector<double>*> refs;
  for (const auto& d : diffs) refs.push_back(&d);
  const double excess = mean_now - mean_before;
  const Interval ci = percentile_interval(replicate_mean(refs), confidence);
  Verdict v = judge(excess, ci, tolerance, false);
  auto [n, bl] = pair_text(mean_now, mean_before, "%");
  record(result, v,
         fmt::format("mean forgetting {} vs baseline {}: {} points tolerance", n, bl,
                     compared(excess, ci, tolerance, v, false, "")));
}

}  // namespace

GateResult check_gate(const ForgettingReport& report_in, const GateThresholds& t,
                      const ForgettingReport* baseline_in, bool strict) {
  if (t.empty())
    throw BadInput("no gate thresholds: nothing to check",
                   "give a budget, e.g. plinth gate REPORT --max-forgetting 5%, or add a gate: section "
                   "(max_forgetting: 5%) to the fine-tuning recipe and run plinth eval again");
  validate_thresholds(t, "gate");
  if (!report_in.has_intervals()) needs_intervals(report_in, "the report");
  if (baseline_in && !baseline_in->has_intervals())
    needs_intervals(*baseline_in, "the baseline " + t.baseline);
  const double confidence = t.confidence.value_or(report_in.sample.confidence);
  const ForgettingReport report = at_confidence(report_in, confidence);

  std::vector<Problem> problems;
  check_named(report, t, problems);
  if (!t.baseline.empty() && !baseline_in)
    problems.push_back(problem(fmt::format("the baseline report {} was not loaded", t.baseline), ""));
  std::vector<Pairs> pairs;           // per report domain, with a baseline
  std::vector<Pairs> question_pairs;  // per report suite the baseline holds too
  if (baseline_in) pair_with_baseline(report, *baseline_in, t, problems, pairs, question_pairs);
  if (t.min_task_gain_pct && !report.task)
    problems.push_back(
        problem("min_task_gain is set but the report holds no task results",
                "evaluate the fine-tuned run with its task (plinth eval), or drop min_task_gain"));
  if (t.min_task_gain_pct && report.task && !report.task->has_examples())
    problems.push_back(problem("min_task_gain is set but the report's task has no per-example scores",
                               "run plinth eval on its fine-tuning recipe again"));
  if (!problems.empty()) throw BadInput(std::move(problems));

  GateResult result;
  result.strict = strict;
  judge_budgets(report, t, result);
  if (baseline_in) judge_against_baseline(report, *baseline_in, t, pairs, confidence, result);
  check_suites(report, t, baseline_in, question_pairs, confidence, result);
  if (t.min_task_gain_pct) {
    const TaskResult& task = *report.task;
    Verdict v = judge(task.gain_pct(), task.gain_ci, *t.min_task_gain_pct, true);
    record(result, v,
           fmt::format("task gain {} minimum",
                       compared(task.gain_pct(), task.gain_ci, *t.min_task_gain_pct, v, true, "%")));
  }
  return result;
}

GateResult run_gate(const ForgettingReport& report, const GateThresholds& t, bool strict) {
  if (t.baseline.empty()) return check_gate(report, t, nullptr, strict);
  ForgettingReport baseline = load_report(t.baseline);
  return check_gate(report, t, &baseline, strict);
}

static std::string breach_message(const GateResult& result) {
  const size_t n = result.breaches.size() + (result.strict ? result.inconclusive.size() : 0);
  std::string out = fmt::format("forgetting gate: {} breach{}", n, n == 1 ? "" : "es");
  if (result.strict && !result.inconclusive.empty())
    out += fmt::format(" ({} inconclusive, failed by --strict)", result.inconclusive.size());
  for (const auto& b : result.breaches) out += "\n  " + b;
  if (result.strict)
    for (const auto& b : result.inconclusive) out += "\n  inconclusive: " + b;
  return out;
}

GateBreached::GateBreached(const GateResult& result) : Failure(breach_message(result)) {}

}  // namespace plinth::eval
