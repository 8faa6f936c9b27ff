// Forgetting reports built from made-up per-document scores, for the report and gate tests:
// every figure, and its bootstrap interval, is then derived exactly as from a real evaluation.
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "eval/forgetting_report.h"

namespace plinth::eval::testing {

// One domain's base and tuned scores: `documents` documents of 1000 bytes at 1 bit per byte for
// the base; the tuned model's NLL is (1 + pct / 100) times the base's, each document off by
// +-noise (a fraction, alternating signs, so the mean stays at pct).
inline std::pair<DomainScore, DomainScore> paired_domain(const std::string& name, double pct,
                                                         size_t documents = 40, double noise = 0.01,
                                                         uint64_t first_index = 0) {
  DomainScore b, t;
  b.name = t.name = name;
  DocumentScores& d = b.docs;
  d.paired = true;
  for (size_t i = 0; i < documents; ++i) {
    const double base = 1000 * std::log(2.0);
    const double wiggle = (i % 2 ? 1 : -1) * noise * double(1 + (i / 2) % 3);  // pairs cancel
    d.index.push_back(first_index + i);
    d.first_token.push_back(0);
    d.tokens.push_back(300);
    d.bytes.push_back(1000);
    d.words.push_back(0);
    d.base_nll.push_back(base);
    d.tuned_nll.push_back(base * (1 + pct / 100 + wiggle));
    d.kl.push_back(300 * (0.01 + pct / 1000));
    d.agree.push_back(250);
  }
  b.documents = documents;
  b.tokens = d.total_tokens();
  b.bytes = d.total_bytes();
  for (size_t i = 0; i < documents; ++i) b.nll += d.base_nll[i], t.nll += d.tuned_nll[i];
  t.documents = b.documents, t.tokens = b.tokens, t.bytes = b.bytes;
  t.docs = d;
  return {b, t};
}

// A task of `examples` examples, 3 completion tokens each, base loss 2 nats per token and tuned
// loss `tuned_loss`; exact match 0 -> `tuned_correct` of them.
inline TaskResult task_result(double tuned_loss = 1.5, size_t examples = 10, size_t tuned_correct = 5) {
  TaskResult task;
  task.name = "arith";
  for (size_t i = 0; i < examples; ++i) {
    task.index.push_back(i);
    task.tokens.push_back(3);
    task.base_nll.push_back(6.0);
    task.tuned_nll.push_back(3 * tuned_loss * (i % 2 ? 1.02 : 0.98));
    task.base_correct.push_back(false);
    task.tuned_correct.push_back(i < tuned_correct);
  }
  return task;
}

// A capability suite of `questions` three-choice questions (gold: choice 0) that the base answers
// `base_right` of and the tuned model `tuned_right` of: the first base_right (tuned_right)
// questions give the gold choice the highest log-likelihood, the rest choice 2 (of the same length).
// Questions are numbered from first_index in the file.
inline SuiteResult suite_result(const std::string& name, size_t questions, size_t base_right,
                                size_t tuned_right, uint64_t first_index = 0) {
  SuiteResult s;
  s.name = name;
  s.path = name + ".jsonl";
  s.questions_in_file = first_index + questions;
  auto ll = [](bool right) {
    return right ? std::vector<double>{-1.0, -3.0, -2.0} : std::vector<double>{-2.0, -3.0, -1.0};
  };
  for (size_t i = 0; i < questions; ++i) {
    s.index.push_back(first_index + i);
    s.gold.push_back(0);
    s.choice_chars.push_back({5, 5, 5});
    s.base_ll.push_back(ll(i < base_right));
    s.tuned_ll.push_back(ll(i < tuned_right));
  }
  return s;
}

// A report with the given forgetting per domain, task loss 2 -> 1.5 (gain 25%).
inline ForgettingReport report_with(const std::vector<std::pair<std::string, double>>& forgetting_pct,
                                    double noise = 0.01, uint64_t seed = 0) {
  EvalReport base, tuned;
  for (const auto& [name, pct] : forgetting_pct) {
    auto [b, t] = paired_domain(name, pct, 40, noise);
    base.domains.push_back(b);
    tuned.domains.push_back(t);
  }
  SampleInfo sample;
  sample.seed = seed;
  return make_forgetting_report({"run", "recipe", "lora"}, base, tuned, task_result(), std::nullopt, sample);
}

// A variant whose NLL is base + share x (tuned - base) on every document and example: a model
// `share` of the way from base to tuned.
inline ReportVariant between(const ForgettingReport& r, const std::string& label, double share) {
  ReportVariant v;
  v.label = label;
  v.alpha = share;
  for (const auto& d : r.domains) {
    std::vector<double> nll;
    for (size_t i = 0; i < d.docs.size(); ++i)
      nll.push_back(d.docs.base_nll[i] + share * (d.docs.tuned_nll[i] - d.docs.base_nll[i]));
    v.domain_nll[d.name] = nll;
  }
  for (size_t i = 0; i < r.task->index.size(); ++i)
    v.task_nll.push_back(r.task->base_nll[i] + share * (r.task->tuned_nll[i] - r.task->base_nll[i]));
  v.task_correct = share < 0.5 ? r.task->base_correct : r.task->tuned_correct;
  return v;
}

}  // namespace plinth::eval::testing
