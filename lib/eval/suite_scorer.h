// Scoring a suite's requests (suite_requests.h) with models in memory: per question and choice,
// the summed log-likelihood of the continuation's tokens, as lm-evaluation-harness's
// `loglikelihood` computes it (float32 log-softmax over the whole vocabulary, summed in float64).
// Includes torch.
#pragma once

#include <cstdint>
#include <functional>

#include "eval/suite_requests.h"
#include "model/llama.h"

namespace plinth::eval {

// Called during a suite: requests scored so far and the suite's total.
using SuiteProgress = std::function<void(uint64_t done, uint64_t total)>;

// Fills s.result.base_ll (and tuned_ll when `tuned` is given) with one value per choice, and
// the *_ll_unconditional columns from s.unconditional when it holds requests. Every request is
// read as at most max_length tokens (cut from the left, suite_requests.h). A question's requests
// share its context: they are packed into one row, the context once and each continuation after
// it (model::PackedLayout), so the context's forward is shared and each choice's figures are
// those of its own sequence; a question with a cut request is read one request per row. Rows are
// sorted by length and batched `batch_size` at a time with right padding, which no scored
// position sees. Runs under NoGradGuard in eval mode (restored after), on the models' device;
// bf16: the forward passes under bf16 autocast.
void score_suite(model::LlamaImpl& base, model::LlamaImpl* tuned, SuiteRequests& s, int64_t max_length,
                 int64_t batch_size, bool bf16 = false, const SuiteProgress& progress = {});

}  // namespace plinth::eval
