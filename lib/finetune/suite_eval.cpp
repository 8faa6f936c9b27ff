#include "finetune/suite_eval.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <utility>

#include "eval/suite_requests.h"
#include "eval/suite_scorer.h"
#include "finetune/base_scores.h"
#include "model/llama.h"
#include "util/progress.h"

namespace plinth::finetune {

SuiteEval::SuiteEval(const eval::EvalSpec& spec, const tokenizer::Tokenizer& tok) : spec_(spec) {
  const eval::TextEncoder encode = [&tok](const std::string& text) { return tok.encode(text); };
  for (const eval::SuiteSpec& suite : spec.suites) {
    eval::SuiteFile file = eval::read_suite_file(suite.path, suite.name);
    const std::vector<uint64_t> sample =
        eval::suite_sample(file.questions.size(), spec.suite_questions, spec.seed, suite.name);
    // Encoded now, for its bad input (a choice of no token); the context is checked when the
    // model is known.
    requests_.push_back(eval::encode_suite(suite, file, sample, encode, tok.document_start_id()));
    files_.push_back(std::move(file));
  }
}

std::vector<eval::SuiteResult> SuiteEval::score(model::LlamaImpl& base, model::LlamaImpl& tuned,
                                                const BaseScores* kept) {
  const int64_t max_length = spec_.context > 0 ? spec_.context : base.config().context;
  std::vector<eval::SuiteResult> out;
  for (size_t i = 0; i < files_.size(); ++i) {
    eval::SuiteRequests& requests = requests_[i];
    eval::fit_to_context(requests, files_[i], max_length);
    uint64_t total = 0, alone = 0;  // choices, and requests without the query (acc_mutual_info)
    for (const auto& q : requests.choices) total += q.size();
    for (const auto& q : requests.unconditional) alone += q.size();
    Progress progress(fmt::format("suite {}", spec_.suites[i].name), total + alone);
    auto update = [&progress](uint64_t done, uint64_t) { progress.update(done, "requests"); };
    eval::SuiteResult& r = requests.result;
    const bool reused = kept && kept->suite(requests, max_length);
    if (reused) {
      // The tuned model alone: score_suite writes its one model's columns as the base's.
      auto base_ll = std::move(r.base_ll), base_alone = std::move(r.base_ll_unconditional);
      eval::score_suite(tuned, nullptr, requests, max_length, spec_.batch_size, false, update);
      r.tuned_ll = std::exchange(r.base_ll, std::move(base_ll));
      r.tuned_ll_unconditional = std::exchange(r.base_ll_unconditional, std::move(base_alone));
    } else {
      eval::score_suite(base, &tuned, requests, max_length, spec_.batch_size, false, update);
      if (kept) kept->keep_suite(requests, max_length);
    }
    progress.finish(
        fmt::format("{} questions, {} choices{}{}", r.questions(), total,
                    r.truncated ? fmt::format(", {} queries cut from the left to fit", r.truncated) : "",
                    reused ? "; the base's scores reused" : ""));
    out.push_back(std::move(requests.result));
  }
  return out;
}

}  // namespace plinth::finetune
