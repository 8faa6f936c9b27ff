// A capability suite scored on base and tuned: lm-evaluation-harness's `multiple_choice` metrics
// from the per-choice log-likelihoods, with paired statistics over questions. One section of
// report.json (forgetting_report.h, schema 3). No torch here.
//
// Definitions, with the harness's names (docs/forgetting.md):
//   ll[i]        summed log-likelihood (nats) of choice i's continuation, delimiter + choice,
//                given the query (suite_scorer.h)
//   acc          1 when the gold choice has the highest ll, ties to the first maximum (argmax)
//   acc_norm     the same on ll[i] / len(choice i), the length in characters (code points) of
//                the choice without the delimiter
//   acc_mutual_info  the same on ll[i] - ll_unconditional[i], where ll_unconditional[i] is the
//                summed log-likelihood of delimiter + choice after the document-start token
//                alone (the harness's request ("", delimiter + choice)): how much the query
//                raised the choice's likelihood. It removes what a choice scores without any
//                query, which on a small model outweighs what the query adds (docs/forgetting.md)
//   metric       the suite's headline: the one of the three the report leads with, the gate's
//                --max-acc-drop reads and the near-chance check uses (eval.suites[].metric, else
//                the suite file's header "metric", else acc)
//   acc_change   100 * (tuned acc - base acc), points; negative = the fine-tune lost answers.
//                Its interval: the paired bootstrap over questions (bootstrap.h), seeded from
//                sample.seed and the suite's name.
//   mcnemar_p    exact McNemar test on the paired table: b = questions the base answered and the
//                tuned model did not, c = the reverse; p = min(1, 2 * P[X <= min(b, c)]) for
//                X ~ Binomial(b + c, 1/2); 1 when b + c = 0.
//
// report.json, "suites": [{"name", "path", "delimiter", "questions" (scored), "questions_in_file",
//   "truncated" (queries cut from the left to fit the context, as the harness cuts them),
//   "base_acc", "tuned_acc", "acc_change_points", "acc_change_ci", "acc_mcnemar_p",
//   "base_acc_norm", "tuned_acc_norm", "acc_norm_change_points", "acc_norm_change_ci",
//   "acc_norm_mcnemar_p", "metric", "base_acc_mutual_info", "tuned_acc_mutual_info",
//   "acc_mutual_info_change_points", "acc_mutual_info_change_ci", "acc_mutual_info_mcnemar_p",
//   "per_question": {"index", "gold", "choice_chars", "base_ll", "tuned_ll",
//                    "base_ll_unconditional", "tuned_ll_unconditional"}}]
// per_question columns have one entry per scored question, in sample order; choice_chars,
// base_ll and tuned_ll hold one list per question, one value per choice in choice order. The
// derived figures are recomputed from them on reading. "metric" and the *_unconditional columns
// are optional on reading (reports written before them: acc, and no acc_mutual_info).
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "eval/bootstrap.h"

namespace plinth::eval {

class JsonReader;

struct SuiteResult {
  std::string name;
  std::string path;             // the suite file as the recipe names it
  std::string delimiter = " ";  // put between the query and each choice
  uint64_t questions_in_file = 0;
  uint64_t truncated = 0;  // scored questions whose query was cut from the left
  // Per scored question, in sample order (measured):
  std::vector<uint64_t> index;                         // the question's place in the file (0-based)
  std::vector<int64_t> gold;                           // the right choice
  std::vector<std::vector<uint64_t>> choice_chars;     // per choice, its length in code points
  std::vector<std::vector<double>> base_ll, tuned_ll;  // per choice, summed log-likelihood (nats)
  // Per choice, the log-likelihood of delimiter + choice with no query (acc_mutual_info); empty
  // when not scored (a report written before it).
  std::vector<std::vector<double>> base_ll_unconditional, tuned_ll_unconditional;
  std::string metric = "acc";  // the headline: acc | acc_norm | acc_mutual_info
  // Derived (derive_suite):
  double base_acc = std::numeric_limits<double>::quiet_NaN();  // fractions in [0, 1]
  double tuned_acc = std::numeric_limits<double>::quiet_NaN();
  double base_acc_norm = std::numeric_limits<double>::quiet_NaN();
  double tuned_acc_norm = std::numeric_limits<double>::quiet_NaN();
  double base_acc_mutual_info = std::numeric_limits<double>::quiet_NaN();  // NaN: not scored
  double tuned_acc_mutual_info = std::numeric_limits<double>::quiet_NaN();
  Interval acc_change_ci, acc_norm_change_ci, acc_mutual_info_change_ci;  // points
  double acc_mcnemar_p = 1, acc_norm_mcnemar_p = 1, acc_mutual_info_mcnemar_p = 1;

  size_t questions() const { return index.size(); }
  bool has_unconditional() const {
    return !index.empty() && base_ll_unconditional.size() == index.size() &&
           tuned_ll_unconditional.size() == index.size();
  }
  double acc_change_points() const { return 100.0 * (tuned_acc - base_acc); }
  double acc_norm_change_points() const { return 100.0 * (tuned_acc_norm - base_acc_norm); }
  double acc_mutual_info_change_points() const {
    return 100.0 * (tuned_acc_mutual_info - base_acc_mutual_info);
  }
};

// The harness's multiple_choice metrics plinth computes, by their names.
inline const char* const kSuiteMetrics[] = {"acc", "acc_norm", "acc_mutual_info"};
bool known_suite_metric(const std::string& metric);

// One metric's figures of a suite.
struct SuiteAccuracy {
  std::string metric;
  double base = std::numeric_limits<double>::quiet_NaN(), tuned = std::numeric_limits<double>::quiet_NaN();
  Interval change_ci;  // points
  double mcnemar_p = 1;
  double change_points() const { return 100.0 * (tuned - base); }
};
// `metric` (one of kSuiteMetrics) of `suite`; headline: its own metric.
SuiteAccuracy suite_accuracy(const SuiteResult& suite, const std::string& metric);
inline SuiteAccuracy headline(const SuiteResult& suite) {
  return suite_accuracy(suite, suite.metric);
}

// The harness's choice: the index of the first maximum of ll. A NaN counts as lowest, equal to
// -inf (a NaN written as null reads back as NaN, so the choice survives report.json); all NaN or
// an empty list: 0.
size_t harness_choice(const std::vector<double>& ll);
// The same on ll[i] / chars[i] (acc_norm). A choice of 0 characters cannot occur (read_suite_file
// refuses it); its ll is divided by 1.
size_t harness_choice_norm(const std::vector<double>& ll, const std::vector<uint64_t>& chars);

// Per question, whether the tuned (or base) model's choice is the gold one by `metric`.
std::vector<bool> answered(const SuiteResult& suite, bool tuned, const std::string& metric = "acc");

// Exact two-sided McNemar p-value for b and c discordant pairs (definition above).
double mcnemar_exact_p(uint64_t b, uint64_t c);

// Fills the derived figures from the per-question columns: intervals at `confidence` from
// `resamples` replicates seeded by bootstrap_seed(seed, "suite:" + name).
void derive_suite(SuiteResult& suite, double confidence, int resamples, uint64_t seed);

// One entry of report.json's "suites", and reading it back (measured keys only; `path` is the
// key path for messages, e.g. "suites[0]"). The reader checks that the columns have equal
// lengths, that each question has as many values as choices (at least two) and that gold indexes
// one of them.
nlohmann::json suite_json(const SuiteResult& suite);
SuiteResult read_suite_json(const nlohmann::json& j, const JsonReader& reader, const std::string& path);

// Whether the base's headline accuracy is within what guessing reaches 95% of the time: at most chance +
// 1.96 standard errors, chance being the mean of 1 / choices over the scored questions. Such a
// suite can show little forgetting (the base knows too little of it, or it has too few questions).
bool base_near_chance(const SuiteResult& s);

// report.md's section: a table of suites (questions, base and tuned acc and acc_norm, the change
// with its interval, McNemar's p), with a line that says what the columns mean and one that names
// the suites whose base is near chance. "" without suites.
std::string suites_markdown(const std::vector<SuiteResult>& suites);

}  // namespace plinth::eval
