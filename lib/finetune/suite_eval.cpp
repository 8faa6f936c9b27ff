#include "finetune/suite_eval.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <limits>

#include "eval/suite_requests.h"
#include "eval/suite_scorer.h"
#include "model/llama.h"
#include "util/progress.h"

namespace plinth::finetune {

namespace {

eval::TextEncoder text_encoder(const tokenizer::Tokenizer& tok) {
  return [&tok](const std::string& text) { return tok.encode(text); };
}

}  // namespace

SuiteEval::SuiteEval(const eval::EvalSpec& spec, const tokenizer::Tokenizer& tok) : spec_(spec), tok_(tok) {
  for (const eval::SuiteSpec& suite : spec.suites) {
    eval::SuiteFile file = eval::read_suite_file(suite.path, suite.name);
    std::vector<uint64_t> sample =
        eval::suite_sample(file.questions.size(), spec.suite_questions, spec.seed, suite.name);
    // Encoded once now for its bad input (a choice of no token); the context is checked when
    // the model is known.
    eval::prepare_suite(suite, file, sample, text_encoder(tok), tok.document_start_id(),
                        std::numeric_limits<int32_t>::max());
    files_.push_back(std::move(file));
    samples_.push_back(std::move(sample));
  }
}

std::vector<eval::SuiteResult> SuiteEval::score(model::LlamaImpl& base, model::LlamaImpl& tuned) const {
  const int64_t max_length = spec_.context > 0 ? spec_.context : base.config().context;
  std::vector<eval::SuiteResult> out;
  for (size_t i = 0; i < files_.size(); ++i) {
    const eval::SuiteSpec& suite = spec_.suites[i];
    eval::SuiteRequests requests = eval::prepare_suite(suite, files_[i], samples_[i], text_encoder(tok_),
                                                       tok_.document_start_id(), max_length);
    uint64_t total = 0;
    for (const auto& q : requests.choices) total += q.size();
    Progress progress(fmt::format("suite {}", suite.name), total);
    eval::score_suite(base, &tuned, requests, max_length, spec_.batch_size, false,
                      [&progress](uint64_t done, uint64_t) { progress.update(done, "choices"); });
    progress.finish(
        fmt::format("{} questions, {} choices{}", requests.result.questions(), total,
                    requests.result.truncated
                        ? fmt::format(", {} queries cut from the left to fit", requests.result.truncated)
                        : ""));
    out.push_back(std::move(requests.result));
  }
  return out;
}

}  // namespace plinth::finetune
