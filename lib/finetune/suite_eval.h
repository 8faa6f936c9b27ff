// The recipe's capability suites (eval.suites) in `plinth eval` of a fine-tune: every suite file
// read, sampled and encoded when the eval starts, so that a bad suite stops it before the domains
// take their time; then scored on the loaded base and tuned models (eval/suite_scorer.h).
#pragma once

#include <vector>

#include "eval/eval_spec.h"
#include "eval/suite_file.h"
#include "eval/suite_requests.h"
#include "eval/suite_result.h"
#include "tokenizer/tokenizer.h"

namespace plinth::model {
class LlamaImpl;
}

namespace plinth::finetune {

class BaseScores;

class SuiteEval {
 public:
  // Reads every suite of spec.suites and checks its questions as the harness would encode them
  // (BadInput naming file, line and field: suite_file.h, suite_requests.h).
  SuiteEval(const eval::EvalSpec& spec, const tokenizer::Tokenizer& tok);

  bool empty() const { return files_.empty(); }

  // Every suite scored on base and tuned (one progress line each), with the report's derived
  // figures still to be computed (eval::derive). Requests are read as at most spec.context tokens
  // (0: the base model's context). Once: the results move out.
  // With `kept`, a suite whose base scores it holds scores only the tuned model, and one it does
  // not hold is kept there after.
  std::vector<eval::SuiteResult> score(model::LlamaImpl& base, model::LlamaImpl& tuned,
                                       const BaseScores* kept = nullptr);

 private:
  const eval::EvalSpec& spec_;
  std::vector<eval::SuiteFile> files_;
  std::vector<eval::SuiteRequests> requests_;  // per suite, its sampled questions encoded
};

}  // namespace plinth::finetune
