#include "eval/suite_result.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <tuple>

#include "eval/document_sample.h"
#include "eval/forgetting_report.h"
#include "eval/json_numbers.h"
#include "eval/report_json_reader.h"
#include "util/error.h"
#include "util/nan.h"
#include "util/text.h"

namespace plinth::eval {

namespace {

using nlohmann::json;

// A log-likelihood as the harness's argmax ranks it: NaN (a diverged model) lowest, equal to -inf,
// so that a value written as null and read back as NaN ranks where it did.
double suite_rank_value(double v) {
  return std::isnan(v) ? -std::numeric_limits<double>::infinity() : v;
}

// The index of the first maximum of `v` (0 for an empty list).
size_t suite_first_max(const std::vector<double>& v) {
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (suite_rank_value(v[i]) > suite_rank_value(v[best])) best = i;
  return best;
}

// A fraction in [0, 1] as a percentage with one decimal.
std::string suite_pct(double f) {
  return std::isfinite(f) ? fmt::format("{:.1f}%", 100 * f) : "n/a";
}

std::string suite_p(double p) {
  if (!std::isfinite(p)) return "n/a";
  return p < 0.001 ? "<0.001" : fmt::format("{:.3f}", p);
}

json suite_numbers(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(number_or_null(x));
  return a;
}

// Per question of `s`, whether the harness's choice by `metric` is the gold one; `ll` and
// `unconditional` are the same model's columns (unconditional is read by acc_mutual_info only).
std::vector<bool> suite_correct(const SuiteResult& s, const std::vector<std::vector<double>>& ll,
                                const std::vector<std::vector<double>>& unconditional,
                                const std::string& metric) {
  std::vector<bool> out(s.questions());
  for (size_t i = 0; i < out.size(); ++i) {
    size_t choice = 0;
    if (metric == "acc_norm") {
      choice = harness_choice_norm(ll[i], s.choice_chars[i]);
    } else if (metric == "acc_mutual_info") {
      std::vector<double> gain(ll[i].size());
      for (size_t c = 0; c < gain.size(); ++c) gain[c] = ll[i][c] - unconditional[i][c];
      choice = harness_choice(gain);
    } else {
      choice = harness_choice(ll[i]);
    }
    out[i] = s.gold[i] >= 0 && choice == static_cast<size_t>(s.gold[i]);
  }
  return out;
}

struct SuiteMetric {
  double base = kNaN, tuned = kNaN;
  Interval change_ci;
  double mcnemar_p = 1;
};

SuiteMetric suite_metric(const std::vector<bool>& base, const std::vector<bool>& tuned, const Resamples& r,
                         double confidence) {
  SuiteMetric m;
  const size_t n = base.size();
  if (n == 0) return m;
  double base_correct = 0, tuned_correct = 0;
  uint64_t lost = 0, gained = 0;  // McNemar's b and c
  std::vector<double> diff(n), ones(n, 1.0);
  for (size_t i = 0; i < n; ++i) {
    base_correct += base[i], tuned_correct += tuned[i];
    lost += base[i] && !tuned[i];
    gained += tuned[i] && !base[i];
    diff[i] = double(tuned[i]) - double(base[i]);
  }
  m.base = base_correct / double(n);
  m.tuned = tuned_correct / double(n);
  std::vector<double> change = r.ratio(diff, ones);
  for (double& v : change) v *= 100.0;
  m.change_ci = percentile_interval(std::move(change), confidence);
  m.mcnemar_p = mcnemar_exact_p(lost, gained);
  return m;
}

// A list of lists read with `one` per inner list (numbers or counts), the outer list of
// `expected` entries.
template <typename T, typename Read>
std::vector<std::vector<T>> suite_nested(const json& per_question, const std::string& key,
                                         const JsonReader& rd, const std::string& path, size_t expected,
                                         Read one) {
  const json& outer = rd.array(per_question, key, path);
  rd.same_length(expected, outer.size(), JsonReader::join(path, key));
  std::vector<std::vector<T>> out;
  out.reserve(outer.size());
  for (size_t i = 0; i < outer.size(); ++i) {
    // JsonReader reads a list under a key: wrap the entry so that its messages name it.
    const json holder = {{fmt::format("{}[{}]", key, i), outer[i]}};
    out.push_back(one(holder, fmt::format("{}[{}]", key, i), path));
  }
  return out;
}

}  // namespace

size_t harness_choice(const std::vector<double>& ll) {
  return suite_first_max(ll);
}

size_t harness_choice_norm(const std::vector<double>& ll, const std::vector<uint64_t>& chars) {
  std::vector<double> per_char(ll.size());
  for (size_t i = 0; i < ll.size(); ++i) {
    const uint64_t c = i < chars.size() && chars[i] > 0 ? chars[i] : 1;
    per_char[i] = ll[i] / double(c);
  }
  return suite_first_max(per_char);
}

std::vector<bool> answered(const SuiteResult& s, bool tuned, const std::string& metric) {
  if (metric == "acc_mutual_info" && !s.has_unconditional()) return std::vector<bool>(s.questions(), false);
  return suite_correct(s, tuned ? s.tuned_ll : s.base_ll,
                       tuned ? s.tuned_ll_unconditional : s.base_ll_unconditional, metric);
}

bool known_suite_metric(const std::string& metric) {
  for (const char* m : kSuiteMetrics)
    if (metric == m) return true;
  return false;
}

namespace {

// The derived fields of one metric of `s` (const or not): base, tuned, change_ci, mcnemar_p.
template <typename Suite>
auto suite_metric_fields(Suite& s, const std::string& metric) {
  if (metric == "acc_norm")
    return std::make_tuple(&s.base_acc_norm, &s.tuned_acc_norm, &s.acc_norm_change_ci, &s.acc_norm_mcnemar_p);
  if (metric == "acc_mutual_info")
    return std::make_tuple(&s.base_acc_mutual_info, &s.tuned_acc_mutual_info, &s.acc_mutual_info_change_ci,
                           &s.acc_mutual_info_mcnemar_p);
  return std::make_tuple(&s.base_acc, &s.tuned_acc, &s.acc_change_ci, &s.acc_mcnemar_p);
}

}  // namespace

SuiteAccuracy suite_accuracy(const SuiteResult& s, const std::string& metric) {
  const auto [base, tuned, change_ci, mcnemar_p] = suite_metric_fields(s, metric);
  SuiteAccuracy a;
  a.metric = metric;
  a.base = *base, a.tuned = *tuned, a.change_ci = *change_ci, a.mcnemar_p = *mcnemar_p;
  return a;
}

double mcnemar_exact_p(uint64_t b, uint64_t c) {
  const uint64_t n = b + c;
  if (n == 0) return 1.0;
  const uint64_t k = std::min(b, c);
  // log P[X = i] for X ~ Binomial(n, 1/2), term by term: C(n, i + 1) = C(n, i) (n - i) / (i + 1).
  // Summed in log space, so that 2^-n does not underflow for large n.
  const double dn = double(n);
  double log_term = -dn * std::log(2.0);
  double log_sum = log_term;
  for (uint64_t i = 0; i < k; ++i) {
    log_term += std::log(dn - double(i)) - std::log(double(i) + 1.0);
    const double hi = std::max(log_sum, log_term), lo = std::min(log_sum, log_term);
    log_sum = hi + std::log1p(std::exp(lo - hi));
  }
  return std::min(1.0, 2.0 * std::exp(log_sum));
}

void derive_suite(SuiteResult& s, double confidence, int resamples, uint64_t seed) {
  const size_t n = s.questions();
  if (s.gold.size() != n || s.choice_chars.size() != n || s.base_ll.size() != n || s.tuned_ll.size() != n)
    throw Failure(
        fmt::format("derive_suite: suite '{}' has per-question columns of unequal lengths", s.name));
  const bool unconditional = s.has_unconditional();
  if (!unconditional && (!s.base_ll_unconditional.empty() || !s.tuned_ll_unconditional.empty()))
    throw Failure(fmt::format(
        "derive_suite: suite '{}' has unconditional log-likelihoods for some questions only", s.name));
  const Resamples r(n, n > 0 ? resamples : 0, bootstrap_seed(seed, "suite:" + s.name));
  for (const char* metric : kSuiteMetrics) {
    const std::string name = metric;
    SuiteMetric m;  // NaN and unknown: acc_mutual_info without its columns
    if (name != "acc_mutual_info" || unconditional)
      m = suite_metric(answered(s, false, name), answered(s, true, name), r, confidence);
    const auto [base, tuned, change_ci, mcnemar_p] = suite_metric_fields(s, name);
    *base = m.base, *tuned = m.tuned, *change_ci = m.change_ci, *mcnemar_p = m.mcnemar_p;
  }
}

json suite_json(const SuiteResult& s) {
  auto column = [&s](const std::vector<std::vector<double>>& ll) {
    json out = json::array();
    for (size_t i = 0; i < s.questions(); ++i)
      out.push_back(suite_numbers(i < ll.size() ? ll[i] : std::vector<double>{}));
    return out;
  };
  json chars = json::array();
  for (size_t i = 0; i < s.questions(); ++i)
    chars.push_back(i < s.choice_chars.size() ? json(s.choice_chars[i]) : json::array());
  json per_question = {{"index", s.index},
                       {"gold", s.gold},
                       {"choice_chars", std::move(chars)},
                       {"base_ll", column(s.base_ll)},
                       {"tuned_ll", column(s.tuned_ll)}};
  if (s.has_unconditional()) {
    per_question["base_ll_unconditional"] = column(s.base_ll_unconditional);
    per_question["tuned_ll_unconditional"] = column(s.tuned_ll_unconditional);
  }
  return {{"name", s.name},
          {"path", s.path},
          {"delimiter", s.delimiter},
          {"questions", s.questions()},
          {"questions_in_file", s.questions_in_file},
          {"truncated", s.truncated},
          {"base_acc", number_or_null(s.base_acc)},
          {"tuned_acc", number_or_null(s.tuned_acc)},
          {"acc_change_points", number_or_null(s.acc_change_points())},
          {"acc_change_ci", interval_json(s.acc_change_ci)},
          {"acc_mcnemar_p", number_or_null(s.acc_mcnemar_p)},
          {"base_acc_norm", number_or_null(s.base_acc_norm)},
          {"tuned_acc_norm", number_or_null(s.tuned_acc_norm)},
          {"acc_norm_change_points", number_or_null(s.acc_norm_change_points())},
          {"acc_norm_change_ci", interval_json(s.acc_norm_change_ci)},
          {"acc_norm_mcnemar_p", number_or_null(s.acc_norm_mcnemar_p)},
          {"metric", s.metric},
          {"base_acc_mutual_info", number_or_null(s.base_acc_mutual_info)},
          {"tuned_acc_mutual_info", number_or_null(s.tuned_acc_mutual_info)},
          {"acc_mutual_info_change_points", number_or_null(s.acc_mutual_info_change_points())},
          {"acc_mutual_info_change_ci", interval_json(s.acc_mutual_info_change_ci)},
          {"acc_mutual_info_mcnemar_p", number_or_null(s.acc_mutual_info_mcnemar_p)},
          {"per_question", std::move(per_question)}};
}

SuiteResult read_suite_json(const json& j, const JsonReader& rd, const std::string& path) {
  SuiteResult s;
  s.name = rd.string(j, "name", path);
  s.path = rd.string(j, "path", path);
  s.delimiter = rd.string(j, "delimiter", path);
  for (auto [key, out] :
       {std::pair{"questions_in_file", &s.questions_in_file}, std::pair{"truncated", &s.truncated}}) {
    const json& v = rd.at(j, key, path);
    if (!v.is_number_unsigned())
      rd.fail(fmt::format("'{}' is not a count (an integer >= 0)", JsonReader::join(path, key)));
    *out = v.get<uint64_t>();
  }

  const std::string pq = JsonReader::join(path, "per_question");
  const json& per_question = rd.at(j, "per_question", path);
  if (!per_question.is_object()) rd.fail(fmt::format("'{}' is not an object", pq));
  s.index = rd.counts(per_question, "index", pq);
  const size_t n = s.index.size();
  for (const json& g : rd.array(per_question, "gold", pq)) {
    if (!g.is_number_integer()) rd.fail(fmt::format("'{}.gold' holds a value that is not an integer", pq));
    if (g.is_number_unsigned() && g.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
      rd.fail(fmt::format("'{}.gold' holds a value out of range", pq));
    s.gold.push_back(g.get<int64_t>());
  }
  rd.same_length(n, s.gold.size(), pq + ".gold");
  s.choice_chars = suite_nested<uint64_t>(
      per_question, "choice_chars", rd, pq, n,
      [&rd](const json& h, const std::string& k, const std::string& p) { return rd.counts(h, k, p); });
  auto numbers = [&rd](const json& h, const std::string& k, const std::string& p) {
    return rd.numbers(h, k, p);
  };
  s.base_ll = suite_nested<double>(per_question, "base_ll", rd, pq, n, numbers);
  s.tuned_ll = suite_nested<double>(per_question, "tuned_ll", rd, pq, n, numbers);
  const bool has_base_u = per_question.contains("base_ll_unconditional");
  if (has_base_u != per_question.contains("tuned_ll_unconditional"))
    rd.fail(fmt::format("'{}' has one of base_ll_unconditional and tuned_ll_unconditional but not the other",
                        pq));
  if (has_base_u) {
    s.base_ll_unconditional = suite_nested<double>(per_question, "base_ll_unconditional", rd, pq, n, numbers);
    s.tuned_ll_unconditional =
        suite_nested<double>(per_question, "tuned_ll_unconditional", rd, pq, n, numbers);
  }
  if (j.contains("metric")) {
    s.metric = rd.string(j, "metric", path);
    if (!known_suite_metric(s.metric))
      rd.fail(fmt::format("'{}' is '{}', not one of acc, acc_norm, acc_mutual_info",
                          JsonReader::join(path, "metric"), s.metric));
  }

  for (size_t i = 0; i < n; ++i) {
    const size_t choices = s.choice_chars[i].size();
    if (choices < 2)
      rd.fail(fmt::format("'{}.choice_chars[{}]' has {} entries, but a question has at least two choices", pq,
                          i, choices));
    rd.same_length(choices, s.base_ll[i].size(), fmt::format("{}.base_ll[{}]", pq, i));
    rd.same_length(choices, s.tuned_ll[i].size(), fmt::format("{}.tuned_ll[{}]", pq, i));
    if (has_base_u) {
      rd.same_length(choices, s.base_ll_unconditional[i].size(),
                     fmt::format("{}.base_ll_unconditional[{}]", pq, i));
      rd.same_length(choices, s.tuned_ll_unconditional[i].size(),
                     fmt::format("{}.tuned_ll_unconditional[{}]", pq, i));
    }
    if (s.gold[i] < 0 || static_cast<uint64_t>(s.gold[i]) >= choices)
      rd.fail(fmt::format("'{}.gold[{}]' is {}, but the question has {} choices", pq, i, s.gold[i], choices));
  }
  return s;
}

bool base_near_chance(const SuiteResult& s) {
  const size_t n = s.questions();
  const double base = headline(s).base;
  if (n == 0 || !std::isfinite(base)) return false;
  double chance = 0;
  for (const auto& chars : s.choice_chars) chance += chars.empty() ? 0.0 : 1.0 / static_cast<double>(chars.size());
  chance /= static_cast<double>(n);
  return base <= chance + 1.96 * std::sqrt(chance * (1 - chance) / static_cast<double>(n));
}

std::string suites_markdown(const std::vector<SuiteResult>& suites) {
  if (suites.empty()) return "";
  std::string out = "## Capability suites\n\n";
  out +=
      "| suite | questions | metric | base | tuned | change (points) | McNemar p | acc | acc_norm | "
      "acc_mutual_info |\n"
      "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n";
  std::string truncated;
  std::vector<std::string> near_chance;
  auto both = [](const SuiteAccuracy& a) {
    return std::isfinite(a.base) ? suite_pct(a.base) + " → " + suite_pct(a.tuned) : std::string("n/a");
  };
  for (const auto& s : suites) {
    if (base_near_chance(s)) near_chance.push_back(markdown_cell(s.name));
    const SuiteAccuracy h = headline(s);
    const std::string questions =
        s.questions_in_file > s.questions()
            ? fmt::format("{} of {}", with_commas(s.questions()), with_commas(s.questions_in_file))
            : with_commas(s.questions());
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", markdown_cell(s.name),
                       questions, h.metric, suite_pct(h.base), suite_pct(h.tuned),
                       num_with_interval(h.change_points(), h.change_ci, 1, true), suite_p(h.mcnemar_p),
                       both(suite_accuracy(s, "acc")), both(suite_accuracy(s, "acc_norm")),
                       both(suite_accuracy(s, "acc_mutual_info")));
    if (s.truncated > 0)
      truncated += fmt::format(
          " Suite {}: {} of {} queries were cut from the left to fit the context, as the "
          "harness cuts them.",
          markdown_cell(s.name), with_commas(s.truncated), with_commas(s.questions()));
  }
  out +=
      "\nlm-evaluation-harness's multiple_choice metrics. acc: the gold choice has the highest "
      "log-likelihood; acc_norm: the highest log-likelihood per character of the choice; acc_mutual_info: "
      "the highest gain of log-likelihood from the query (with the query minus without it). metric: the "
      "suite's headline, which base, tuned, change and p report and the gate reads. change: tuned − base in "
      "points (negative: the fine-tune lost answers), [brackets]: paired bootstrap interval over questions; "
      "McNemar p: exact test on the questions one model answers and the other does not." +
      truncated + "\n\n";
  if (!near_chance.empty())
    out += fmt::format(
        "Base near chance: {}. The base's headline accuracy is within the range that guessing among the "
        "choices reaches 95% of the time, so these suites can show little forgetting: score more questions, "
        "or use a probe the base knows.\n\n",
        fmt::join(near_chance, ", "));
  return out;
}

}  // namespace plinth::eval
